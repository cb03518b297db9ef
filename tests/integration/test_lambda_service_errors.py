"""What Step Functions (moto's engine) sees when the in-process Lambda host fails: the error names Retry/Catch match.

A two-state machine per case, no pipeline: a Task that invokes one tiny handler and Catches into a Pass
state, so the caught error's name and cause become the execution's output.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from governed_mlops_local.lambda_host import LambdaHost, LambdaServiceError
from governed_mlops_local.template import FunctionSpec
from tests.waiting import stall, until

ROLE = "arn:aws:iam::123456789012:role/test-statemachine-role"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LambdaHost]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        textwrap.dedent(
            """
            def lambda_handler(event, context):
                return {"ok": True}
            """
        ),
        encoding="utf-8",
    )
    lambda_host = LambdaHost(tmp_path / "logs", {})
    lambda_host.add_function(
        FunctionSpec("EchoFunction", "echo", FUNCTION_ARN, code, "app.lambda_handler", {}, timeout=30)
    )
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        undo = lambda_host.patch_moto()
        try:
            yield lambda_host
        finally:
            undo()


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run Task -> (caught) Pass; return the execution's output (``error`` holds what the Catch caught)."""
    definition = {
        "StartAt": "Invoke Echo",
        "States": {
            "Invoke Echo": {
                **task,
                "TimeoutSeconds": 60,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Report Error"}],
                "Next": "Report Error",
            },
            "Report Error": {"Type": "Pass", "End": True},
        },
    }
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(
        name=f"m-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run", input="{}")

    def ended() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        return None if described["status"] == "RUNNING" else described

    describe = until(ended, 30, "the execution to end", poll=0.02)
    assert describe["status"] == "SUCCEEDED", describe
    return dict(json.loads(describe["output"]))


PLAIN_ARN_TASK = {"Type": "Task", "Resource": FUNCTION_ARN}
INVOKE_INTEGRATION_TASK = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": FUNCTION_ARN, "Payload": {}},
}
TASKS = pytest.mark.parametrize(
    "task", [PLAIN_ARN_TASK, INVOKE_INTEGRATION_TASK], ids=["plain-arn", "lambda-invoke-integration"]
)


@TASKS
@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ServiceException", 500),
        ("AWSLambdaException", 500),
        ("SdkClientException", 500),
        ("TooManyRequestsException", 429),
    ],
)
def test_a_lambda_service_error_is_named_lambda_dot_code(
    host: LambdaHost, task: dict[str, Any], code: str, status: int
) -> None:
    # Given the Lambda service fails the Invoke call
    def service_down(function: str, payload: Any) -> None:
        raise LambdaServiceError(code, "injected")

    host.fault_hook = service_down

    # When a Task invokes the function
    output = run_task(task)

    # Then Step Functions names the error as AWS does, with the API error in the cause
    assert output["error"]["Error"] == f"Lambda.{code}"
    assert f"Status Code: {status}; Error Code: {code}" in output["error"]["Cause"]


@TASKS
def test_a_handler_exception_is_named_by_its_class(host: LambdaHost, task: dict[str, Any]) -> None:
    class InjectedFault(RuntimeError):
        pass

    def fail(function: str, payload: Any) -> None:
        raise InjectedFault("boom")

    host.fault_hook = fail

    output = run_task(task)

    assert output["error"]["Error"] == "InjectedFault"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "boom"


@TASKS
def test_a_timed_out_function_is_named_sandbox_timedout(host: LambdaHost, task: dict[str, Any]) -> None:
    host.set_timeout("EchoFunction", 0.2)

    def slow(function: str, payload: Any) -> None:
        stall(2)

    host.fault_hook = slow

    output = run_task(task)

    assert output["error"]["Error"] == "Sandbox.Timedout"
    assert json.loads(output["error"]["Cause"])["errorMessage"].endswith("Task timed out after 0.20 seconds")


def test_without_a_fault_the_task_succeeds(host: LambdaHost) -> None:
    assert run_task(PLAIN_ARN_TASK) == {"ok": True}
