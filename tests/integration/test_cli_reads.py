"""Read commands and bad input of `mlops`, each in its own process, on a seeded execution store."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from governed_mlops_local.executions import ExecutionStore
from tests.conftest import PROJECT_DIR

MLOPS = str(Path(sys.executable).parent / "mlops")
MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:training-pipeline"


def mlops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def seed(data_dir: Path, name: str, status: str, *, started: datetime, error: str | None = None) -> None:
    store = ExecutionStore(data_dir)
    arn = f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}"
    assert store.reserve(MACHINE, arn, name, "{}", started)
    store.save(
        {"executionArn": arn, "status": status, "stopDate": started + timedelta(seconds=5), "error": error}
        | ({"cause": "boom"} if error else {})
    )


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    data_dir = tmp_path / "state"
    data_dir.mkdir()
    now = datetime.now(UTC)
    seed(data_dir, "push-aaaa1111-01", "SUCCEEDED", started=now - timedelta(days=3))
    seed(data_dir, "push-aaaa2222-02", "FAILED", started=now - timedelta(minutes=10), error="DataValidationError")
    seed(data_dir, "data-bbbb3333-03", "SUCCEEDED", started=now - timedelta(minutes=5))
    return data_dir


# -- mlops trigger: bad input is refused before anything starts --------------------------------------
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("{not json", "is not JSON"),
        ('[{"source": "aws.codecommit"}]', "holds a JSON list, not an event object"),
        ('"a string"', "holds a JSON str, not an event object"),
    ],
    ids=["missing-file", "malformed-json", "json-array", "json-string"],
)
def test_trigger_refuses_a_bad_event_file_with_a_named_error_before_starting_anything(
    tmp_path: Path, content: str | None, expected: str
):
    # Given an event file that is missing or not one JSON object, and no runtime state yet
    data_dir = tmp_path / "state"
    event_file = tmp_path / "event.json"
    if content is not None:
        event_file.write_text(content)
    # When it is triggered without --wait (which would otherwise start the local server in the background)
    completed = mlops(data_dir, "trigger", str(event_file))
    # Then the named error is printed, the exit code is 2 and nothing was started
    assert completed.returncode == 2
    assert f"InvalidEventError: {event_file} {expected}" in completed.stderr
    assert "starting one in the background" not in completed.stdout
    assert not data_dir.exists()


# -- mlops history NAME-PREFIX --------------------------------------------------------------------------
def test_history_accepts_a_unique_prefix_of_an_execution_name(seeded: Path):
    completed = mlops(seeded, "history", "push-aaaa2")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[0].split() == ["push-aaaa2222-02", "FAILED"]


def test_history_of_an_ambiguous_prefix_is_a_named_error_listing_the_candidates(seeded: Path):
    completed = mlops(seeded, "history", "push-aaaa")
    assert completed.returncode == 2
    assert "AmbiguousExecutionName: 'push-aaaa' matches 2 executions" in completed.stderr
    assert "push-aaaa2222-02, push-aaaa1111-01" in completed.stderr


def test_history_of_an_unknown_name_is_a_named_error(seeded: Path):
    completed = mlops(seeded, "history", "push-zzzz")
    assert completed.returncode == 2
    assert "ExecutionNotFoundError: no execution named 'push-zzzz'" in completed.stderr


def test_history_prefix_treats_sql_wildcards_as_plain_characters(seeded: Path):
    completed = mlops(seeded, "history", "push-____")
    assert completed.returncode == 2
    assert "ExecutionNotFoundError" in completed.stderr


# -- mlops executions --------------------------------------------------------------------------------------
def test_executions_shows_status_and_error_columns(seeded: Path):
    lines = mlops(seeded, "executions").stdout.splitlines()
    assert lines[0].split() == ["NAME", "MODEL", "STATUS", "STARTED", "DURATION", "ERROR"]
    failed = next(line for line in lines if line.startswith("push-aaaa2222-02"))
    assert failed.split()[2] == "FAILED"
    assert failed.endswith("DataValidationError")


def test_executions_status_filter_keeps_only_that_status(seeded: Path):
    completed = mlops(seeded, "executions", "--status", "failed", "--json")
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(completed.stdout)["executions"]
    assert [(r["name"], r["status"], r["error"]) for r in rows] == [
        ("push-aaaa2222-02", "FAILED", "DataValidationError")
    ]


def test_executions_since_a_duration_leaves_out_older_executions(seeded: Path):
    rows = json.loads(mlops(seeded, "executions", "--since", "2h", "--json").stdout)["executions"]
    assert [r["name"] for r in rows] == ["data-bbbb3333-03", "push-aaaa2222-02"]


def test_executions_since_an_iso_date_and_status_combine(seeded: Path):
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    rows = json.loads(mlops(seeded, "executions", "--since", day, "--status", "SUCCEEDED", "--json").stdout)
    assert [r["name"] for r in rows["executions"]] == ["data-bbbb3333-03"]


def test_executions_refuses_a_since_it_cannot_read(seeded: Path):
    completed = mlops(seeded, "executions", "--since", "yesterday")
    assert completed.returncode == 2
    assert "Invalid value for '--since'" in completed.stderr
