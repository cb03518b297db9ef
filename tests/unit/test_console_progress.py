"""Console progress: a failed state in red ✗ (retried or caught), and a reminder while a person must decide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from governed_mlops.adapters.approvals import LocalApprovalStore, LocalOutbox
from governed_mlops_local.cli.progress import approval_watcher, progress
from tests.conftest import pending_approval

ARN = "arn:aws:states:us-east-1:000000000000:execution:training-pipeline:data-1"


def _event(kind: str, **details: Any) -> dict[str, Any]:
    key = kind[0].lower() + kind[1:] + "EventDetails"
    if kind.endswith("StateEntered"):
        key = "stateEnteredEventDetails"
    elif kind.endswith("StateExited"):
        key = "stateExitedEventDetails"
    return {"type": kind, key: details}


def test_a_failed_state_shows_red_and_says_whether_it_was_retried_or_caught(capfd: pytest.CaptureFixture[str]) -> None:
    on_event = progress()
    for event in [
        _event("TaskStateEntered", name="Validate Data"),
        _event("LambdaFunctionFailed", error="Lambda.ServiceException"),
        _event("LambdaFunctionSucceeded"),
        _event("TaskStateExited", name="Validate Data"),
        _event("TaskStateEntered", name="Train Model"),
        _event("TaskFailed", error="SageMakerJobFailed"),
        _event("TaskStateExited", name="Train Model"),
        _event("ExecutionFailed", error="SageMakerJobFailed"),
    ]:
        on_event(ARN, event)
    lines = [line.strip() for line in capfd.readouterr().out.splitlines()]
    assert lines[0] == "data-1  ✗ Validate Data          Lambda.ServiceException"
    assert lines[1] == "data-1  ↻ Validate Data          retried: succeeded"
    assert lines[2].startswith("data-1  ✓ Validate Data")
    assert lines[3] == "data-1  ✗ Train Model            SageMakerJobFailed"
    assert lines[4].startswith("data-1  ↷ Train Model")
    assert lines[4].endswith("SageMakerJobFailed caught: the run goes on")
    assert lines[5] == "data-1  ✗ FAILED: SageMakerJobFailed"


def test_while_a_person_must_decide_a_line_every_30_seconds_says_who_the_link_and_the_time_left(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    store = LocalApprovalStore(tmp_path)
    record = pending_approval(now, "a" * 32).model_copy(
        update={"expires_at": now + timedelta(minutes=45, seconds=30), "approvals_required": 2}
    )
    store.create(record, "token")
    clock = SimpleNamespace(now=0.0)
    watcher = approval_watcher(SimpleNamespace(data_dir=tmp_path), (), clock=lambda: clock.now, every=30.0)
    LocalOutbox(tmp_path).publish(
        "Approval needed: credit-risk/1",
        f"... decide: https://x/approvals/aaa\nThe link expires at {record.expires_at.isoformat()}.",
        {
            "approval_id": "a" * 32,
            "model_version": "credit-risk/1",
            "model": "credit-risk",
            "approvals_required": "2",
            "link": "https://x/approvals/aaa",
        },
    )

    watcher()  # t=0: the request is announced
    clock.now = 29.0
    watcher()  # not yet
    clock.now = 31.0
    watcher()  # a reminder
    store.set_status("a" * 32, "approved")
    clock.now = 70.0
    watcher()  # decided: no more reminders

    out = capfd.readouterr().out
    assert "⏸ Approval needed: credit-risk/1" in out
    reminders = [line.strip() for line in out.splitlines() if "still waiting" in line]
    assert reminders == [
        "… still waiting for 2 approver(s) of credit-risk on credit-risk/1; 45 min left: https://x/approvals/aaa"
    ]


def _request(tmp_path: Path, approval_id: str, execution: str) -> None:
    LocalOutbox(tmp_path).publish(
        f"Approval needed: {execution}",
        "... decide: https://x/approvals/x",
        {
            "approval_id": approval_id,
            "model_version": "credit-risk/1",
            "model": "credit-risk",
            "approvals_required": "1",
            "link": f"https://x/approvals/{approval_id}",
            "execution": execution,
        },
    )


def test_a_request_the_followed_run_published_before_the_watcher_was_made_is_still_shown(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given the outbox already holds, when the watcher is made (a fast run: its events are sent first),
    # a pending request of the followed run, a decided one of the same run (an earlier attempt), and a
    # pending one of an earlier run nobody asked to follow
    store = LocalApprovalStore(tmp_path)
    now = datetime.now(UTC)
    for approval_id in ("a" * 32, "b" * 32, "c" * 32):
        store.create(pending_approval(now, approval_id), "token")
    store.set_status("b" * 32, "rejected")
    _request(tmp_path, "b" * 32, "data-1")
    _request(tmp_path, "c" * 32, "data-0")
    _request(tmp_path, "a" * 32, "data-1")

    # When the watcher of run data-1 looks for the first time
    watcher = approval_watcher(SimpleNamespace(data_dir=tmp_path), (), arns=[ARN])
    watcher()
    watcher()  # shown once

    # Then only the followed run's pending request is announced, with its link
    out = capfd.readouterr().out
    announced = [line.strip() for line in out.splitlines() if "Review and decide" in line]
    assert announced == [f"Review and decide in a browser: https://x/approvals/{'a' * 32}"]


def test_a_watcher_that_follows_no_run_skips_what_the_outbox_held_before_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    LocalApprovalStore(tmp_path).create(pending_approval(datetime.now(UTC), "a" * 32), "token")
    _request(tmp_path, "a" * 32, "data-1")
    watcher = approval_watcher(SimpleNamespace(data_dir=tmp_path), ())
    watcher()
    assert "Review and decide" not in capfd.readouterr().out
