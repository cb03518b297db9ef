"""moto's Step Functions engine with the local fidelity fixes: what a two-state machine ends with."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from governed_mlops_local.asl_engine import install_fail_state_forwards_states_errors
from tests.waiting import until

ROLE = "arn:aws:iam::123456789012:role/test-statemachine-role"


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def forward(sfn: Any, error: str) -> dict[str, Any]:
    """Pass {"error": {"Error": error}} -> Fail with ErrorPath, as the pipeline's "Pipeline Failed" does."""
    definition = {
        "StartAt": "Record Error",
        "States": {
            "Record Error": {
                "Type": "Pass",
                "Result": {"Error": error, "Cause": "caught upstream"},
                "ResultPath": "$.error",
                "Next": "Pipeline Failed",
            },
            "Pipeline Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    machine = sfn.create_state_machine(
        name=f"m-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run", input="{}")

    def ended() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        return None if described["status"] == "RUNNING" else described

    describe = until(ended, 30, "the execution to end", poll=0.02)
    return dict(describe)


@pytest.mark.parametrize("error", ["States.Timeout", "States.TaskFailed", "States.Permissions"])
def test_a_caught_states_error_is_forwarded_by_the_fail_state(sfn: Any, error: str) -> None:
    undo = install_fail_state_forwards_states_errors()
    try:
        described = forward(sfn, error)
    finally:
        undo()

    assert (described["status"], described["error"], described["cause"]) == ("FAILED", error, "caught upstream")


def test_without_the_fix_the_engine_reports_states_runtime(sfn: Any) -> None:
    # The gap the fix closes (if moto fixes it upstream, this fails and the fix can go).
    described = forward(sfn, "States.Timeout")

    assert described["error"] == "States.Runtime"
    assert "MUST NOT begin with the prefix 'States.'" in described["cause"]


def test_custom_error_names_are_forwarded_unchanged(sfn: Any) -> None:
    undo = install_fail_state_forwards_states_errors()
    try:
        described = forward(sfn, "QualityGateFailed")
    finally:
        undo()

    assert described["error"] == "QualityGateFailed"


def test_installing_twice_is_harmless() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.fail import state_fail

    first = install_fail_state_forwards_states_errors()
    second = install_fail_state_forwards_states_errors()
    second()
    assert vars(state_fail)["CustomErrorName"] is not CustomErrorName
    first()
    assert vars(state_fail)["CustomErrorName"] is CustomErrorName
