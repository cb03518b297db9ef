"""The local CloudWatch translates the state machine's canary requests: the behaviour alarm's metric math
becomes the hosting emulator's rule, and only the serving code's metric filters are accepted."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from governed_mlops_local.cloudwatch import alarm_rule, metric_filter
from governed_mlops_local.sagemaker import SageMakerError
from governed_mlops_ml.metric_contract import prediction_metric_filters

DEFINITION = json.loads(
    (Path(__file__).resolve().parents[2] / "statemachines" / "training_pipeline.asl.json").read_text()
)


def behaviour_request(min_rows: int = 20, low: float = 0.5, high: float = 0.98) -> dict[str, Any]:
    """Put Behaviour Alarm's request as the state machine evaluates it for endpoint credit-risk."""
    parameters = copy.deepcopy(DEFINITION["States"]["Put Behaviour Alarm"]["Parameters"])
    request: dict[str, Any] = {"AlarmName": "credit-risk-canary-behaviour"}
    for key, value in parameters.items():
        if not key.endswith(".$"):
            request[key] = value
    for metric in request["Metrics"]:
        if "Expression.$" in metric:
            metric.pop("Expression.$")
            metric["Expression"] = (
                f"IF(rows >= {min_rows} AND (positives / rows < {low} OR positives / rows > {high}), 1, 0)"
            )
        for dimension in metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []):
            path = dimension.pop("Value.$")
            dimension["Value"] = "credit-risk" if path == "$.deploy.endpoint_name" else "credit-risk/3"
    return request


def test_the_behaviour_alarm_becomes_a_rate_band_rule_with_its_minimum_rows() -> None:
    endpoint, rule = alarm_rule(behaviour_request(min_rows=35, low=0.5, high=0.9))

    assert endpoint == "credit-risk"
    assert rule.metric == "PositivePredictionRate delta vs baseline"
    assert rule.baseline_rate == pytest.approx(0.7)
    assert rule.threshold == pytest.approx(0.2)
    assert rule.min_samples == 35


def test_a_behaviour_alarm_on_another_metric_is_refused_by_name() -> None:
    request = behaviour_request()
    request["Metrics"][0]["MetricStat"]["Metric"]["MetricName"] = "Approvals"

    with pytest.raises(SageMakerError) as raised:
        alarm_rule(request)
    assert raised.value.error_type == "CloudWatch.InvalidParameterValueException"
    assert "PositivePredictions" in str(raised.value)


def test_the_serving_codes_metric_filters_are_accepted() -> None:
    for request in prediction_metric_filters("/aws/sagemaker/Endpoints/credit-risk"):
        assert metric_filter(request) == request


def test_a_metric_filter_that_counts_something_else_is_refused_by_name() -> None:
    request = prediction_metric_filters("/aws/sagemaker/Endpoints/credit-risk")[0]
    request["filterPattern"] = '{ $.mlops_metric = "other" }'

    with pytest.raises(SageMakerError) as raised:
        metric_filter(request)
    assert raised.value.error_type == "CloudWatchLogs.InvalidParameterException"
