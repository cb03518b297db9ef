"""The execution page's filter and state links through the routes: a GET with a bad filter is a 400 page, not a 500."""

from __future__ import annotations

from typing import Any

from governed_mlops.errors import ExecutionNotFoundError
from governed_mlops_local.incident import build_incident
from governed_mlops_local.incident_sources import IncidentView
from governed_mlops_local.ui.server import UiRoutes
from tests.unit.test_incident import described, history_failing_in

MACHINE = "arn:aws:states:us-east-1:0:stateMachine:m"
DEFINITION = {"StartAt": "Validate Data", "States": {"Validate Data": {"Type": "Task", "End": True}}}
CAUSE = '{"errorMessage": "bad rows"}'


class OneFailedRun:
    def __init__(self) -> None:
        self.info = described("DataValidationError", CAUSE) | {
            "executionArn": "arn:x:data-0123",
            "stateMachineArn": MACHINE,
        }

    def list_executions(self) -> list[dict[str, Any]]:
        return [self.info]

    def describe(self, name_or_arn: str) -> dict[str, Any]:
        if name_or_arn not in ("data-0123", "arn:x:data-0123"):
            raise ExecutionNotFoundError(name_or_arn)
        return self.info

    def history(self, name_or_arn: str) -> list[dict[str, Any]]:
        return history_failing_in("Validate Data", "DataValidationError", CAUSE)


def incidents(described_: dict[str, Any], events: list[dict[str, Any]], definition: Any) -> IncidentView | None:
    incident = build_incident(described_, events, definition)
    return IncidentView(incident, (), ()) if incident else None


ROUTES = UiRoutes(OneFailedRun(), {MACHINE: DEFINITION}, incidents=incidents)


def get(path: str) -> tuple[int, dict[str, str], str]:
    status, headers, body = ROUTES.handle("GET", path)
    return status, headers, body.decode()


def test_the_page_carries_the_incident_and_links_each_state_to_its_details() -> None:
    status, headers, page = get("/executions/data-0123")
    assert status == 200
    assert 'data-testid="next-command">mlops upload CORRECTED.csv --model m --key datasets/m/x.csv<' in page
    assert '<a href="?state=Validate%20Data#state-detail"' in page
    # The filter form submits to the page itself: the policy allows only that
    assert "form-action 'self'" in headers["Content-Security-Policy"]
    assert 'data-testid="state-detail"' not in page


def test_a_state_filter_shows_its_details_and_only_its_events() -> None:
    status, _, page = get("/executions/data-0123?state=Validate%20Data")
    assert status == 200
    assert 'data-testid="state-detail"' in page
    assert "ExecutionStarted" not in page.split('data-testid="events-table"', 1)[1]


def test_an_unknown_state_or_type_is_a_400_page_with_a_message_not_a_server_error() -> None:
    status, _, page = get("/executions/data-0123?state=Nope&type=Bogus")
    assert status == 400
    assert "No state named &#x27;Nope&#x27; in this execution" in page
    assert "No event of type &#x27;Bogus&#x27; in this execution" in page
    assert 'data-testid="events-table"' in page


def test_post_with_a_filter_still_changes_nothing() -> None:
    status, _, _ = ROUTES.handle("POST", "/executions/data-0123?state=Validate%20Data")
    assert status == 405
