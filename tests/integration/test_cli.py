"""The `mlops` command as engineers and on-call staff use it, in separate processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops_local.runtime import LOCAL_IMAGES, STACK_NAME
from governed_mlops_local.template import load_template
from tests.conftest import EVENTS_DIR, GERMAN_CREDIT, PROJECT_DIR
from tests.waiting import until

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]
MLOPS = str(Path(sys.executable).parent / "mlops")
APPROVER = "carol.approver"
#: credit-risk is high risk: two distinct approvers.
APPROVE_AS = ("--approve-as", APPROVER, "--approve-as", "dave.risk")


def mlops(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"mlops {' '.join(args)} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
        )
    return completed


def test_push_twice_from_two_processes_runs_one_execution_per_commit(data_dir: Path):
    # Given a dataset in the data bucket
    mlops(data_dir, "upload", str(GERMAN_CREDIT), "--model", "credit-risk", "--wait", *APPROVE_AS)
    # When the same push event is sent twice, each time from a new process
    push = str(EVENTS_DIR / "codecommit_push.json")
    first = mlops(data_dir, "trigger", push, "--wait", *APPROVE_AS)
    second = mlops(data_dir, "trigger", push, "--wait", *APPROVE_AS)
    # Then one execution exists for that commit, and it succeeded
    assert "started push-3f1c2b7d9e8a4c6b" in first.stdout
    assert "duplicate push-3f1c2b7d9e8a4c6b" in second.stdout
    listed = json.loads(mlops(data_dir, "executions", "--json").stdout)["executions"]
    pushes = [e for e in listed if e["name"].startswith("push-")]
    assert [e["status"] for e in pushes] == ["SUCCEEDED"]
    assert {"executionArn", "name", "status", "startDate", "stopDate"} <= set(pushes[0])


def test_feature_branch_push_starts_nothing(data_dir: Path):
    completed = mlops(data_dir, "trigger", str(EVENTS_DIR / "codecommit_push_feature_branch.json"), "--wait")
    assert "No rule matched" in completed.stdout
    assert json.loads(mlops(data_dir, "executions", "--json").stdout)["executions"] == []


def test_upload_without_target_fails_with_validation_error(data_dir: Path, tmp_path: Path):
    lines = GERMAN_CREDIT.read_text().splitlines()
    broken = tmp_path / "no_target.csv"
    broken.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    completed = mlops(data_dir, "upload", str(broken), "--model", "credit-risk", "--wait", check=False)
    assert completed.returncode == 1
    assert "DataValidationError" in completed.stdout
    assert "creditability" in completed.stdout
    name = json.loads(mlops(data_dir, "executions", "--json").stdout)["executions"][0]["name"]
    page = mlops(data_dir, "history", name).stdout
    assert page.splitlines()[1] == "FAILED in state: Validate Data"
    events = json.loads(mlops(data_dir, "history", name, "--json").stdout)["events"]
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["executionFailedEventDetails"]["error"] == "DataValidationError"
    assert "No model versions" in mlops(data_dir, "models", "versions").stdout


def test_an_upload_the_trigger_refuses_exits_1_with_the_error_even_without_wait(data_dir: Path):
    key = "datasets/no-such-model/german_credit.csv"
    completed = mlops(data_dir, "upload", str(GERMAN_CREDIT), "--key", key, check=False)
    assert completed.returncode == 1, completed.stdout
    assert "TriggerFunction: UnknownModelError: model 'no-such-model'" in completed.stdout
    assert json.loads(mlops(data_dir, "executions", "--json").stdout)["executions"] == []


def test_a_push_waits_in_the_background_for_an_approval_given_from_a_second_terminal(data_dir: Path):
    # Given a dataset in the data bucket and no approved model yet (a push retraining an approved model on
    # the same data, code and configuration would end as NoChange without asking anyone)
    template = load_template(PROJECT_DIR / "template.yaml", stack_name=STACK_NAME, parameter_overrides=LOCAL_IMAGES)
    LocalObjectStore(data_dir).put(
        template.buckets["DataBucket"].name, "datasets/credit-risk/german_credit.csv", GERMAN_CREDIT.read_bytes()
    )
    # When a push is triggered without --wait
    completed = mlops(data_dir, "trigger", str(EVENTS_DIR / "codecommit_push.json"))
    assert "started push-" in completed.stdout
    assert "Running on the local server" in completed.stdout
    # Then the execution pauses at the approval, which another process can see and decide
    pending = until(
        lambda: [r for r in json.loads(mlops(data_dir, "approvals", "--json").stdout) if r["status"] == "pending"],
        120,
        "an approval request",
        poll=0.5,
    )
    first = mlops(data_dir, "approve", pending[0]["approval_id"], "--as", APPROVER, "--reason", "looks good")
    assert "approvals: 1 of 2 (carol.approver); waiting for another approver" in first.stdout
    approved = mlops(data_dir, "approve", pending[0]["approval_id"], "--as", "dave.risk", "--reason", "agreed")
    assert "approved by carol.approver, dave.risk" in approved.stdout

    def ended() -> str | None:
        listed = json.loads(mlops(data_dir, "executions", "--json").stdout)["executions"]
        status = next(e["status"] for e in listed if e["name"].startswith("push-"))
        return None if status == "RUNNING" else status

    assert until(ended, 120, "the push execution to end", poll=0.5) == "SUCCEEDED"


def test_history_of_an_unknown_execution_is_a_clear_error(data_dir: Path):
    completed = mlops(data_dir, "history", "no-such-execution", check=False)
    assert completed.returncode == 2
    assert "no execution named 'no-such-execution'" in completed.stderr


def test_trigger_with_a_file_that_is_not_json_is_a_clear_error(data_dir: Path, tmp_path: Path):
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    completed = mlops(data_dir, "trigger", str(bad), "--wait", check=False)
    assert completed.returncode == 2
    assert "is not JSON" in completed.stderr
