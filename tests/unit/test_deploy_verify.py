"""Verify Deployment's verdicts when several executions deploy to the one endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from governed_mlops.errors import DeploymentError, DeploymentRolledBack
from governed_mlops.services.deploy import VerifyEvent, verify_deployment

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
OURS = "data-ours-config"
LATER = "data-later-config"


class RecordingRegistry:
    def __init__(self) -> None:
        self.deployments: list[tuple[str, dict[str, str]]] = []

    def record_deployment(self, model_version: str, deployment: dict[str, str]) -> None:
        self.deployments.append((model_version, deployment))


class RecordingAudit:
    def __init__(self) -> None:
        self.actions: list[str] = []

    def append(self, actor: str, action: str, subject: str, details: Any = None, evidence: Any = None) -> None:
        self.actions.append(action)


def _event(status: str, serving: str, **extra: Any) -> VerifyEvent:
    return VerifyEvent.model_validate(
        {
            "execution_name": "data-ours",
            "registration": {"model_version": "credit-risk/3"},
            "endpoint": {"status": status, "endpoint_config_name": serving, "describe": extra.pop("describe", {})},
            "expected_config": OURS,
            "endpoint_name": "credit-risk",
            **extra,
        }
    )


def _verify(event: VerifyEvent) -> tuple[dict[str, str], RecordingRegistry, RecordingAudit]:
    registry, audit = RecordingRegistry(), RecordingAudit()
    deployment = verify_deployment(event, registry, audit, now=NOW)  # type: ignore[arg-type]
    return deployment, registry, audit


@pytest.mark.parametrize("status", ["Updating", "SystemUpdating", "RollingBack"])
def test_our_config_serving_while_a_later_update_runs_is_deployed(status: str) -> None:
    # Given our canary finished and a later execution's update already started on top of it
    # (DescribeEndpoint still names the config that serves: ours)
    event = _event(status, OURS)

    # When the deployment is verified
    deployment, registry, audit = _verify(event)

    # Then our model is recorded as deployed
    assert deployment["status"] == "InService"
    assert registry.deployments == [("credit-risk/3", deployment)]
    assert audit.actions == ["deployment.succeeded"]


def test_our_config_still_being_created_is_not_deployed() -> None:
    # A first deployment names its config from the start, while the fleet is still Creating
    with pytest.raises(DeploymentError, match="Creating"):
        _verify(_event("Creating", OURS))


def test_a_version_superseded_before_deploying_is_recorded_and_does_not_fail() -> None:
    # Given the state machine found a newer approved version before updating the endpoint
    event = _event("Updating", "data-older-config", superseded_by="credit-risk/4")

    # When it is recorded
    deployment, registry, audit = _verify(event)

    # Then the lineage says who superseded it, the ledger says superseded, and nothing is raised
    assert deployment["status"] == "Superseded"
    assert deployment["superseded_by"] == "credit-risk/4"
    assert deployment["serving_config"] == "data-older-config"
    assert registry.deployments == [("credit-risk/3", deployment)]
    assert audit.actions == ["deployment.superseded"]


def test_another_config_serving_after_our_deployment_without_a_newer_approval_fails() -> None:
    # Nothing told the state machine about a newer version: another config serving is not a success
    with pytest.raises(DeploymentError, match="Superseded"):
        _verify(_event("InService", LATER))


def test_a_rollback_still_fails_the_run() -> None:
    event = _event("InService", "data-older-config", describe={"FailureReason": "Rolled back: alarm"})
    with pytest.raises(DeploymentRolledBack):
        _verify(event)
