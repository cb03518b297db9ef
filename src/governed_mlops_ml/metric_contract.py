"""The behaviour metrics' contract between the inference code and the pipeline: names and metric filters.

Standard library only: the local runtime's CloudWatch stand-in checks the state machine's requests
against it without importing the serving code (pandas, XGBoost). :mod:`governed_mlops_ml.serving`
writes the metric lines and re-exports these names.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "METRIC_EVENT",
    "METRIC_NAMESPACE",
    "POSITIVE_PREDICTIONS_METRIC",
    "PREDICTED_ROWS_METRIC",
    "prediction_metric_filters",
]

METRIC_NAMESPACE = "GovernedMLOps"
"""CloudWatch namespace of the behaviour metrics the canary alarm reads."""
METRIC_EVENT = "predictions"
"""Value of ``mlops_metric`` in a behaviour metric line: what the metric filters select."""
PREDICTED_ROWS_METRIC = "PredictedRows"
POSITIVE_PREDICTIONS_METRIC = "PositivePredictions"


def prediction_metric_filters(log_group: str) -> list[dict[str, Any]]:
    """The CloudWatch Logs PutMetricFilter requests that count the inference code's metric lines.

    One filter per metric (PutMetricFilter takes exactly one transformation), each summing its field per
    ``EndpointName`` and ``ModelVersion``. The state machine puts the same requests (its "Put ... Metric
    Filter" states); a unit test keeps the two equal.
    """
    pattern = f'{{ $.mlops_metric = "{METRIC_EVENT}" }}'
    return [
        {
            "logGroupName": log_group,
            "filterName": f"mlops-{metric}",
            "filterPattern": pattern,
            "metricTransformations": [
                {
                    "metricName": metric,
                    "metricNamespace": METRIC_NAMESPACE,
                    "metricValue": f"$.{metric}",
                    "dimensions": {"EndpointName": "$.EndpointName", "ModelVersion": "$.ModelVersion"},
                    "unit": "Count",
                }
            ],
        }
        for metric in (PREDICTED_ROWS_METRIC, POSITIVE_PREDICTIONS_METRIC)
    ]
