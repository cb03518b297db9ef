"""After the canary: prove what the endpoint actually serves, and record it in the model's lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.errors import DeploymentError, DeploymentRolledBack
from governed_mlops.services.audit import AuditSink

#: Statuses in which the endpoint serves its EndpointConfigName while a later update may be in progress.
_SERVING_DURING_UPDATE = frozenset({"Updating", "SystemUpdating", "RollingBack"})


class EndpointState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str
    endpoint_config_name: str
    describe: dict[str, Any] = {}


class Registration(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model_version: str


class VerifyEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    execution_name: str
    registration: Registration
    endpoint: EndpointState
    expected_config: str
    endpoint_name: str
    #: Set by the state machine when a newer approved version exists and this one is not deployed.
    superseded_by: str | None = None


def verify_deployment(
    event: VerifyEvent, registry: ModelRegistry, audit: AuditSink, *, now: datetime
) -> dict[str, str]:
    """InService on the expected config: deployed. Anything else: the model version is marked and the run fails.

    Tools have reported success while the endpoint had silently rolled back; this check compares
    DescribeEndpoint's EndpointConfigName with the config this execution created. The expected config
    also counts as deployed while the endpoint is already updating to a later execution's config
    (DescribeEndpoint then still names the serving config). When the state machine found a newer
    approved version before deploying (``superseded_by``), the version is recorded as Superseded and
    nothing is raised: not deploying an older model over a newer one is the intended outcome.
    """
    endpoint = event.endpoint
    reason = str(endpoint.describe.get("FailureReason") or "")
    serving_expected = endpoint.endpoint_config_name == event.expected_config
    if event.superseded_by is not None:
        outcome = "Superseded"
    elif serving_expected and (endpoint.status == "InService" or endpoint.status in _SERVING_DURING_UPDATE):
        outcome = "InService"
    elif endpoint.status == "InService" and "roll" in reason.lower():
        outcome = "RolledBack"
    elif endpoint.status == "InService":
        # Another deployment replaced ours after it finished: not a rollback, but not serving either.
        outcome = "Superseded"
    else:
        outcome = endpoint.status or "Unknown"
    deployment = {
        "endpoint": event.endpoint_name,
        "endpoint_config": event.expected_config,
        "serving_config": endpoint.endpoint_config_name,
        "status": outcome,
        "time": now.isoformat(),
        "execution": event.execution_name,
    }
    if reason:
        deployment["reason"] = reason[:1000]
    if event.superseded_by is not None:
        deployment["superseded_by"] = event.superseded_by
    registry.record_deployment(event.registration.model_version, deployment)
    if event.superseded_by is not None:
        action = "deployment.superseded"
    else:
        action = {"InService": "deployment.succeeded", "RolledBack": "deployment.rolled_back"}.get(
            outcome, "deployment.failed"
        )
    audit.append("system:verify-deployment", action, event.registration.model_version, deployment)
    if event.superseded_by is not None:
        return deployment
    if outcome == "RolledBack":
        raise DeploymentRolledBack(
            f"{event.endpoint_name} rolled back: it serves {endpoint.endpoint_config_name}, not "
            f"{event.expected_config} ({reason or 'no reason given'}); "
            f"{event.registration.model_version} is not serving"
        )
    if outcome != "InService":
        raise DeploymentError(f"{event.endpoint_name} is {outcome}: {reason or 'no reason given'}")
    return deployment
