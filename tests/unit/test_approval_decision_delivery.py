"""What an approver is told when Step Functions refuses the decision's task token."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from governed_mlops.adapters.approvals import FileSecret, LocalApprovalStore, LocalOutbox
from governed_mlops.domain import approval as rules
from governed_mlops.errors import ApprovalExpired, ApprovalNotWaiting
from governed_mlops.services.approval import ApprovalDeps, DecisionForm, decide
from governed_mlops.services.audit import NullAudit
from tests.conftest import pending_approval

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
APPROVER = rules.Identity(user="carol.approver", groups=frozenset({"model-approvers"}))


class RefusingSfn:
    def __init__(self, code: str) -> None:
        self.code = code

    def send_task_success(self, **_: Any) -> None:
        raise ClientError({"Error": {"Code": self.code, "Message": self.code}}, "SendTaskSuccess")


def _deps(tmp_path: Path, code: str) -> tuple[ApprovalDeps, DecisionForm]:
    store = LocalApprovalStore(tmp_path)
    record = pending_approval(NOW)
    store.create(record, "token-of-a-runtime-that-died")
    secret = FileSecret(tmp_path / "key")
    deps = ApprovalDeps(
        store=store,
        registry=mock.Mock(),
        objects=mock.Mock(),
        secret=secret,
        notifier=LocalOutbox(tmp_path),
        sfn=RefusingSfn(code),
        audit=NullAudit(),
    )
    exp = int(record.expires_at.timestamp())
    form = DecisionForm(
        decision="approve",
        csrf_token=rules.csrf_token(secret.get(), record.approval_id, APPROVER.user),
        exp=str(exp),
        sig=rules.link_signature(secret.get(), record.approval_id, exp),
    )
    return deps, form


def test_a_token_no_task_holds_right_now_keeps_the_request_pending_and_says_try_again(tmp_path: Path):
    deps, form = _deps(tmp_path, "InvalidToken")
    with pytest.raises(ApprovalNotWaiting, match="try again"):
        decide("A" * 32, form, APPROVER, deps, approver_group="model-approvers", now=NOW)
    assert deps.store.get("A" * 32).status == "pending"


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist"])
def test_a_task_that_timed_out_or_ended_expires_the_request(tmp_path: Path, code: str):
    deps, form = _deps(tmp_path, code)
    with pytest.raises(ApprovalExpired, match="stopped waiting"):
        decide("A" * 32, form, APPROVER, deps, approver_group="model-approvers", now=NOW)
    assert deps.store.get("A" * 32).status == "expired"
