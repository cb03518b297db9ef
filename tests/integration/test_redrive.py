"""Redrive and crash safety: kill -9 the runtime mid-training and mid-approval; nothing is lost or run twice."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from governed_mlops.adapters.approvals import LocalApprovalStore, read_outbox
from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.errors import RedriveNotPossible
from governed_mlops_local import approval_client
from governed_mlops_local.executions import ExecutionStore
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_local.sagemaker import SageMakerError
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR, auto_approver
from tests.waiting import until

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]
APPROVER = "carol.approver"
SECOND_APPROVER = "dave.risk"
#: credit-risk is high risk: two distinct approvers.
APPROVE_AS = ("--approve-as", APPROVER, "--approve-as", SECOND_APPROVER)


def _entered(history: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]


def _after_redrive(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    index = max(i for i, e in enumerate(history) if e["type"] == "ExecutionRedriven")
    return history[index:]


def _assert_consistent(data_dir: Path) -> None:
    """Nothing half-written: every stored object is whole and the audit ledger verifies."""
    blobs = [p for p in (data_dir / "s3" / "_blobs").rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert blobs
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, f"torn object {blob}"
    assert not list((data_dir / "s3" / "_blobs").rglob(".*.tmp")), "a temp file was left behind"
    verified = LocalAuditLedger(data_dir, load_or_create_key(data_dir)).verify()
    assert verified.ok, verified.problem


def test_a_failed_execution_is_redriven_from_the_failed_state_and_keeps_its_name(tmp_path: Path):
    calls: list[str] = []

    def quota_once(operation: str, request: dict[str, Any]) -> None:
        calls.append(request.get("TrainingJobName") or request.get("ProcessingJobName", ""))
        if operation == "CreateTrainingJob" and request["TrainingJobName"].endswith("-train-0"):
            raise SageMakerError("SageMaker.ResourceLimitExceededException", "account quota for ml.m5.large reached")

    with LocalRuntime(PROJECT_DIR, tmp_path / "data") as runtime:
        runtime.sagemaker.fault_hook = quota_once
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        arn = deliveries[0].result["runs"][0]["execution_arn"]
        (failed,) = runtime.wait([arn])
        assert (failed["status"], failed["error"]) == ("FAILED", "SageMaker.ResourceLimitExceededException")
        assert LocalModelRegistry(runtime.data_dir).list_versions() == []

        started = runtime.redrive(failed["name"])
        assert (started.execution_arn, started.resumed_state, started.redrive_count) == (arn, "Train Model", 1)
        (result,) = runtime.wait([arn], on_tick=auto_approver(runtime))
        history = runtime.executions.history(failed["name"])
        described = runtime.executions.describe(failed["name"])
        with pytest.raises(RedriveNotPossible, match="succeeded"):
            runtime.redrive(failed["name"])

    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert (described["redriveCount"], described["executionArn"]) == (1, arn)
    types = [e["type"] for e in history]
    assert types.index("ExecutionFailed") < types.index("ExecutionRedriven")
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))
    # The states that had finished are not run again; the redrive starts at the failed one.
    assert _entered(_after_redrive(history))[0] == "Train Model"
    for state in ("Validate Data", "Prepare Data", "Check Data Bias", "Gate Data Bias"):
        assert _entered(history).count(state) == 1, state
    assert [c for c in calls if "-bias-pre-" in c] == [f"{failed['name']}-bias-pre-0"]
    # SageMaker job names are unique per account: the redrive's job carries the redrive count.
    assert f"{failed['name']}-train-1" in calls
    (version,) = LocalModelRegistry(tmp_path / "data").list_versions()
    assert version.training_job_name == f"{failed['name']}-train-1"
    assert version.execution_name == failed["name"]
    _assert_consistent(tmp_path / "data")


def test_a_rejected_model_is_an_outcome_not_a_fault_and_is_not_redriven(tmp_path: Path):
    def reject(runtime: LocalRuntime) -> Callable[[], None]:
        done: set[str] = set()

        def tick() -> None:
            for message in read_outbox(runtime.data_dir):
                link = message["attributes"].get("link")
                if link and message["message_id"] not in done:
                    done.add(message["message_id"])
                    approval_client.decide(link, APPROVER, "reject", "AUC too low for retail")

        return tick

    with LocalRuntime(PROJECT_DIR, tmp_path / "data") as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=reject(runtime))
        assert result["status"] == "FAILED"
        before = runtime.executions.describe(result["name"])
        with pytest.raises(RedriveNotPossible, match="Model Rejected.*start a new execution"):
            runtime.redrive(result["name"])
        assert runtime.executions.describe(result["name"]) == before


# -- kill -9 ---------------------------------------------------------------------------------------
def _mlops(data_dir: Path, *args: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "governed_mlops_local.cli", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # PYTHONFAULTHANDLER: a process that hangs prints every thread's stack when sent SIGABRT (_stop_server).
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        **popen,
    )


def _stop_server(server: subprocess.Popen[str], timeout: float = 60) -> None:
    """Ctrl-C ``mlops serve`` and wait for it to end; if it does not, fail with where each of its threads is."""
    server.send_signal(signal.SIGINT)
    try:
        server.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.send_signal(signal.SIGABRT)  # faulthandler (PYTHONFAULTHANDLER) prints every thread's stack
        output, _ = server.communicate(timeout=30)
        pytest.fail(f"mlops serve did not stop within {timeout:.0f} s of Ctrl-C; its output and stacks:\n{output}")


def _zygote_pid(data_dir: Path) -> int | None:
    ready = data_dir / "run" / "zygote.sock.ready"
    return int(ready.read_text()) if ready.exists() else None


def _kill_9_the_server_and(follower: subprocess.Popen[str], data_dir: Path) -> None:
    """``kill -9`` of the local server running the execution (the command only follows it), then the command."""
    serving = approval_client.serving_runtime(data_dir)
    assert serving is not None, "the command handed its work to a local server"
    os.kill(serving.pid, signal.SIGKILL)
    until(lambda: approval_client.serving_runtime(data_dir) is None, 30, "the server to be gone")
    follower.kill()
    follower.wait()
    follower.stdout.close()  # type: ignore[union-attr]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_9_during_training_then_redrive_resumes_at_training(tmp_path: Path):
    data_dir = tmp_path / "data"
    child = _mlops(data_dir, "upload", str(GERMAN_CREDIT), "--model", "credit-risk", "--wait", *APPROVE_AS)
    jobs = data_dir / "sagemaker" / "training-jobs"
    job = until(lambda: next(iter(jobs.glob("*-train-0")), None) if jobs.exists() else None, 180, "training")
    zygote = _zygote_pid(data_dir)
    _kill_9_the_server_and(child, data_dir)

    store = ExecutionStore(data_dir)
    (execution,) = store.list_executions()
    name = execution["name"]
    assert execution["status"] == "INTERRUPTED"
    assert job.name == f"{name}-train-0"
    history = store.history(name)
    assert _entered(history)[-1] == "Train Model", "the journal holds every event up to the kill"
    assert LocalModelRegistry(data_dir).list_versions() == []
    if zygote is not None:
        until(lambda: not _alive(zygote), 5, "the job zygote to exit with its runtime")
    _assert_consistent(data_dir)

    shown = subprocess.run(
        [sys.executable, "-m", "governed_mlops_local.cli", "--data-dir", str(data_dir), "history", name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "INTERRUPTED" in shown.stdout
    assert f"mlops redrive {name}" in shown.stdout

    redriven = _mlops(data_dir, "redrive", name, *APPROVE_AS)
    output, _ = redriven.communicate(timeout=300)
    assert redriven.returncode == 0, output
    assert "continues at state 'Train Model'" in output
    assert "it was INTERRUPTED" in output

    described = store.describe(name)
    history = store.history(name)
    assert (described["status"], described["redriveCount"]) == ("SUCCEEDED", 1)
    assert _entered(_after_redrive(history))[0] == "Train Model"
    assert _entered(history).count("Validate Data") == 1
    (version,) = LocalModelRegistry(data_dir).list_versions()
    assert (version.training_job_name, version.status) == (f"{name}-train-1", "Approved")
    _assert_consistent(data_dir)


def test_kill_9_while_an_approval_is_pending_then_a_restart_keeps_the_link_working(tmp_path: Path):
    data_dir = tmp_path / "data"
    child = _mlops(data_dir, "upload", str(GERMAN_CREDIT), "--model", "credit-risk", "--wait")
    message = until(
        lambda: next((m for m in read_outbox(data_dir) if "link" in m["attributes"]), None), 180, "approval"
    )
    link = message["attributes"]["link"]
    _kill_9_the_server_and(child, data_dir)

    store = ExecutionStore(data_dir)
    (execution,) = store.list_executions()
    assert execution["status"] == "INTERRUPTED"
    (pending,) = LocalApprovalStore(data_dir).list_records()
    assert pending.status == "pending"

    # Restart the long-lived runtime on the port the link names: it resumes the waiting run.
    server = _mlops(data_dir, "serve", "--port", str(urlsplit(link).port), "--as", "local-user")
    try:
        assert server.stdout is not None
        lines: list[str] = []
        until(lambda: lines.append(server.stdout.readline()) or "resumed" in lines[-1], 120, "the resume")
        assert approval_client.decide(link, APPROVER, "approve", "approved after the restart")["status"] == "pending"
        answer = approval_client.decide(link, SECOND_APPROVER, "approve", "second approval")
        assert answer["status"] == "approved"
        until(lambda: store.describe(execution["name"])["status"] == "SUCCEEDED", 180, "the pipeline to finish")
    finally:
        _stop_server(server)

    approvals = [m for m in read_outbox(data_dir) if "link" in m["attributes"]]
    assert len(approvals) == 1, "the approvers were notified once, not again after the restart"
    (decided,) = LocalApprovalStore(data_dir).list_records()
    assert (decided.approval_id, decided.status) == (pending.approval_id, "approved")
    assert decided.decided_by == f"{APPROVER}, {SECOND_APPROVER}"
    (version,) = LocalModelRegistry(data_dir).list_versions()
    assert version.status == "Approved"
    assert version.deployments
    history = store.history(execution["name"])
    assert _entered(_after_redrive(history))[0] == "Request Approval"
    assert _entered(history).count("Train Model") == 1
    assert "approval.resumed" in json.dumps(
        [json.loads(line) for line in (data_dir / "audit" / "ledger.jsonl").read_text().splitlines()]
    )
    _assert_consistent(data_dir)
