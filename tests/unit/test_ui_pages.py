"""The on-call pages: escaping, the failed-state box, state colouring from history, layout, routes."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.errors import ExecutionNotFoundError
from governed_mlops_local.cli.ui import render_history_table
from governed_mlops_local.ui.evidence_links import local_evidence_links
from governed_mlops_local.ui.graph_layout import layout_states, state_edges
from governed_mlops_local.ui.history_view import describe_failure, readable_cause, state_outcomes
from governed_mlops_local.ui.render import format_duration, render_execution, render_executions
from governed_mlops_local.ui.server import UiRoutes

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "training_pipeline.asl.json"
MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:governed-mlops-trainingpipeline"
T0 = datetime(2026, 3, 1, 3, 0, 0, tzinfo=UTC)
RETRY = [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 3}]


def task(next_state: str | None, *, catch_to: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:0:function:f", "Retry": RETRY}
    state |= {"Next": next_state} if next_state else {"End": True}
    if catch_to:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": catch_to}]
    return state


# A small pipeline of the same shape as the real one: tasks with a catch-all to a Fail state.
PIPELINE: dict[str, Any] = {
    "StartAt": "Record Request",
    "States": {
        "Record Request": {"Type": "Pass", "Next": "Validate Data"},
        "Validate Data": task("Train Model", catch_to="Pipeline Failed"),
        "Train Model": task("Pipeline Succeeded", catch_to="Pipeline Failed"),
        "Pipeline Succeeded": {"Type": "Succeed"},
        "Pipeline Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
    },
}


class History:
    """Builds GetExecutionHistory events the way Step Functions records them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, details: dict[str, Any] | None = None, *, key: str | None = None) -> History:
        event: dict[str, Any] = {
            "timestamp": (T0 + timedelta(seconds=len(self.events) * 0.5)).isoformat(),
            "type": kind,
            "id": len(self.events) + 1,
            "previousEventId": len(self.events),
        }
        if details is not None:
            event[key or (kind[0].lower() + kind[1:] + "EventDetails")] = details
        self.events.append(event)
        return self

    def started(self) -> History:
        return self.add("ExecutionStarted", {"input": "{}"})

    def enter(self, name: str, kind: str = "Task") -> History:
        return self.add(f"{kind}StateEntered", {"name": name, "input": "{}"}, key="stateEnteredEventDetails")

    def exit(self, name: str, kind: str = "Task") -> History:
        return self.add(f"{kind}StateExited", {"name": name, "output": "{}"}, key="stateExitedEventDetails")

    def attempt(self, error: str | None = None, cause: str = "") -> History:
        self.add("LambdaFunctionScheduled", {"resource": "arn:aws:lambda:us-east-1:0:function:f"})
        self.add("LambdaFunctionStarted")
        if error:
            return self.add("LambdaFunctionFailed", {"error": error, "cause": cause})
        return self.add("LambdaFunctionSucceeded", {"output": "{}"})

    def ok(self, name: str, kind: str = "Task") -> History:
        self.enter(name, kind)
        if kind == "Task":
            self.attempt()
        return self.exit(name, kind)


def lambda_cause(error: str, message: str) -> str:
    return json.dumps({"errorType": error, "errorMessage": message})


VALIDATION_CAUSE = lambda_cause("DataValidationError", "1 problem: [target_missing] creditability: not in the header")


def validation_failed_history() -> History:
    """What the real pipeline records when Validate Data raises and the catch ends in Pipeline Failed."""
    h = History().started().ok("Record Request", "Pass").enter("Validate Data")
    h.attempt("DataValidationError", VALIDATION_CAUSE).exit("Validate Data")
    h.enter("Pipeline Failed", "Fail")
    return h.add("ExecutionFailed", {"error": "DataValidationError", "cause": VALIDATION_CAUSE})


def described(status: str, name: str = "data-1234", **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": f"arn:aws:states:us-east-1:000000000000:execution:governed-mlops-trainingpipeline:{name}",
        "stateMachineArn": MACHINE,
        "name": name,
        "status": status,
        "startDate": T0.isoformat(),
        **({"stopDate": (T0 + timedelta(seconds=5)).isoformat()} if status != "RUNNING" else {}),
        **extra,
    }


def by_testid(page: str, testid: str) -> str:
    match = re.search(rf'data-testid="{re.escape(testid)}"[^>]*>(.*?)</', page, re.S)
    assert match, f"no element with data-testid={testid!r}"
    return match.group(1)


def node_status(page: str, state: str) -> str:
    match = re.search(rf'<g [^>]*data-testid="state-{re.escape(state)}" data-status="(\w+)"', page)
    assert match, f"no node for state {state!r}"
    return match.group(1)


# -- escaping -------------------------------------------------------------------------------------
EVIL_NAME = '<script>alert("name")</script>'
EVIL_CAUSE = json.dumps({"errorType": "X", "errorMessage": '<img src=x onerror=alert("cause")>'})


def test_execution_page_escapes_name_error_cause_and_state_names():
    # Given an execution whose name, error, cause and state names carry markup
    definition = {"StartAt": "<b>S</b>", "States": {"<b>S</b>": {"Type": "Fail", "Error": "E"}}}
    events = History().started().enter("<b>S</b>", "Fail").add("ExecutionFailed", {"error": "<i>E</i>"}).events
    info = described("FAILED", name=EVIL_NAME, error="<i>E</i>", cause=EVIL_CAUSE)
    # When the page is rendered
    page = render_execution(info, events, definition, links={"<u>label</u>": "https://example.test/?a=1&b=<2>"})
    # Then no markup from the data survives, and the values are still readable as text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "<b>S</b>" not in page
    assert "<i>E</i>" not in page
    assert "<u>label</u>" not in page
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(&quot;cause&quot;)&gt;" in page
    assert 'data-testid="state-&lt;b&gt;S&lt;/b&gt;"' in page
    assert 'href="https://example.test/?a=1&amp;b=&lt;2&gt;"' in page


def test_executions_list_escapes_the_name_and_percent_encodes_its_link():
    rows = [described("FAILED", name=EVIL_NAME, error="<svg onload=alert(1)>", cause=EVIL_CAUSE)]
    page = render_executions(rows, now=T0 + timedelta(minutes=5))
    assert "<script>alert" not in page
    assert "<svg onload" not in page
    assert "<img src=x" not in page
    assert 'href="executions/%3Cscript%3Ealert%28%22name%22%29%3C%2Fscript%3E"' in page


@pytest.mark.parametrize("href", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>x</script>"])
def test_evidence_hrefs_with_other_schemes_are_text_not_links(href: str):
    page = render_execution(described("SUCCEEDED"), [], PIPELINE, links={"report": href})
    assert f'href="{href}' not in page
    assert "<script>x" not in page
    assert 'class="copy"' in page


def test_file_uri_evidence_is_shown_as_the_path():
    page = render_execution(described("SUCCEEDED"), [], PIPELINE, links={"report": "file:///data/run%201/r.json"})
    assert '<code class="copy">/data/run 1/r.json</code>' in page
    assert 'href="file:' not in page


def test_pages_are_self_contained_with_viewport_title_and_headings():
    page = render_execution(described("FAILED"), validation_failed_history().events, PIPELINE, links={})
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<title>✗ data-1234 · FAILED</title>" in page
    assert re.search(r"<h1[^>]*>data-1234</h1>", page)
    assert [h for h in re.findall(r"<h2[^>]*>(.*?)</h2>", page) if "Failed in state" not in h] == [
        "Evidence",
        "State graph",
        "Events",
    ]
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "pages must not load anything from elsewhere"
    assert "<script" not in page


# -- failed-state box -----------------------------------------------------------------------------
def test_failed_box_names_the_state_error_and_readable_cause():
    # Given the history of an execution whose Validate Data raised and was caught into Pipeline Failed
    info = described("FAILED", error="DataValidationError", cause=VALIDATION_CAUSE)
    page = render_execution(info, validation_failed_history().events, PIPELINE, links={})
    # Then the box names Validate Data (not the Fail state), the error, and the message from the JSON cause
    assert by_testid(page, "failed-state") == "Validate Data"
    assert by_testid(page, "failed-error") == "DataValidationError"
    assert by_testid(page, "failed-cause") == "1 problem: [target_missing] creditability: not in the header"
    # And the whole cause is there, pretty-printed
    assert "&quot;errorType&quot;: &quot;DataValidationError&quot;," in page
    assert page.index('data-testid="failure"') < page.index('data-testid="state-graph"')


def test_failed_box_for_an_uncaught_task_failure():
    definition = {"StartAt": "Train Model", "States": {"Train Model": task(None)}}
    h = History().started().enter("Train Model").attempt("SageMakerJobFailed", "out of memory")
    h.add("ExecutionFailed", {"error": "SageMakerJobFailed", "cause": "out of memory"})
    failure = describe_failure(described("FAILED"), h.events, definition)
    assert failure is not None
    assert (failure.state, failure.error, failure.message, failure.cause_json) == (
        "Train Model",
        "SageMakerJobFailed",
        "out of memory",
        None,
    )


def test_failed_box_for_a_timed_out_execution_names_the_open_state():
    h = History().started().ok("Record Request", "Pass").enter("Validate Data").add("LambdaFunctionScheduled", {})
    h.add("ExecutionTimedOut", {"error": "States.Timeout", "cause": "The execution timed out"})
    page = render_execution(described("TIMED_OUT"), h.events, PIPELINE, links={})
    assert "Timed out in state" in page
    assert by_testid(page, "failed-state") == "Validate Data"
    assert by_testid(page, "failed-error") == "States.Timeout"
    assert node_status(page, "Validate Data") == "failed"


def test_failed_box_when_a_choice_routes_straight_to_a_fail_state():
    definition = {
        "StartAt": "Check Decision",
        "States": {
            "Check Decision": {"Type": "Choice", "Choices": [], "Default": "Model Rejected"},
            "Model Rejected": {"Type": "Fail", "Error": "ApprovalRejected", "Cause": "rejected by alice"},
        },
    }
    h = History().started().ok("Check Decision", "Choice").enter("Model Rejected", "Fail")
    h.add("ExecutionFailed", {"error": "ApprovalRejected", "cause": "rejected by alice"})
    failure = describe_failure(described("FAILED"), h.events, definition)
    assert failure is not None
    assert (failure.state, failure.error, failure.message) == (
        "Model Rejected",
        "ApprovalRejected",
        "rejected by alice",
    )


def test_failed_box_takes_error_and_cause_from_history_when_describe_lacks_them():
    failure = describe_failure(described("FAILED"), validation_failed_history().events, PIPELINE)
    assert failure is not None
    assert failure.error == "DataValidationError"
    assert failure.message.startswith("1 problem")


def test_no_failed_box_for_a_succeeded_execution():
    h = History().started().ok("Record Request", "Pass").ok("Validate Data").ok("Train Model")
    h.ok("Pipeline Succeeded", "Succeed").add("ExecutionSucceeded", {"output": "{}"})
    page = render_execution(described("SUCCEEDED"), h.events, PIPELINE, links={})
    assert 'data-testid="failure"' not in page
    assert describe_failure(described("SUCCEEDED"), h.events, PIPELINE) is None


def test_interrupted_local_execution_says_what_to_do():
    h = History().started().ok("Record Request", "Pass").enter("Validate Data")
    page = render_execution(described("INTERRUPTED"), h.events, PIPELINE, links={})
    assert by_testid(page, "failed-state") == "Validate Data"
    assert "mlops redrive" in by_testid(page, "failed-cause")


@pytest.mark.parametrize(
    ("cause", "message", "pretty"),
    [
        (None, "", False),
        ("plain words", "plain words", False),
        (json.dumps({"FailureReason": "AlgorithmError: boom"}), "AlgorithmError: boom", True),
        (json.dumps({"errorType": "E"}), '{\n  "errorType": "E"\n}', True),
        ("[1, 2]", "[\n  1,\n  2\n]", True),
    ],
)
def test_readable_cause(cause: str | None, message: str, pretty: bool):
    text, as_json = readable_cause(cause)
    assert text == message
    assert (as_json is not None) is pretty


# -- colouring ------------------------------------------------------------------------------------
def statuses(definition: dict[str, Any], events: list[dict[str, Any]], **kw: Any) -> dict[str, str]:
    return {name: o.status for name, o in state_outcomes(definition, events, **kw).items()}


def test_failed_state_is_red_fail_state_reached_and_the_rest_grey():
    events = validation_failed_history().events
    assert statuses(PIPELINE, events, execution_status="FAILED", execution_error="DataValidationError") == {
        "Record Request": "succeeded",
        "Validate Data": "failed",
        "Train Model": "not_reached",
        "Pipeline Succeeded": "not_reached",
        "Pipeline Failed": "failed",
    }


def test_caught_error_routed_to_a_recovery_path_is_orange():
    # Given a state whose catch routes to a recovery state, and an execution that then succeeds
    definition = {
        "StartAt": "Deploy",
        "States": {
            "Deploy": task("Done", catch_to="Roll Back"),
            "Roll Back": task("Done"),
            "Done": {"Type": "Succeed"},
        },
    }
    h = History().started().enter("Deploy").attempt("EndpointNotReady", "alarm").exit("Deploy")
    h.ok("Roll Back").ok("Done", "Succeed").add("ExecutionSucceeded", {"output": "{}"})
    outcomes = state_outcomes(definition, h.events, execution_status="SUCCEEDED")
    # Then the caught state is orange, names its error and where it went; the recovery is green
    assert outcomes["Deploy"].status == "caught"
    assert outcomes["Deploy"].routed_to == "Roll Back"
    assert outcomes["Deploy"].label == "↪ caught EndpointNotReady → Roll Back"
    assert outcomes["Roll Back"].status == outcomes["Done"].status == "succeeded"


def test_retry_that_succeeds_is_green_and_says_it_retried():
    h = History().started().ok("Record Request", "Pass").enter("Validate Data")
    h.attempt("Lambda.ServiceException", "throttled").attempt("Lambda.ServiceException", "throttled").attempt()
    h.exit("Validate Data")
    outcome = state_outcomes(PIPELINE, h.events, execution_status="RUNNING")["Validate Data"]
    assert (outcome.status, outcome.attempts, outcome.label) == ("succeeded", 3, "✓ succeeded · retried 2×")


def test_state_being_retried_is_blue_with_its_attempt():
    h = History().started().ok("Record Request", "Pass").enter("Validate Data")
    h.attempt("TransientStorageError", "busy").add("LambdaFunctionScheduled", {"resource": "f"})
    outcomes = state_outcomes(PIPELINE, h.events, execution_status="RUNNING")
    assert (outcomes["Validate Data"].status, outcomes["Validate Data"].label) == ("running", "● running · attempt 2")
    assert outcomes["Train Model"].status == "not_reached"


def test_task_waiting_for_a_task_token_says_so():
    definition = {"StartAt": "Request Approval", "States": {"Request Approval": task(None)}}
    definition["States"]["Request Approval"]["Resource"] = "arn:aws:states:::lambda:invoke.waitForTaskToken"
    h = History().started().enter("Request Approval").add("TaskScheduled", {"resource": "invoke.waitForTaskToken"})
    outcome = state_outcomes(definition, h.events, execution_status="RUNNING")["Request Approval"]
    assert (outcome.status, outcome.label) == ("running", "● waiting for callback")


def test_running_execution_without_describe_status_takes_it_from_history():
    h = History().started().ok("Record Request", "Pass").enter("Validate Data")
    assert statuses(PIPELINE, h.events)["Validate Data"] == "running"
    h.add("ExecutionAborted", {})
    assert statuses(PIPELINE, h.events)["Validate Data"] == "failed"


def test_parallel_is_one_box_and_its_branch_events_count_for_it():
    definition = {
        "StartAt": "Explain And Check Bias",
        "States": {
            "Explain And Check Bias": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Explain", "States": {"Explain": task(None)}},
                    {"StartAt": "Bias", "States": {"Bias": task(None)}},
                ],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    h = History().started().enter("Explain And Check Bias", "Parallel").add("ParallelStateStarted")
    h.ok("Explain").enter("Bias").attempt("BiasThresholdExceeded", "DPL 0.2 > 0.1")
    outcomes = state_outcomes(definition, h.events, execution_status="RUNNING")
    assert outcomes["Explain And Check Bias"].status == "running"
    assert set(outcomes) == {"Explain And Check Bias", "Done"}
    h.add("ParallelStateFailed", {"error": "BiasThresholdExceeded", "cause": "DPL 0.2 > 0.1"})
    h.add("ExecutionFailed", {"error": "BiasThresholdExceeded", "cause": "DPL 0.2 > 0.1"})
    failure = describe_failure(described("FAILED"), h.events, definition)
    assert failure is not None
    assert failure.state == "Explain And Check Bias"
    page = render_execution(described("FAILED"), h.events, definition, links={})
    assert "Parallel · 2 branches" in page
    assert 'data-testid="state-Explain"' not in page


def test_loop_revisits_count_and_the_last_visit_decides():
    definition = {
        "StartAt": "Poll",
        "States": {
            "Poll": task("Ready?"),
            "Ready?": {"Type": "Choice", "Choices": [{"Next": "Done"}], "Default": "Poll"},
            "Done": {"Type": "Succeed"},
        },
    }
    h = History().started().ok("Poll").ok("Ready?", "Choice").enter("Poll")
    outcome = state_outcomes(definition, h.events, execution_status="RUNNING")["Poll"]
    assert (outcome.status, outcome.visits) == ("running", 2)


def test_graph_marks_each_state_with_status_text_as_well_as_colour():
    page = render_execution(described("FAILED"), validation_failed_history().events, PIPELINE, links={})
    assert node_status(page, "Validate Data") == "failed"
    assert node_status(page, "Record Request") == "succeeded"
    assert node_status(page, "Train Model") == "not_reached"
    assert "✗ failed: DataValidationError" in page
    legend = by_testid(page, "legend")
    assert "succeeded" in legend
    for words in ("✗ failed", "error caught and routed on", "● running", "○ not reached", "Catch (error path)"):
        assert words in page
    # The catch edge that was taken is drawn dashed and bold; one not taken is dashed and thin
    assert 'class="edge taken catch"' in page
    assert 'data-edge="Validate Data → Pipeline Failed"' in page
    assert re.search(r'class="edge catch"[^>]*data-edge="Train Model → Pipeline Failed"', page)


def test_history_with_states_the_definition_no_longer_has_says_so():
    h = History().started().ok("Record Request", "Pass").ok("Old Step").add("ExecutionSucceeded", {})
    page = render_execution(described("SUCCEEDED"), h.events, PIPELINE, links={})
    assert "states the current definition does not have" in page
    assert "Old Step" in page


def test_events_table_has_offsets_types_states_and_highlights_errors():
    page = render_execution(described("FAILED"), validation_failed_history().events, PIPELINE, links={})
    table = page[page.index('data-testid="events-table"') :]
    rows = re.findall(r"<tr class=\"(err)?\" data-event-id=\"(\d+)\">(.*?)</tr>", table, re.S)
    assert [int(r[1]) for r in rows] == list(range(1, 11))
    failed_row = next(r for r in rows if "LambdaFunctionFailed" in r[2])
    assert failed_row[0] == "err"
    assert "<td>Validate Data</td>" in failed_row[2]
    assert "3.000" in failed_row[2]  # + seconds since the first event
    assert "DataValidationError: 1 problem" in failed_row[2]
    assert rows[1][0] == ""


def test_page_without_definition_still_renders_box_and_events():
    page = render_execution(described("FAILED"), validation_failed_history().events, {}, links={})
    assert by_testid(page, "failed-state") == "Validate Data"
    assert "definition is not available" in page
    assert 'data-testid="events-table"' in page


# -- layout ---------------------------------------------------------------------------------------
def real_definition() -> dict[str, Any]:
    return dict(json.loads(ASL.read_text()))


def test_layout_of_the_real_pipeline_is_deterministic_and_keeps_the_main_path_in_column_zero():
    definition = real_definition()
    positions = layout_states(definition)
    assert positions == layout_states(json.loads(ASL.read_text()))
    assert set(positions) == set(definition["States"])
    assert len(set(positions.values())) == len(positions), "two states share a box"
    main_path = [
        "Record Request",
        "Validate Data",
        "Prepare Data",
        "Compare with Champion",
        "Check for Change",
        "Check Data Bias",
        "Gate Data Bias",
        "Train Model",
    ]
    assert [positions[name] for name in main_path] == [(0, layer) for layer in range(len(main_path))]
    # The catch-all Fail state sits in the last layer, beside (not in) the main column
    last_layer = max(y for _, y in positions.values())
    assert positions["Pipeline Failed"][1] == last_layer
    assert positions["Pipeline Failed"][0] > 0


def test_layout_does_not_depend_on_the_order_of_states_in_the_file():
    definition = real_definition()
    names = list(definition["States"])
    random.Random(7).shuffle(names)
    shuffled = {**definition, "States": {name: definition["States"][name] for name in names}}
    assert layout_states(shuffled) == layout_states(definition)


def test_layout_puts_choice_branches_side_by_side_below_the_choice():
    definition = {
        "StartAt": "Decide",
        "States": {
            "Decide": {"Type": "Choice", "Choices": [{"Next": "Approve"}], "Default": "Reject"},
            "Approve": {"Type": "Succeed"},
            "Reject": {"Type": "Fail"},
        },
    }
    assert layout_states(definition) == {"Decide": (0, 0), "Approve": (0, 1), "Reject": (1, 1)}


def test_layout_survives_loops_and_unreachable_states():
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Next": "B"},
            "B": {"Type": "Choice", "Choices": [{"Next": "A"}], "Default": "C"},
            "C": {"Type": "Succeed"},
            "Orphan": {"Type": "Pass", "Next": "Missing"},
        },
    }
    assert layout_states(definition) == {"A": (0, 0), "Orphan": (1, 0), "B": (0, 1), "C": (0, 2)}
    assert ("B", "A", "choice") in state_edges(definition)
    assert all(target != "Missing" for _, target, _ in state_edges(definition))


def test_layout_of_nothing_is_empty():
    assert layout_states({}) == {}
    assert layout_states({"StartAt": "X", "States": {}}) == {}


# -- executions list ------------------------------------------------------------------------------
def test_executions_list_shows_status_in_words_duration_and_error():
    rows = [
        described("RUNNING", name="data-running"),
        described("FAILED", name="data-failed", error="DataValidationError", cause=VALIDATION_CAUSE),
        described("SUCCEEDED", name="data-ok"),
    ]
    page = render_executions(rows, now=T0 + timedelta(minutes=3))
    assert page.index("data-running") < page.index("data-failed") < page.index("data-ok")
    assert "✗</span> FAILED" in page
    assert "✓</span> SUCCEEDED" in page
    assert "●</span> RUNNING" in page
    assert "running for 3 min 00 s" in page
    assert "5.00 s" in page
    assert "DataValidationError" in page
    assert "1 problem: [target_missing]" in page
    assert 'data-refresh-seconds="15"' in page
    assert 'http-equiv="refresh"' not in page
    assert "3 min ago" in page


def test_executions_list_filters_by_status_and_counts_each():
    rows = [described("FAILED", name="data-failed"), described("SUCCEEDED", name="data-ok")]
    page = render_executions(rows, now=T0, status="FAILED")
    assert "data-failed" in page
    assert "data-ok" not in page
    assert '<strong aria-current="page">Failed (1)</strong>' in page
    assert 'href="executions?status=SUCCEEDED">Succeeded (1)</a>' in page


def test_executions_list_groups_by_model_and_keeps_the_status_filter_on_model_links():
    rows = [
        described("FAILED", name="data-credit-failed") | {"model": "credit-risk"},
        described("SUCCEEDED", name="data-credit-ok") | {"model": "credit-risk"},
        described("FAILED", name="data-lending-failed") | {"model": "synthetic-lending"},
        described("SUCCEEDED", name="data-unknown"),
    ]
    page = render_executions(rows, now=T0, status="FAILED", model="credit-risk")
    # Only credit-risk's failed run; every run shows its model, the counts follow the model filter
    assert "data-credit-failed" in page
    assert all(name not in page for name in ("data-credit-ok", "data-lending-failed", "data-unknown"))
    assert by_testid(page, "execution-model") == "credit-risk"
    assert '<strong aria-current="page">credit-risk (2)</strong>' in page
    assert 'href="executions?model=synthetic-lending&amp;status=FAILED">synthetic-lending (1)</a>' in page
    assert 'href="executions?status=FAILED">All models (4)</a>' in page
    assert 'href="executions?model=credit-risk&amp;status=SUCCEEDED">Succeeded (1)</a>' in page
    assert '<strong aria-current="page">Failed (1)</strong>' in page


def test_each_ended_run_names_its_outcome_class_under_its_status():
    rows = [
        described("FAILED", name="data-rejected", error="ApprovalRejected"),
        described("FAILED", name="data-gated", error="QualityGateFailed"),
        described("FAILED", name="data-broken", error="SageMakerJobFailed"),
        described("SUCCEEDED", name="data-ok"),
    ]
    page = render_executions(rows, now=T0)
    notes = re.findall(r'data-testid="execution-outcome">([^<]*)<', page)
    assert notes == [
        "human decision: rejected, or not decided in time",
        "policy stop: a gate refused the model",
        "fault: someone must fix it",
    ]


def test_a_run_without_a_model_shows_a_dash_and_an_empty_filter_says_which():
    rows = [described("SUCCEEDED", name="data-unknown")]
    assert by_testid(render_executions(rows, now=T0), "execution-model") == "-"
    empty = render_executions(rows, now=T0, model="credit-risk", status="FAILED")
    assert "No executions of model credit-risk and status FAILED." in empty


def test_empty_executions_list_says_how_to_start_one():
    assert "mlops demo" in render_executions([], now=T0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.871, "0.87 s"), (14.53, "14.5 s"), (185, "3 min 05 s"), (7440, "2 h 04 min"), (200000, "2 d 7 h")],
)
def test_format_duration(seconds: float, text: str):
    assert format_duration(seconds) == text


# -- text history (mlops history, local or AWS) ---------------------------------------------------
def test_render_history_table_puts_the_failure_first():
    info = described("FAILED", error="DataValidationError", cause=VALIDATION_CAUSE)
    text = render_history_table(info, validation_failed_history().events)
    lines = text.splitlines()
    assert lines[:4] == [
        "data-1234  FAILED",
        "FAILED in state: Validate Data",
        "error: DataValidationError",
        "cause: 1 problem: [target_missing] creditability: not in the header",
    ]
    assert re.search(r"^\s+7\s+3\.000\s+LambdaFunctionFailed\s+DataValidationError: 1 problem", text, re.M)


def test_local_evidence_links_point_at_the_reports_on_disk(tmp_path: Path):
    output = {
        "validation": {"report": {"bucket": "art", "key": "runs/x/validation/report.json"}},
        "gates": {"report": {"bucket": "art", "key": "runs/x/gates/report.json"}},
        "evaluation": {"evaluation_uri": "s3://art/runs/x/evaluation"},
    }
    links = local_evidence_links(tmp_path)(described("SUCCEEDED", output=json.dumps(output)))
    assert links["Validation report"] == (tmp_path / "s3/art/runs/x/validation/report.json").as_uri()
    assert links["Evaluation (hold-out metrics)"].endswith("/s3/art/runs/x/evaluation/evaluation.json")
    failed = local_evidence_links(tmp_path)(
        described("FAILED", cause=lambda_cause("E", "x (report: s3://a/k.json?v=1)"))
    )
    assert failed["Report named in the cause"] == (tmp_path / "s3/a/k.json").as_uri()


# -- routes ---------------------------------------------------------------------------------------
class FakeStore:
    """An execution source in memory that records every call, so a test sees what a request did."""

    def __init__(self, executions: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
        self.executions = executions
        self.calls: list[str] = []

    def _find(self, name_or_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        for info, events in self.executions.values():
            if name_or_arn in (info["name"], info["executionArn"]):
                return info, events
        raise ExecutionNotFoundError(name_or_arn)

    def list_executions(self) -> list[dict[str, Any]]:
        self.calls.append("list")
        keys = ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate", "model")
        return [{k: info[k] for k in keys if k in info} for info, _ in self.executions.values()]

    def describe(self, name_or_arn: str) -> dict[str, Any]:
        self.calls.append(f"describe {name_or_arn}")
        return dict(self._find(name_or_arn)[0])

    def history(self, name_or_arn: str) -> list[dict[str, Any]]:
        self.calls.append(f"history {name_or_arn}")
        return list(self._find(name_or_arn)[1])


@pytest.fixture
def store() -> FakeStore:
    failed = described("FAILED", name="data-failed", error="DataValidationError", cause=VALIDATION_CAUSE)
    ok = described("SUCCEEDED", name="data/ok")
    return FakeStore({"failed": (failed, validation_failed_history().events), "ok": (ok, [])})


@pytest.fixture
def routes(store: FakeStore) -> UiRoutes:
    return UiRoutes(
        store,
        {MACHINE: PIPELINE},
        lambda info: {"Approval page": f"/approvals/{info['name']}"},
        source="test store",
        clock=lambda: T0 + timedelta(hours=1),
    )


def test_root_redirects_to_executions(routes: UiRoutes):
    status, headers, body = routes.handle("GET", "/")
    assert (status, headers["Location"], body) == (302, "/executions", b"")


def test_executions_page_lists_executions_with_the_error_of_failed_ones(routes: UiRoutes, store: FakeStore):
    status, headers, body = routes.handle("GET", "/executions")
    page = body.decode()
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert 'href="executions/data-failed"' in page
    assert 'href="executions/data%2Fok"' in page
    assert "DataValidationError" in page
    assert store.calls == ["list", f"describe {described('FAILED', name='data-failed')['executionArn']}"]


def test_executions_page_filters_by_status_from_the_query(routes: UiRoutes):
    _, _, body = routes.handle("GET", "/executions?status=SUCCEEDED")
    assert "data/ok" in body.decode()
    assert "data-failed" not in body.decode()
    _, _, body = routes.handle("GET", "/executions", "status=FAILED")
    assert "data/ok" not in body.decode()


def test_executions_page_filters_by_model_from_the_query(routes: UiRoutes, store: FakeStore):
    for info, _ in store.executions.values():
        info["model"] = "credit-risk" if info["name"] == "data/ok" else "other"
    _, _, body = routes.handle("GET", "/executions", "model=credit-risk")
    assert "data/ok" in body.decode()
    assert "data-failed" not in body.decode()


def test_execution_page_renders_failure_graph_and_evidence(routes: UiRoutes):
    status, _, body = routes.handle("GET", "/executions/data-failed")
    page = body.decode()
    assert status == 200
    assert by_testid(page, "failed-state") == "Validate Data"
    assert by_testid(page, "failed-outcome") == "fault: someone must fix it"
    assert node_status(page, "Validate Data") == "failed"
    assert '<a href="/approvals/data-failed">Approval page</a>' in page
    assert 'href="data-failed/history.json"' in page


def test_execution_name_with_an_encoded_slash_is_found(routes: UiRoutes):
    status, _, body = routes.handle("GET", "/executions/data%2Fok")
    assert status == 200
    assert "data/ok" in body.decode()


def test_history_json_is_get_execution_history_shaped(routes: UiRoutes):
    status, headers, body = routes.handle("GET", "/executions/data-failed/history.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    events = json.loads(body)["events"]
    assert events == validation_failed_history().events


def test_healthz(routes: UiRoutes):
    assert routes.handle("GET", "/healthz")[:1] == (200,)
    assert json.loads(routes.handle("GET", "/healthz")[2]) == {"status": "ok"}


def test_unknown_execution_is_a_404_page_that_says_what_to_do(routes: UiRoutes):
    status, headers, body = routes.handle("GET", "/executions/data-nope")
    page = body.decode()
    assert status == 404
    assert headers["Content-Type"].startswith("text/html")
    assert "Execution not found" in page
    assert "data-nope" in page
    assert 'href="/executions"' in page
    assert "--data-dir" in page


def test_unknown_execution_history_json_is_a_404(routes: UiRoutes):
    assert routes.handle("GET", "/executions/data-nope/history.json")[0] == 404


def test_unknown_path_is_a_404(routes: UiRoutes):
    status, _, body = routes.handle("GET", "/admin")
    assert status == 404
    assert "List the executions" not in body.decode()
    assert "All executions" in body.decode()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("path", ["/", "/executions", "/executions/data-failed", "/healthz"])
def test_every_other_method_is_405_and_touches_nothing(routes: UiRoutes, store: FakeStore, method: str, path: str):
    status, headers, body = routes.handle(method, path)
    assert status == 405
    assert headers["Allow"] == "GET"
    assert "read-only" in body.decode()
    assert store.calls == []


def test_a_failing_store_gives_a_500_page_not_a_crash(store: FakeStore):
    class Broken(FakeStore):
        def list_executions(self) -> list[dict[str, Any]]:
            raise RuntimeError("database is locked <b>")

    routes = UiRoutes(Broken(store.executions), {}, None)
    status, _, body = routes.handle("GET", "/executions")
    assert status == 500
    assert "database is locked &lt;b&gt;" in body.decode()


def test_routes_mounted_under_a_prefix_redirect_within_it(store: FakeStore):
    routes = UiRoutes(store, {}, None, prefix="/ui/")
    assert routes.handle("GET", "/")[1]["Location"] == "/ui/executions"
    assert routes.handle("GET", "/executions/")[1]["Location"] == "/ui/executions"
