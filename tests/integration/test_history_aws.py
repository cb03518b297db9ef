"""``mlops history NAME --aws`` on moto's Step Functions: a boto3 session, the local shapes, the failed state first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import click
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner
from moto import mock_aws

from governed_mlops.domain.task_tokens import REDACTED
from governed_mlops.errors import ConfigError, ExecutionNotFoundError
from governed_mlops_local.cli import main
from governed_mlops_local.cli import ui as ui_cli
from governed_mlops_local.cli.aws_history import aws_options, history_from_aws, render
from tests.waiting import until

REGION = "eu-west-1"
PIPELINE = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Decide"},
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Accept"}],
            "Default": "Reject",
        },
        "Accept": {"Type": "Pass", "End": True},
        "Reject": {"Type": "Fail", "Error": "QualityGateFailed", "Cause": "auc 0.61 is below the minimum 0.70"},
    },
}


@dataclass
class Deployed:
    client: Any
    machine: str
    passed: str
    failed: str


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AWS config file with profiles ``oncall`` and ``keyless`` in REGION, and no region from the environment."""
    config = tmp_path / "aws-config"
    config.write_text(
        f"[profile oncall]\nregion = {REGION}\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        f"[profile keyless]\nregion = {REGION}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return config


@pytest.fixture
def deployed(aws_config: Path) -> Iterator[Deployed]:
    """A ``<stack>-training-pipeline`` machine on moto with one succeeded and one failed execution."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name=REGION)
        machine = client.create_state_machine(
            name="governed-mlops-training-pipeline",
            definition=json.dumps(PIPELINE),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        arns = [
            client.start_execution(stateMachineArn=machine, name=name, input=json.dumps({"ok": ok}))["executionArn"]
            for name, ok in (("push-ok", True), ("push-rejected", False))
        ]
        until(
            lambda: all(client.describe_execution(executionArn=a)["status"] != "RUNNING" for a in arns),
            30,
            "moto's executions to finish",
            poll=0.02,
        )
        yield Deployed(client, machine, *arns)


def test_a_failed_execution_shows_the_failed_state_error_and_cause_on_top(deployed: Deployed):
    described, events = history_from_aws(
        "push-rejected", region=REGION, profile=None, state_machine_arns=[deployed.machine]
    )
    lines = render(described, events, as_json=False).splitlines()
    assert lines[:5] == [
        "push-rejected  FAILED",
        "FAILED in state: Reject",
        "error: QualityGateFailed",
        "cause: auc 0.61 is below the minimum 0.70",
        "outcome: policy stop: a gate refused the model",
    ]
    assert [line.split()[2] for line in lines[7:]] == [e["type"] for e in events]


def test_json_is_get_execution_history_in_order_with_iso_timestamps(deployed: Deployed):
    described, events = history_from_aws(
        "push-rejected", region=REGION, profile=None, state_machine_arns=[deployed.machine]
    )
    printed = json.loads(render(described, events, as_json=True))
    raw = deployed.client.get_execution_history(executionArn=deployed.failed)["events"]
    assert list(printed) == ["events"]
    assert [e["type"] for e in printed["events"]] == [e["type"] for e in raw]
    assert [e["id"] for e in printed["events"]] == sorted(e["id"] for e in raw)
    assert printed["events"][0]["type"] == "ExecutionStarted"
    assert printed["events"][-1]["executionFailedEventDetails"]["error"] == "QualityGateFailed"
    assert all(isinstance(e["timestamp"], str) for e in printed["events"])


def test_a_profile_supplies_the_region_and_a_name_finds_the_training_pipeline(deployed: Deployed):
    # Given no region and no state machine, only the profile, When a name is asked for
    described, events = history_from_aws("push-ok", region=None, profile="oncall", state_machine_arns=())
    # Then the *-training-pipeline machine of the profile's region holds it
    assert (described["executionArn"], described["status"]) == (deployed.passed, "SUCCEEDED")
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert render(described, events, as_json=False).splitlines()[1].split()[:2] == ["ID", "+SECONDS"]


def test_an_execution_arn_needs_no_state_machine(deployed: Deployed):
    described, _ = history_from_aws(deployed.failed, region=REGION, profile=None)
    assert described["name"] == "push-rejected"


def test_an_unknown_execution_is_execution_not_found(deployed: Deployed):
    with pytest.raises(ExecutionNotFoundError):
        history_from_aws("push-404", region=REGION, profile=None, state_machine_arns=[deployed.machine])


def test_an_unknown_profile_is_a_config_error(deployed: Deployed):
    with pytest.raises(ConfigError, match="profile 'nobody'"):
        history_from_aws("push-ok", region=REGION, profile="nobody")


def test_a_profile_without_credentials_is_a_config_error(deployed: Deployed):
    with pytest.raises(ConfigError, match="no AWS credentials"):
        history_from_aws("push-ok", region=None, profile="keyless")


def test_no_region_anywhere_is_a_config_error(deployed: Deployed):
    with pytest.raises(ConfigError, match="no AWS region"):
        history_from_aws("push-ok", region=None, profile=None)


def test_no_training_pipeline_in_the_region_is_a_config_error(deployed: Deployed):
    with pytest.raises(ConfigError, match="--state-machine-arn"):
        history_from_aws("push-ok", region="us-west-2", profile=None)


def test_aws_options_pass_the_flags_to_the_command():
    seen: dict[str, Any] = {}

    @click.command()
    @click.argument("name")
    @aws_options
    def history(name: str, **options: Any) -> None:
        seen.update(options, name=name)

    arguments = [
        "x",
        "--aws",
        "--region",
        REGION,
        "--profile",
        "p",
        "--state-machine-arn",
        "a",
        "--state-machine-arn",
        "b",
    ]
    result = CliRunner().invoke(history, arguments)
    assert result.exit_code == 0, result.output
    assert seen == {
        "name": "x",
        "aws": True,
        "region": REGION,
        "profile": "p",
        "stack_name": None,
        "state_machine_arns": ("a", "b"),
    }


# -- task tokens: AWS records the approval task's token in its TaskScheduled parameters ----------
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAfake-approval-task-token"
APPROVAL_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:governed-mlops-training-pipeline"
APPROVAL_EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:governed-mlops-training-pipeline:push-await"


def approval_history() -> list[dict[str, Any]]:
    """What GetExecutionHistory returns while the pipeline waits in Request Approval (waitForTaskToken)."""
    started = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    parameters = {
        "FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:request-approval",
        "Payload": {"model_version": "7", "task_token": TOKEN},
    }
    return [
        {"timestamp": started, "type": "ExecutionStarted", "id": 1, "executionStartedEventDetails": {"input": "{}"}},
        {
            "timestamp": started,
            "type": "TaskScheduled",
            "id": 2,
            "previousEventId": 1,
            "taskScheduledEventDetails": {
                "resourceType": "lambda",
                "resource": "invoke.waitForTaskToken",
                "region": "eu-west-1",
                "parameters": json.dumps(parameters, separators=(",", ":")),
            },
        },
    ]


def stub_awaiting_execution(stubber: Stubber) -> None:
    """DescribeExecution and GetExecutionHistory of ``push-await``, in the order the readers call them."""
    stubber.add_response(
        "describe_execution",
        {
            "executionArn": APPROVAL_EXECUTION,
            "stateMachineArn": APPROVAL_MACHINE,
            "name": "push-await",
            "status": "RUNNING",
            "startDate": datetime(2026, 3, 1, 3, 0, tzinfo=UTC),
        },
    )
    stubber.add_response("get_execution_history", {"events": approval_history()})


@pytest.fixture
def awaiting_approval(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """``mlops history --aws`` and ``mlops ui --aws`` read a stubbed Step Functions client."""
    client = boto3.client("stepfunctions", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")

    class Session:
        def client(self, service: str) -> Any:
            assert service == "stepfunctions"
            return client

    monkeypatch.setattr("governed_mlops_local.cli.aws_history.aws_session", lambda region, profile: Session())
    monkeypatch.setattr("boto3.client", lambda service, **_: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_mlops_history_aws_json_never_prints_a_task_token(awaiting_approval: Stubber, tmp_path: Path):
    # Given an execution waiting for approval, When on-call staff print its history as JSON
    stub_awaiting_execution(awaiting_approval)
    result = CliRunner().invoke(
        main,
        [
            "--data-dir",
            str(tmp_path),
            "history",
            "push-await",
            "--aws",
            "--state-machine-arn",
            APPROVAL_MACHINE,
            "--json",
        ],
    )
    # Then the approval task is shown with its parameters, but not the token that would resume it
    assert result.exit_code == 0, result.output
    scheduled = json.loads(result.output)["events"][1]["taskScheduledEventDetails"]
    assert json.loads(scheduled["parameters"])["Payload"] == {"model_version": "7", "task_token": REDACTED}
    assert TOKEN not in result.output


def test_mlops_ui_aws_history_never_serves_a_task_token(awaiting_approval: Stubber, monkeypatch: pytest.MonkeyPatch):
    # Given `mlops ui --aws --state-machine-arn ARN`'s pages for an execution waiting for approval
    awaiting_approval.add_response(
        "describe_state_machine",
        {
            "stateMachineArn": APPROVAL_MACHINE,
            "name": "governed-mlops-training-pipeline",
            "definition": json.dumps(PIPELINE),
            "roleArn": "arn:aws:iam::123456789012:role/sfn",
            "type": "STANDARD",
            "creationDate": datetime(2026, 3, 1, tzinfo=UTC),
        },
    )
    client = boto3.client("stepfunctions")  # the fixture's stubbed client

    class Session:
        def client(self, service: str) -> Any:
            assert service == "stepfunctions"
            return client

    monkeypatch.setattr("governed_mlops_local.aws_stack.aws_session", lambda region, profile: Session())
    monkeypatch.delenv("MLOPS_STACK_NAME", raising=False)
    routes = ui_cli.aws_routes([APPROVAL_MACHINE], stack_name=None, region=REGION, profile=None)
    stub_awaiting_execution(awaiting_approval)
    # When the events page's JSON is fetched
    status, _, body = routes.handle("GET", "/executions/push-await/history.json")
    # Then it carries the approval task without its token
    assert status == 200
    assert REDACTED in body.decode()
    assert TOKEN not in body.decode()
