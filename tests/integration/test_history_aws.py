"""``mlops history NAME --aws`` on moto's Step Functions: a boto3 session, the local shapes, the failed state first."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import click
import pytest
from click.testing import CliRunner
from moto import mock_aws

from governed_mlops.errors import ConfigError, ExecutionNotFoundError
from governed_mlops_local.cli_history_aws import aws_options, history_from_aws, render

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
        deadline = time.monotonic() + 30
        while any(client.describe_execution(executionArn=a)["status"] == "RUNNING" for a in arns):
            assert time.monotonic() < deadline, "moto's executions did not finish"
            time.sleep(0.02)
        yield Deployed(client, machine, *arns)


def test_a_failed_execution_shows_the_failed_state_error_and_cause_on_top(deployed: Deployed):
    described, events = history_from_aws(
        "push-rejected", region=REGION, profile=None, state_machine_arns=[deployed.machine]
    )
    lines = render(described, events, as_json=False).splitlines()
    assert lines[:4] == [
        "push-rejected  FAILED",
        "FAILED in state: Reject",
        "error: QualityGateFailed",
        "cause: auc 0.61 is below the minimum 0.70",
    ]
    assert [line.split()[2] for line in lines[6:]] == [e["type"] for e in events]


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
