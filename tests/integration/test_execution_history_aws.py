"""StepFunctionsHistory on moto's Step Functions: the local store's shapes, so pages and CLI render AWS too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from governed_mlops.adapters.execution_history import StepFunctionsHistory, execution_arn_for
from governed_mlops.errors import ExecutionNotFoundError, TransientStorageError
from governed_mlops_local.cli.ui import render_history_table
from governed_mlops_local.ui.history_view import describe_failure
from governed_mlops_local.ui.server import UiRoutes
from tests.waiting import until

REGION = "us-east-1"
TINY = {
    "StartAt": "Check Input",
    "States": {
        "Check Input": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Accept"}],
            "Default": "Reject",
        },
        "Accept": {"Type": "Pass", "End": True},
        "Reject": {"Type": "Fail", "Error": "InputRejected", "Cause": "<b>ok</b> was false"},
    },
}


def wait_until_done(client: Any, arns: list[str], timeout: float = 30) -> None:
    until(
        lambda: all(client.describe_execution(executionArn=a)["status"] != "RUNNING" for a in arns),
        timeout,
        "moto's executions to finish",
        poll=0.02,
    )


@pytest.fixture
def sfn() -> Iterator[tuple[Any, str]]:
    """A tiny Choice/Pass/Fail machine on moto with three finished executions: ok, rejected, ok."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name=REGION)
        machine = client.create_state_machine(
            name="tiny", definition=json.dumps(TINY), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        arns = [
            client.start_execution(stateMachineArn=machine, name=f"run-{i}", input=json.dumps({"ok": ok}))[
                "executionArn"
            ]
            for i, ok in enumerate([True, False, True])
        ]
        wait_until_done(client, arns)
        yield client, machine


def only_plain_json(value: Any) -> bool:
    """No datetimes or other boto3 types: what json.dumps takes is what the local store returns."""
    return json.loads(json.dumps(value)) == value


def test_list_executions_pages_through_all_and_matches_the_local_shape(sfn: tuple[Any, str]):
    client, machine = sfn
    # Given a page size of one, so three executions take three pages
    rows = StepFunctionsHistory(client, page_size=1).list_executions(machine)
    # Then all three come back, newest first, with ISO strings for dates
    assert [r["name"] for r in rows] == ["run-2", "run-1", "run-0"]
    assert [r["status"] for r in rows] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert {"executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate"} <= set(rows[0])
    assert datetime.fromisoformat(rows[0]["startDate"]).tzinfo is not None
    assert only_plain_json(rows)


def test_list_executions_without_a_machine_covers_the_configured_ones(sfn: tuple[Any, str]):
    client, machine = sfn
    assert len(StepFunctionsHistory(client, [machine]).list_executions()) == 3
    assert StepFunctionsHistory(client).list_executions() == []


def test_describe_by_arn_and_by_name(sfn: tuple[Any, str]):
    client, machine = sfn
    history = StepFunctionsHistory(client, [machine])
    arn = execution_arn_for(machine, "run-1")
    by_arn, by_name = history.describe(arn), history.describe("run-1")
    assert by_arn == by_name
    assert (by_arn["status"], by_arn["error"], by_arn["cause"]) == ("FAILED", "InputRejected", "<b>ok</b> was false")
    assert by_arn["executionArn"] == arn
    assert "ResponseMetadata" not in by_arn
    assert only_plain_json(by_arn)


def test_unknown_execution_is_execution_not_found(sfn: tuple[Any, str]):
    client, machine = sfn
    history = StepFunctionsHistory(client, [machine])
    with pytest.raises(ExecutionNotFoundError):
        history.describe("run-404")
    with pytest.raises(ExecutionNotFoundError):
        history.history(execution_arn_for(machine, "run-404"))


def test_history_is_in_order_and_names_the_fail_state(sfn: tuple[Any, str]):
    client, machine = sfn
    events = StepFunctionsHistory(client, [machine]).history("run-1")
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        "FailStateEntered",
        "ExecutionFailed",
    ]
    assert isinstance(events[0]["timestamp"], str)
    assert only_plain_json(events)


def test_aws_history_renders_like_a_local_one(sfn: tuple[Any, str]):
    client, machine = sfn
    history = StepFunctionsHistory(client, [machine])
    described, events = history.describe("run-1"), history.history("run-1")
    failure = describe_failure(described, events, history.definition(machine))
    assert failure is not None
    assert (failure.state, failure.error) == ("Reject", "InputRejected")
    text = render_history_table(described, events)
    assert text.splitlines()[:4] == [
        "run-1  FAILED",
        "FAILED in state: Reject",
        "error: InputRejected",
        "cause: <b>ok</b> was false",
    ]


def test_ui_routes_serve_aws_executions(sfn: tuple[Any, str]):
    client, machine = sfn
    history = StepFunctionsHistory(client, [machine])
    routes = UiRoutes(history, {machine: history.definition(machine)}, None, source="AWS (moto)")
    status, _, body = routes.handle("GET", "/executions")
    assert status == 200
    assert body.decode().count('data-testid="execution-row"') == 3
    assert "InputRejected" in body.decode()
    status, _, body = routes.handle("GET", "/executions/run-1")
    page = body.decode()
    assert status == 200
    assert '<span data-testid="failed-state">Reject</span>' in page
    assert 'data-testid="state-Reject" data-status="failed"' in page
    assert 'data-testid="state-Accept" data-status="not_reached"' in page
    assert "&lt;b&gt;ok&lt;/b&gt; was false" in page
    assert routes.handle("GET", "/executions/run-404")[0] == 404


# -- paging and errors, with botocore's Stubber (moto returns the whole history in one page) ------
@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("stepfunctions", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def event(event_id: int, kind: str) -> dict[str, Any]:
    return {"timestamp": datetime(2026, 3, 1, 3, 0, event_id, tzinfo=UTC), "type": kind, "id": event_id}


def test_history_follows_next_tokens_oldest_first(stubbed: tuple[Any, Stubber]):
    client, stubber = stubbed
    arn = "arn:aws:states:us-east-1:123456789012:execution:tiny:run-9"
    first = {"executionArn": arn, "reverseOrder": False, "includeExecutionData": True, "maxResults": 2}
    stubber.add_response(
        "get_execution_history",
        {"events": [event(1, "ExecutionStarted"), event(2, "PassStateEntered")], "nextToken": "page-2"},
        first,
    )
    stubber.add_response(
        "get_execution_history", {"events": [event(3, "ExecutionSucceeded")]}, {**first, "nextToken": "page-2"}
    )
    events = StepFunctionsHistory(client, page_size=2).history(arn)
    assert [e["id"] for e in events] == [1, 2, 3]
    assert events[0]["timestamp"] == "2026-03-01T03:00:01+00:00"


def test_throttling_becomes_a_transient_error(stubbed: tuple[Any, Stubber]):
    client, stubber = stubbed
    stubber.add_client_error("list_executions", "ThrottlingException", "Rate exceeded")
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:tiny"
    with pytest.raises(TransientStorageError, match="ThrottlingException"):
        StepFunctionsHistory(client).list_executions(machine)
