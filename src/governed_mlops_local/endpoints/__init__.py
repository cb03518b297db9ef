"""Local emulation of SageMaker real-time hosting: models, endpoint configs, endpoints and invocations.

:class:`LocalSageMakerHosting` answers the SageMaker API shapes, so the ASL's SageMaker tasks run
against it unchanged. The package is split by job; this module only hands the public names on.

- ``hosting``: :class:`LocalSageMakerHosting`, the API, delegating to the modules below.
- ``store``: the files under ``<root>/endpoints/`` (models, endpoint configs, endpoint state; the
  cross-process lock) and the alarms registered per endpoint.
- ``deployment``: the driver of transitions: creation, blue/green updates (all at once, canary,
  linear) with their bakes, rollback, recovery of a transition whose process is gone.
- ``alarms``: alarm rules and their pure evaluation on a bake window's measurements.
- ``metrics``: invocation measurements per fleet and their statistics.
- ``invocation``, ``routing``, ``containers``: InvokeEndpoint, the traffic and variant draws, the loaded models.
- ``capture``: data capture in SageMaker's record format and S3 layout.
- ``description``: DescribeEndpoint's answer; ``naming``: names, ARNs, ValidationException;
  ``append_only``: the line writer of measurements and capture.
"""

from governed_mlops_local.endpoints.alarms import ALARM_METRICS, AlarmEvaluation, AlarmRule, evaluate_alarm
from governed_mlops_local.endpoints.deployment import PROVISION_SECONDS, ROLLBACK_SECONDS
from governed_mlops_local.endpoints.hosting import (
    CREATE_ENDPOINT_CONFIG_RESOURCE,
    CREATE_ENDPOINT_RESOURCE,
    CREATE_MODEL_RESOURCE,
    DESCRIBE_ENDPOINT_RESOURCE,
    UPDATE_ENDPOINT_RESOURCE,
    LocalSageMakerHosting,
)
from governed_mlops_local.endpoints.invocation import InvocationError, InvokeResult, ModelError
from governed_mlops_local.endpoints.metrics import Measurement

__all__ = [
    "ALARM_METRICS",
    "CREATE_ENDPOINT_CONFIG_RESOURCE",
    "CREATE_ENDPOINT_RESOURCE",
    "CREATE_MODEL_RESOURCE",
    "DESCRIBE_ENDPOINT_RESOURCE",
    "PROVISION_SECONDS",
    "ROLLBACK_SECONDS",
    "UPDATE_ENDPOINT_RESOURCE",
    "AlarmEvaluation",
    "AlarmRule",
    "InvocationError",
    "InvokeResult",
    "LocalSageMakerHosting",
    "Measurement",
    "ModelError",
    "evaluate_alarm",
]
