"""Where a redrive continues, how attempts merge into one history, and the crash-safe journal."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.errors import ExecutionNotFoundError, RedriveNotPossible
from governed_mlops_local.executions import ExecutionStore, Journal, merge_attempts, read_journal
from governed_mlops_local.redrive import ResumePoint, resume_point

STATES: dict[str, dict[str, Any]] = {
    "Validate": {"Type": "Task"},
    "Train": {"Type": "Task"},
    "Record Rejection": {"Type": "Task"},
    "Pipeline Failed": {"Type": "Fail"},
    "Model Rejected": {"Type": "Fail"},
}
ARN = "arn:aws:states:eu-west-1:123456789012:execution:governed-mlops-training-pipeline:data-abc"
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:governed-mlops-training-pipeline"


def entered(name: str, state_input: dict[str, Any], kind: str = "TaskStateEntered") -> dict[str, Any]:
    return {"type": kind, "stateEnteredEventDetails": {"name": name, "input": json.dumps(state_input)}}


def exited(name: str, kind: str = "TaskStateExited") -> dict[str, Any]:
    return {"type": kind, "stateExitedEventDetails": {"name": name, "output": "{}"}}


def event(kind: str) -> dict[str, Any]:
    return {"type": kind}


def test_an_interrupted_execution_resumes_at_the_state_it_was_in_with_that_states_input():
    history = [
        event("ExecutionStarted"),
        entered("Validate", {"step": 1}),
        event("TaskSucceeded"),
        exited("Validate"),
        entered("Train", {"step": 2}),
        event("TaskScheduled"),
    ]
    point = resume_point(history, STATES)
    assert (point.state, point.state_input) == ("Train", {"step": 2})


def test_a_failure_caught_into_a_fail_state_resumes_at_the_failed_task_not_the_fail_state():
    history = [
        entered("Validate", {"step": 1}),
        exited("Validate"),
        entered("Train", {"step": 2}),
        event("TaskFailed"),
        exited("Train"),
        entered("Pipeline Failed", {"error": "x"}, "FailStateEntered"),
        event("ExecutionFailed"),
    ]
    point = resume_point(history, STATES)
    assert (point.state, point.state_input) == ("Train", {"step": 2})


def test_an_uncaught_failure_resumes_at_the_state_that_never_exited():
    history = [entered("Validate", {"step": 1}), event("LambdaFunctionFailed"), event("ExecutionFailed")]
    assert resume_point(history, STATES).state == "Validate"


def test_a_fail_state_reached_by_design_is_an_outcome_and_is_refused():
    history = [
        entered("Record Rejection", {"decision": "rejected"}),
        event("LambdaFunctionSucceeded"),
        exited("Record Rejection"),
        entered("Model Rejected", {}, "FailStateEntered"),
        event("ExecutionFailed"),
    ]
    with pytest.raises(RedriveNotPossible, match="Model Rejected.*start a new execution"):
        resume_point(history, STATES)


def test_a_task_that_failed_once_then_succeeded_on_retry_is_not_taken_for_the_fault():
    history = [
        entered("Record Rejection", {}),
        event("LambdaFunctionFailed"),
        event("LambdaFunctionSucceeded"),
        exited("Record Rejection"),
        entered("Model Rejected", {}, "FailStateEntered"),
    ]
    with pytest.raises(RedriveNotPossible):
        resume_point(history, STATES)


def test_an_execution_interrupted_before_its_first_state_starts_again_at_the_start_with_its_input():
    start = ResumePoint("Validate", {"request": {"model": "credit-risk"}})
    assert resume_point([event("ExecutionStarted")], STATES, start=start) == start
    assert resume_point([], STATES, start=start) == start
    # Without a start point (the AWS path), there is nothing to continue from
    with pytest.raises(RedriveNotPossible, match="no unfinished state"):
        resume_point([event("ExecutionStarted")], STATES)


def test_a_history_with_nothing_unfinished_cannot_be_redriven():
    with pytest.raises(RedriveNotPossible, match="no unfinished state"):
        resume_point([entered("Validate", {}), exited("Validate"), event("ExecutionSucceeded")], STATES)


def test_attempts_merge_into_one_history_whose_ids_continue():
    first = [{"id": 1, "previousEventId": 0, "type": "ExecutionStarted"}, {"id": 2, "previousEventId": 1, "type": "X"}]
    second = [
        {"id": 1, "previousEventId": 0, "type": "ExecutionRedriven"},
        {"id": 2, "previousEventId": 1, "type": "Y"},
    ]
    merged = merge_attempts([first, second])
    assert [(e["id"], e["previousEventId"], e["type"]) for e in merged] == [
        (1, 0, "ExecutionStarted"),
        (2, 1, "X"),
        (3, 2, "ExecutionRedriven"),
        (4, 3, "Y"),
    ]


def test_the_journal_redacts_task_tokens_and_a_torn_last_line_is_dropped(tmp_path: Path):
    path = tmp_path / "attempt-0.jsonl"
    journal = Journal(path)
    journal.append(
        {
            "id": 1,
            "type": "TaskScheduled",
            "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
            "taskScheduledEventDetails": {"parameters": '{"task_token":"AAAA-secret-token"}'},
        }
    )
    journal.close()
    with path.open("a") as handle:
        handle.write('{"id": 2, "type": "Task')  # the process died in the middle of this write
    events = read_journal(path)
    assert [e["id"] for e in events] == [1]
    assert "AAAA-secret-token" not in path.read_text()
    assert events[0]["timestamp"] == "2026-01-01T00:00:00+00:00"


def _store_with(tmp_path: Path, status: str, owner_pid: int) -> ExecutionStore:
    store = ExecutionStore(tmp_path)
    assert store.reserve(MACHINE, ARN, "data-abc", "{}", datetime(2026, 1, 1, tzinfo=UTC))
    if status != "RUNNING":
        store.save({"executionArn": ARN, "status": status})
    import sqlite3

    with sqlite3.connect(tmp_path / "stepfunctions.db") as conn:
        conn.execute("UPDATE executions SET owner_pid=? WHERE execution_arn=?", (owner_pid, ARN))
    return store


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_an_execution_whose_process_died_is_listed_as_interrupted_and_can_be_claimed_once(tmp_path: Path):
    store = _store_with(tmp_path, "RUNNING", _dead_pid())
    assert store.describe("data-abc")["status"] == "INTERRUPTED"
    claimed = store.claim_redrive("data-abc", datetime(2026, 1, 2, tzinfo=UTC))
    assert (claimed["previous_status"], claimed["redrive_count"]) == ("INTERRUPTED", 1)
    described = store.describe("data-abc")
    assert (described["status"], described["redriveCount"]) == ("RUNNING", 1)
    # This process now runs it: a second redrive is refused while it is alive.
    with pytest.raises(RedriveNotPossible, match="still running"):
        store.claim_redrive("data-abc", datetime(2026, 1, 2, tzinfo=UTC))
    assert store.attempt(ARN) == 1


def test_a_succeeded_execution_or_an_unknown_name_cannot_be_redriven(tmp_path: Path):
    store = _store_with(tmp_path, "SUCCEEDED", os.getpid())
    with pytest.raises(RedriveNotPossible, match="succeeded"):
        store.claim_redrive("data-abc", datetime(2026, 1, 2, tzinfo=UTC))
    assert store.describe("data-abc")["redriveCount"] == 0
    with pytest.raises(ExecutionNotFoundError, match="mlops executions"):
        store.claim_redrive("no-such-run", datetime(2026, 1, 2, tzinfo=UTC))


def test_a_data_directory_from_before_redrive_is_upgraded_in_place(tmp_path: Path):
    import sqlite3

    with sqlite3.connect(tmp_path / "stepfunctions.db") as conn:
        conn.execute(
            "CREATE TABLE executions (execution_arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, "
            "name TEXT NOT NULL, status TEXT NOT NULL, start_date TEXT NOT NULL, stop_date TEXT, input TEXT NOT NULL,"
            " output TEXT, error TEXT, cause TEXT, owner_pid INTEGER NOT NULL, history TEXT NOT NULL DEFAULT '[]',"
            " UNIQUE (state_machine_arn, name))"
        )
        old_history = [{"id": 1, "type": "ExecutionStarted", "timestamp": "2026-01-01T00:00:00+00:00"}]
        conn.execute(
            "INSERT INTO executions VALUES (?, ?, 'data-abc', 'SUCCEEDED', '2026-01-01', NULL, '{}', NULL, NULL,"
            " NULL, 1, ?)",
            (ARN, MACHINE, json.dumps(old_history)),
        )
    store = ExecutionStore(tmp_path)
    assert store.describe("data-abc")["redriveCount"] == 0
    assert store.history("data-abc") == old_history
