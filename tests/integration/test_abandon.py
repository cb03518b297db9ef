"""``mlops abandon NAME --reason TEXT``: an interrupted execution can be closed for good, with the reason."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from governed_mlops.adapters.approvals import LocalApprovalStore
from governed_mlops_local.executions import ExecutionStore
from tests.conftest import PROJECT_DIR, pending_approval

MLOPS = str(Path(sys.executable).parent / "mlops")
MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:training-pipeline"


def mlops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=False
    )
    return int(finished.stdout)


def started(data_dir: Path, name: str, *, owner: int) -> None:
    """An execution that entered its first state in process ``owner``."""
    store = ExecutionStore(data_dir)
    arn = f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}"
    assert store.reserve(MACHINE, arn, name, json.dumps({"request": {}}), datetime.now(UTC))
    journal = store.open_journal(arn, 0)
    journal.append({"timestamp": datetime.now(UTC), "type": "ExecutionStarted", "id": 1, "previousEventId": 0})
    journal.append(
        {
            "timestamp": datetime.now(UTC),
            "type": "TaskStateEntered",
            "id": 2,
            "previousEventId": 1,
            "stateEnteredEventDetails": {"name": "Validate Data"},
        }
    )
    journal.close()
    with sqlite3.connect(data_dir / "stepfunctions.db") as conn:
        conn.execute("UPDATE executions SET owner_pid=? WHERE name=?", (owner, name))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    return directory


def test_an_interrupted_execution_is_closed_with_the_reason_in_its_history_and_the_ledger(data_dir: Path) -> None:
    # Given an execution whose process stopped in Validate Data
    started(data_dir, "data-interrupted", owner=_dead_pid())
    assert ExecutionStore(data_dir).describe("data-interrupted")["status"] == "INTERRUPTED"

    # When an operator abandons it
    closed = mlops(data_dir, "abandon", "data-interr", "--reason", "superseded by data-2", "--as", "oncall.olga")

    # Then it is ABORTED with error Abandoned and the reason as cause, as history and the ledger say
    assert closed.returncode == 0, closed.stderr
    assert "data-interrupted: ABORTED (Abandoned) by oncall.olga: superseded by data-2" in closed.stdout
    described = ExecutionStore(data_dir).describe("data-interrupted")
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED",
        "Abandoned",
        "superseded by data-2",
    )
    history = mlops(data_dir, "history", "data-interrupted")
    assert "outcome: human decision" in history.stdout
    assert "ExecutionAborted" in history.stdout
    audit = json.loads(mlops(data_dir, "audit", "log", "--json").stdout)
    (record,) = [r for r in audit if r["action"] == "pipeline.abandoned"]
    assert (record["actor"], record["subject"], record["details"]["reason"]) == (
        "oncall.olga",
        "data-interrupted",
        "superseded by data-2",
    )
    assert mlops(data_dir, "audit", "verify").returncode == 0

    # And it cannot be abandoned twice
    again = mlops(data_dir, "abandon", "data-interrupted", "--reason", "again")
    assert again.returncode == 2
    assert "already ended (ABORTED)" in again.stderr


def test_abandoning_a_run_that_waited_for_approval_closes_its_request(data_dir: Path) -> None:
    # Given a run interrupted while it waited for its approval
    started(data_dir, "data-waiting", owner=_dead_pid())
    now = datetime.now(UTC)
    store = LocalApprovalStore(data_dir)
    arn = f"{MACHINE.replace(':stateMachine:', ':execution:')}:data-waiting"
    request = pending_approval(now, "w" * 32).model_copy(
        update={"execution_name": "data-waiting", "execution_arn": arn}
    )
    store.create(request, "task-token")

    # When it is abandoned
    closed = mlops(data_dir, "abandon", "data-waiting", "--reason", "dataset withdrawn", "--as", "oncall.olga")

    # Then its request is closed with who and why (its link says so), and the ledger records it
    assert closed.returncode == 0, closed.stderr
    assert "its pending approval request wwwwwwww… is closed" in closed.stdout
    record = store.get("w" * 32)
    assert (record.status, record.decided_by, record.reason) == (
        "expired",
        "oncall.olga",
        "execution abandoned: dataset withdrawn",
    )
    audit = json.loads(mlops(data_dir, "audit", "log", "--json").stdout)
    assert [r["action"] for r in audit if r["actor"] == "oncall.olga"] == ["pipeline.abandoned", "approval.closed"]


def test_a_running_execution_or_an_unknown_one_is_refused_with_what_to_do(data_dir: Path) -> None:
    started(data_dir, "data-running", owner=1)  # pid 1 is alive: the process still runs it
    running = mlops(data_dir, "abandon", "data-running", "--reason", "no")
    assert running.returncode == 2
    assert "still running in process 1: stop that process first" in running.stderr
    assert ExecutionStore(data_dir).describe("data-running")["status"] == "RUNNING"

    unknown = mlops(data_dir, "abandon", "data-nope", "--reason", "no")
    assert unknown.returncode == 2
    assert "no execution named 'data-nope'" in unknown.stderr

    blank = mlops(data_dir, "abandon", "data-running", "--reason", "  ")
    assert blank.returncode == 2
    assert "say why" in blank.stderr
