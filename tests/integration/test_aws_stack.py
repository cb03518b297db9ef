"""Finding a deployed stack from its CloudFormation outputs (moto): the outputs, and a named error for each miss."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from governed_mlops_local.aws_stack import (
    AwsCredentialsMissing,
    AwsRegionMissing,
    StackNameMissing,
    StackNotFoundError,
    StackOutputMissing,
    StackResources,
    aws_session,
    stack_name_or_default,
)

REGION = "eu-west-1"
STACK = "governed-mlops-test"
#: A stack with one resource and two of the outputs the CLI reads.
TEMPLATE = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "governed-mlops-test-dlq"}}},
    "Outputs": {
        "TrainingPipelineArn": {
            "Value": f"arn:aws:states:{REGION}:123456789012:stateMachine:{STACK}-training-pipeline"
        },
        "ArtifactsBucketName": {"Value": "governed-mlops-test-artifacts"},
    },
}


@pytest.fixture
def no_ambient_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials, region or profile from the machine: only what each test gives."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def deployed(no_ambient_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=STACK, TemplateBody=json.dumps(TEMPLATE)
        )
        yield


def test_the_outputs_name_the_stacks_resources(deployed: None) -> None:
    stack = StackResources.from_cloudformation(aws_session(REGION, None), STACK)

    assert (stack.name, stack.region) == (STACK, REGION)
    assert stack.artifacts_bucket == "governed-mlops-test-artifacts"
    assert stack.pipeline_arn.endswith(f":stateMachine:{STACK}-training-pipeline")
    assert stack.account == "123456789012"


def test_a_missing_output_is_named_with_the_outputs_the_stack_has(deployed: None) -> None:
    stack = StackResources.from_cloudformation(aws_session(REGION, None), STACK)

    with pytest.raises(StackOutputMissing, match="no output 'AuditBucketName'.*ArtifactsBucketName"):
        stack.audit_ledger()


def test_an_unknown_stack_is_stack_not_found(deployed: None) -> None:
    with pytest.raises(StackNotFoundError, match=f"'other-stack' in {REGION}"):
        StackResources.from_cloudformation(aws_session(REGION, None), "other-stack")


def test_the_stack_of_another_region_is_not_found(deployed: None) -> None:
    with pytest.raises(StackNotFoundError):
        StackResources.from_cloudformation(aws_session("us-west-2", None), STACK)


def test_no_region_is_aws_region_missing(deployed: None) -> None:
    with pytest.raises(AwsRegionMissing, match="--region"):
        StackResources.from_cloudformation(aws_session(None, None), STACK)


def test_no_credentials_is_aws_credentials_missing(no_ambient_aws: None) -> None:
    with pytest.raises(AwsCredentialsMissing, match="no AWS credentials"):
        StackResources.from_cloudformation(aws_session(REGION, None), STACK)


def test_an_unknown_profile_is_aws_credentials_missing(no_ambient_aws: None) -> None:
    with pytest.raises(AwsCredentialsMissing, match="profile 'nobody'"):
        aws_session(REGION, "nobody")


def test_the_stack_name_comes_from_the_option_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_STACK_NAME", "from-env")

    assert stack_name_or_default("given") == "given"
    assert stack_name_or_default(None) == "from-env"


def test_no_stack_name_anywhere_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_STACK_NAME", raising=False)

    with pytest.raises(StackNameMissing, match="--stack NAME or set MLOPS_STACK_NAME"):
        stack_name_or_default(None)
