"""``mlops redrive --aws``: RedriveExecution on Step Functions, and its refusals as named errors."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from governed_mlops.adapters.pipeline import StepFunctionsPipeline
from governed_mlops.errors import ExecutionNotFoundError, RedriveNotPossible

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:governed-mlops-training-pipeline"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:governed-mlops-training-pipeline:data-abc"


def _pipeline() -> tuple[StepFunctionsPipeline, Stubber]:
    client = boto3.client("stepfunctions", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return StepFunctionsPipeline(client, MACHINE), Stubber(client)


def test_redrive_calls_redrive_execution_and_returns_its_date():
    pipeline, stub = _pipeline()
    stub.add_response(
        "redrive_execution",
        {"redriveDate": datetime(2026, 11, 28, 12, 0, tzinfo=UTC)},
        {"executionArn": EXECUTION},
    )
    with stub:
        assert pipeline.redrive(EXECUTION) == "2026-11-28T12:00:00+00:00"
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ExecutionNotRedrivable", RedriveNotPossible),
        ("ExecutionDoesNotExist", ExecutionNotFoundError),
        ("InvalidArn", ExecutionNotFoundError),
    ],
)
def test_refusals_are_named_errors(code: str, error: type[Exception]):
    pipeline, stub = _pipeline()
    stub.add_client_error("redrive_execution", service_error_code=code, service_message="no")
    with stub, pytest.raises(error):
        pipeline.redrive(EXECUTION)
