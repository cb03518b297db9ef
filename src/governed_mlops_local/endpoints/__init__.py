"""Local emulation of SageMaker real-time hosting: models, endpoint configs, endpoints and invocations.

The API methods take and return the SageMaker API shapes (requests are checked against botocore's
service model), so the ASL's ``sagemaker:createModel`` / ``createEndpointConfig`` /
``createEndpoint`` / ``updateEndpoint`` tasks and ``aws-sdk:sagemaker:describeEndpoint`` polling run
against :class:`LocalSageMakerHosting` unchanged (see :meth:`LocalSageMakerHosting.functions`).

This package is split by job; this module only hands the public names on:

- ``hosting``: :class:`LocalSageMakerHosting`, the SageMaker API over the collaborators below.
"""

from governed_mlops_local.endpoints.hosting import (
    ALARM_METRICS,
    CREATE_ENDPOINT_CONFIG_RESOURCE,
    CREATE_ENDPOINT_RESOURCE,
    CREATE_MODEL_RESOURCE,
    DESCRIBE_ENDPOINT_RESOURCE,
    PROVISION_SECONDS,
    ROLLBACK_SECONDS,
    UPDATE_ENDPOINT_RESOURCE,
    AlarmEvaluation,
    AlarmRule,
    InvocationError,
    InvokeResult,
    LocalSageMakerHosting,
    Measurement,
    ModelError,
    evaluate_alarm,
)

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
