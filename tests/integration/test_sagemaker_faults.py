"""SageMaker refusals: a quota error is not retried blindly; a throttled call is retried.

A job SageMaker cannot find instances for does not reach the state machine as a capacity error of
its own: it ends Failed ("CapacityError: Unable to provision requested ML compute capacity" in its
FailureReason), which a ``.sync`` task reports as ``States.TaskFailed``. So the ASL retries only the
API's own transient answers (``SageMaker.ThrottlingException``, ``SageMaker.AmazonSageMakerException``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_local.sagemaker import SageMakerError
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR, auto_approver

pytestmark = pytest.mark.slow


def _run(runtime: LocalRuntime) -> dict[str, Any]:
    _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
    (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    return result


def test_resource_limit_exceeded_fails_the_run_at_once_with_the_sagemaker_error(tmp_path: Path):
    calls: list[str] = []

    def quota(operation: str, request: dict[str, Any]) -> None:
        calls.append(operation)
        if operation == "CreateTrainingJob":
            raise SageMakerError("SageMaker.ResourceLimitExceededException", "account quota for ml.m5.large reached")

    with LocalRuntime(PROJECT_DIR, tmp_path / "data") as runtime:
        runtime.sagemaker.fault_hook = quota
        result = _run(runtime)
    assert result["status"] == "FAILED"
    assert result["error"] == "SageMaker.ResourceLimitExceededException"
    assert calls.count("CreateTrainingJob") == 1, "a quota error must not be retried blindly"
    assert LocalModelRegistry(tmp_path / "data").list_versions() == []
    alerts = [m for m in read_outbox(tmp_path / "data") if m["attributes"].get("kind") == "alert"]
    assert [a["attributes"]["failed_state"] for a in alerts] == ["Train Model"]


def test_a_throttled_training_job_request_is_retried_and_the_run_succeeds(tmp_path: Path):
    calls: list[str] = []

    def throttled_once(operation: str, request: dict[str, Any]) -> None:
        calls.append(operation)
        if operation == "CreateTrainingJob" and calls.count("CreateTrainingJob") == 1:
            raise SageMakerError("SageMaker.ThrottlingException", "Rate exceeded")

    with LocalRuntime(PROJECT_DIR, tmp_path / "data") as runtime:
        runtime.sagemaker.fault_hook = throttled_once
        result = _run(runtime)
        history = runtime.executions.history(result["name"])
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert calls.count("CreateTrainingJob") == 2
    training_failures = [
        e["taskFailedEventDetails"]["error"]
        for e in history
        if e["type"] == "TaskFailed" and e["taskFailedEventDetails"].get("resource") == "createTrainingJob.sync"
    ]
    assert training_failures == ["SageMaker.ThrottlingException"]
