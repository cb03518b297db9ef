"""Local CloudWatch for the alarms and metric filters the state machine puts.

Before a canary, "Put Errors Alarm", "Put Latency Alarm" and "Put Behaviour Alarm" put three alarms
on the model's endpoint (``aws-sdk:cloudwatch:putMetricAlarm``), after "Ensure Endpoint Log Group" and
the two "Put ... Metric Filter" states (``aws-sdk:cloudwatchlogs:createLogGroup`` / ``putMetricFilter``)
made the endpoint's log lines count as the behaviour metrics. In AWS CloudWatch evaluates the alarms
and SageMaker rolls back on ALARM; locally the hosting emulator evaluates the same alarms as
:class:`AlarmRule` s over the green fleet's requests (its measurements count the same rows and positive
decisions the log lines carry, so the local endpoint needs no log group). This module translates the
requests, after checking them against botocore's models, and supports exactly the shapes the ASL puts;
any other alarm or filter is refused by name rather than silently never firing.
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
from governed_mlops_ml.metric_contract import (
    METRIC_NAMESPACE,
    POSITIVE_PREDICTIONS_METRIC,
    PREDICTED_ROWS_METRIC,
    prediction_metric_filters,
)

PUT_METRIC_ALARM_RESOURCE = "arn:aws:states:::aws-sdk:cloudwatch:putMetricAlarm"
CREATE_LOG_GROUP_RESOURCE = "arn:aws:states:::aws-sdk:cloudwatchlogs:createLogGroup"
PUT_METRIC_FILTER_RESOURCE = "arn:aws:states:::aws-sdk:cloudwatchlogs:putMetricFilter"
PUT_RETENTION_POLICY_RESOURCE = "arn:aws:states:::aws-sdk:cloudwatchlogs:putRetentionPolicy"
#: The resources this module stands in for (the local runtime maps them to its functions).
RESOURCES = (
    PUT_METRIC_ALARM_RESOURCE,
    CREATE_LOG_GROUP_RESOURCE,
    PUT_RETENTION_POLICY_RESOURCE,
    PUT_METRIC_FILTER_RESOURCE,
)

_NUMBER = r"[0-9.eE+-]+"
_BEHAVIOUR = re.compile(
    rf"^IF\(rows >= (?P<rows>{_NUMBER}) AND \(positives / rows < (?P<low>{_NUMBER}) OR "
    rf"positives / rows > (?P<high>{_NUMBER})\), 1, 0\)$",
)
_model = botocore.session.get_session().get_service_model("cloudwatch")
_logs_model = botocore.session.get_session().get_service_model("logs")


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
        return _behaviour_rule(name, request["Metrics"])
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


def _behaviour_rule(name: str, metrics: list[dict[str, Any]]) -> tuple[str, AlarmRule]:
    """The canary behaviour alarm: positive decisions over predicted rows of the new model version."""
    by_id = {m["Id"]: m for m in metrics}
    stats = {i: by_id.get(i, {}).get("MetricStat", {}).get("Metric", {}) for i in ("positives", "rows")}
    match = _BEHAVIOUR.match(str(by_id.get("outside", {}).get("Expression", "")))
    endpoint = _dimension(stats["rows"].get("Dimensions", []), "EndpointName")
    if (
        stats["positives"].get("MetricName") != POSITIVE_PREDICTIONS_METRIC
        or stats["rows"].get("MetricName") != PREDICTED_ROWS_METRIC
        or any(s.get("Namespace") != METRIC_NAMESPACE for s in stats.values())
        or match is None
        or endpoint is None
    ):
        raise SageMakerError(
            "CloudWatch.InvalidParameterValueException",
            f"alarm {name!r}: the local CloudWatch evaluates only the canary behaviour alarm's metric math "
            f"({METRIC_NAMESPACE} {POSITIVE_PREDICTIONS_METRIC} and {PREDICTED_ROWS_METRIC} per EndpointName, "
            "IF(rows >= N AND (positives / rows < MIN OR positives / rows > MAX), 1, 0))",
        )
    low, high = float(match["low"]), float(match["high"])
    rule = AlarmRule(
        name,
        "PositivePredictionRate delta vs baseline",
        threshold=(high - low) / 2,
        baseline_rate=(high + low) / 2,
        min_samples=max(1, round(float(match["rows"]))),
        # TreatMissingData notBreaching: a quiet endpoint still deploys.
        treat_missing_data="missing",
    )
    return endpoint, rule


def metric_filter(request: dict[str, Any]) -> dict[str, Any]:
    """A PutMetricFilter request of the ASL, checked: botocore's model, then exactly the filters that count
    the inference code's metric lines (:func:`governed_mlops_ml.metric_contract.prediction_metric_filters`)."""
    try:
        validate_parameters(request, _logs_model.operation_model("PutMetricFilter").input_shape)
    except ParamValidationError as exc:
        raise SageMakerError("CloudWatchLogs.InvalidParameterException", f"PutMetricFilter: {exc}") from exc
    expected = {f["filterName"]: f for f in prediction_metric_filters(str(request["logGroupName"]))}
    if expected.get(str(request["filterName"])) != request:
        raise SageMakerError(
            "CloudWatchLogs.InvalidParameterException",
            f"metric filter {request['filterName']!r}: the local runtime counts only the prediction metric "
            f"filters of governed_mlops_ml.serving ({sorted(expected)}), exactly as that module defines them",
        )
    return request


#: The retention periods CloudWatch Logs accepts (days), as its API reference lists them.
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def functions(hosting: LocalSageMakerHosting) -> dict[str, Callable[[Any], Any]]:
    """The local functions standing in for the alarm and metric-filter SDK integrations.

    The log group and the filters are checked and kept (``hosting.metric_filters``) but feed nothing:
    locally the alarms are evaluated on the hosting emulator's measurements of the same rows.
    """
    log_groups: set[str] = set()
    retention: dict[str, int] = {}

    def put_metric_alarm(request: dict[str, Any]) -> dict[str, Any]:
        endpoint, rule = alarm_rule(request)
        hosting.register_alarms(endpoint, [rule])
        return {}

    def create_log_group(request: dict[str, Any]) -> dict[str, Any]:
        # The SDK integration's parameters are PascalCase; botocore's logs model is camelCase.
        converted = {k[0].lower() + k[1:]: v for k, v in request.items()}
        try:
            validate_parameters(converted, _logs_model.operation_model("CreateLogGroup").input_shape)
        except ParamValidationError as exc:
            raise SageMakerError("CloudWatchLogs.InvalidParameterException", f"CreateLogGroup: {exc}") from exc
        name = str(converted["logGroupName"])
        if name in log_groups:
            raise SageMakerError(
                "CloudWatchLogs.ResourceAlreadyExistsException", f"The specified log group already exists: {name}"
            )
        log_groups.add(name)
        return {}

    def put_retention_policy(request: dict[str, Any]) -> dict[str, Any]:
        converted = _camel(request)
        try:
            validate_parameters(converted, _logs_model.operation_model("PutRetentionPolicy").input_shape)
        except ParamValidationError as exc:
            raise SageMakerError("CloudWatchLogs.InvalidParameterException", f"PutRetentionPolicy: {exc}") from exc
        if converted["retentionInDays"] not in RETENTION_DAYS:
            raise SageMakerError(
                "CloudWatchLogs.InvalidParameterException",
                f"PutRetentionPolicy: retentionInDays {converted['retentionInDays']!r} is not one of {RETENTION_DAYS}",
            )
        if converted["logGroupName"] not in log_groups:
            raise SageMakerError(
                "CloudWatchLogs.ResourceNotFoundException",
                f"The specified log group does not exist: {converted['logGroupName']}",
            )
        retention[str(converted["logGroupName"])] = int(converted["retentionInDays"])
        return {}

    def put_metric_filter(request: dict[str, Any]) -> dict[str, Any]:
        metric_filter(_camel(request))
        return {}

    return {
        local_function_arn(PUT_METRIC_ALARM_RESOURCE): put_metric_alarm,
        local_function_arn(CREATE_LOG_GROUP_RESOURCE): create_log_group,
        local_function_arn(PUT_RETENTION_POLICY_RESOURCE): put_retention_policy,
        local_function_arn(PUT_METRIC_FILTER_RESOURCE): put_metric_filter,
    }


def _camel(value: Any) -> Any:
    """The SDK integration's PascalCase request as botocore's camelCase ``logs`` shapes name it (keys of
    ``Dimensions``, which are dimension names, stay as they are)."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {k[0].lower() + k[1:]: (v if k == "Dimensions" else _camel(v)) for k, v in value.items()}
