"""Local CloudWatch for the alarms the state machine puts (``aws-sdk:cloudwatch:putMetricAlarm``).

Before a canary, "Put Errors Alarm", "Put Latency Alarm" and "Put Behaviour Alarm" put three alarms
on the model's endpoint. In AWS CloudWatch
evaluates them and SageMaker rolls back on ALARM; locally the hosting emulator evaluates the same
alarms as :class:`AlarmRule` s over the green fleet's requests. This module translates the request,
after checking it against botocore's CloudWatch model, and supports exactly the three shapes the ASL
puts; any other alarm is refused by name rather than silently never firing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from governed_mlops_local.endpoints import AlarmRule, LocalSageMakerHosting
from governed_mlops_local.sagemaker import SageMakerError, local_function_arn

PUT_METRIC_ALARM_RESOURCE = "arn:aws:states:::aws-sdk:cloudwatch:putMetricAlarm"

_BEHAVIOUR = re.compile(
    r"^IF\(rate < (?P<low>[0-9.eE+-]+) OR rate > (?P<high>[0-9.eE+-]+), 1, 0\)$",
)
_model = botocore.session.get_session().get_service_model("cloudwatch")


def _dimension(dimensions: list[dict[str, Any]], name: str) -> str | None:
    return next((str(d["Value"]) for d in dimensions if d.get("Name") == name), None)


def alarm_rule(request: dict[str, Any]) -> tuple[str, AlarmRule]:
    """``(endpoint name, rule)`` for a PutMetricAlarm request of one of the ASL's canary alarms."""
    try:
        validate_parameters(request, _model.operation_model("PutMetricAlarm").input_shape)
    except ParamValidationError as exc:
        raise SageMakerError("CloudWatch.InvalidParameterValueException", f"PutMetricAlarm: {exc}") from exc
    name = str(request["AlarmName"])
    if "Metrics" in request:
        metrics = {m["Id"]: m for m in request["Metrics"]}
        rate = metrics.get("rate", {}).get("MetricStat", {}).get("Metric", {})
        match = _BEHAVIOUR.match(str(metrics.get("outside", {}).get("Expression", "")))
        endpoint = _dimension(rate.get("Dimensions", []), "EndpointName")
        if rate.get("MetricName") != "PositivePredictionRate" or match is None or endpoint is None:
            raise SageMakerError(
                "CloudWatch.InvalidParameterValueException",
                f"alarm {name!r}: the local CloudWatch evaluates only the canary behaviour alarm's metric math "
                "(PositivePredictionRate per EndpointName, IF(rate < MIN OR rate > MAX, 1, 0))",
            )
        low, high = float(match["low"]), float(match["high"])
        rule = AlarmRule(
            name,
            "PositivePredictionRate delta vs baseline",
            threshold=(high - low) / 2,
            baseline_rate=(high + low) / 2,
            # TreatMissingData notBreaching: a quiet endpoint still deploys.
            treat_missing_data="missing",
        )
        return endpoint, rule
    endpoint = _dimension(request.get("Dimensions", []), "EndpointName")
    metric = request.get("MetricName")
    if endpoint is None or request.get("Namespace") != "AWS/SageMaker":
        raise SageMakerError(
            "CloudWatch.InvalidParameterValueException",
            f"alarm {name!r}: the local CloudWatch evaluates AWS/SageMaker endpoint metrics only",
        )
    if metric == "Invocation5XXErrors":
        return endpoint, AlarmRule(name, "Invocation5XXErrors rate", threshold=float(request["Threshold"]))
    if metric == "ModelLatency":
        # CloudWatch's ModelLatency is in microseconds; the local rule measures milliseconds.
        return endpoint, AlarmRule(name, "ModelLatency p99", threshold=float(request["Threshold"]) / 1000)
    raise SageMakerError(
        "CloudWatch.InvalidParameterValueException",
        f"alarm {name!r}: metric {metric!r} is not one the local CloudWatch evaluates "
        "(Invocation5XXErrors, ModelLatency, the PositivePredictionRate metric math)",
    )


def functions(hosting: LocalSageMakerHosting) -> dict[str, Callable[[Any], Any]]:
    """The local function standing in for ``aws-sdk:cloudwatch:putMetricAlarm``."""

    def put_metric_alarm(request: dict[str, Any]) -> dict[str, Any]:
        endpoint, rule = alarm_rule(request)
        hosting.register_alarms(endpoint, [rule])
        return {}

    return {local_function_arn(PUT_METRIC_ALARM_RESOURCE): put_metric_alarm}
