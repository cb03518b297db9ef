"""moto's Step Functions engine with the local fidelity fixes: what a two-state machine ends with."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from governed_mlops_local.asl_engine import install_fail_state_forwards_states_errors, install_qualified_start_execution
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


# --- StartExecution through a version or an alias (AutoPublishAlias) ---------------------------------


def _pass(result: int) -> str:
    return json.dumps({"StartAt": "Answer", "States": {"Answer": {"Type": "Pass", "Result": result, "End": True}}})


@pytest.fixture
def qualified(sfn: Any) -> Iterator[Any]:
    undo = install_qualified_start_execution()
    try:
        yield sfn
    finally:
        undo()


def _ended(sfn: Any, execution_arn: str) -> dict[str, Any]:
    def described() -> dict[str, Any] | None:
        answer = sfn.describe_execution(executionArn=execution_arn)
        return None if answer["status"] == "RUNNING" else dict(answer)

    return until(described, 30, f"{execution_arn} to end", poll=0.02)  # type: ignore[no-any-return]


def _published(sfn: Any) -> tuple[str, str, str]:
    """A machine published as version 1 (answering 1) behind alias "live", then updated to answer 2."""
    created = sfn.create_state_machine(
        name=f"m-{uuid.uuid4().hex[:8]}", definition=_pass(1), roleArn=ROLE, publish=True
    )
    alias = sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": created["stateMachineVersionArn"], "weight": 100}]
    )
    sfn.update_state_machine(stateMachineArn=created["stateMachineArn"], definition=_pass(2))
    return created["stateMachineArn"], created["stateMachineVersionArn"], alias["stateMachineAliasArn"]


def test_an_alias_runs_the_version_it_points_to_and_the_execution_says_so(qualified: Any) -> None:
    machine, version, alias = _published(qualified)

    started = qualified.start_execution(stateMachineArn=alias, name="via-alias", input="{}")
    described = _ended(qualified, started["executionArn"])

    # The version's definition ran, not the machine's newer one; the execution belongs to the machine.
    assert (described["status"], described["output"]) == ("SUCCEEDED", "1")
    assert started["executionArn"] == machine.replace(":stateMachine:", ":execution:") + ":via-alias"
    assert described["stateMachineArn"] == machine
    assert (described["stateMachineVersionArn"], described["stateMachineAliasArn"]) == (version, alias)
    ran = qualified.describe_state_machine_for_execution(executionArn=started["executionArn"])["definition"]
    assert json.loads(ran) == json.loads(_pass(1))
    assert [e["name"] for e in qualified.list_executions(stateMachineArn=machine)["executions"]] == ["via-alias"]


def test_a_version_arn_runs_that_version_without_an_alias(qualified: Any) -> None:
    _, version, _ = _published(qualified)

    described = _ended(qualified, qualified.start_execution(stateMachineArn=version, input="{}")["executionArn"])

    assert (described["output"], described["stateMachineVersionArn"]) == ("1", version)
    assert "stateMachineAliasArn" not in described


def test_an_unqualified_start_runs_the_current_definition_and_reports_it(qualified: Any) -> None:
    machine, _, _ = _published(qualified)

    started = qualified.start_execution(stateMachineArn=machine, input="{}")
    described = _ended(qualified, started["executionArn"])
    qualified.update_state_machine(stateMachineArn=machine, definition=_pass(3))

    assert described["output"] == "2"
    assert "stateMachineVersionArn" not in described
    # DescribeStateMachineForExecution answers with the definition that ran, even after an update.
    ran = qualified.describe_state_machine_for_execution(executionArn=started["executionArn"])["definition"]
    assert json.loads(ran) == json.loads(_pass(2))


@pytest.mark.parametrize("qualifier", ["nope", "7"])
def test_an_unknown_alias_or_version_does_not_exist(qualified: Any, qualifier: str) -> None:
    machine, _, _ = _published(qualified)

    with pytest.raises(qualified.exceptions.StateMachineDoesNotExist, match=qualifier):
        qualified.start_execution(stateMachineArn=f"{machine}:{qualifier}", input="{}")


def test_without_the_fix_moto_refuses_the_alias(sfn: Any) -> None:
    # The reason the fix exists: if moto learns aliases, this fails and the fix can go.
    _, _, alias = _published(sfn)

    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.start_execution(stateMachineArn=alias, input="{}")
