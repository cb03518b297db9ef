"""Manual approval end to end on the local runtime, through the same HTTP API a browser uses."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

from governed_mlops.adapters.approvals import LocalApprovalStore, read_outbox
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local import approval_client
from governed_mlops_local.approval_client import signed_as
from governed_mlops_local.runtime import LocalRuntime
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR
from tests.waiting import until

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]
APPROVER = "carol.approver"
SECOND_APPROVER = "dave.risk"


@dataclass
class Waiting:
    runtime: LocalRuntime
    data_dir: Path
    execution_arn: str
    approval_id: str
    link: str


def _wait_for_approval(runtime: LocalRuntime, data_dir: Path, uploader: str) -> Waiting:
    _, deliveries = runtime.upload(
        GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv", requester=uploader
    )
    arn = deliveries[0].result["runs"][0]["execution_arn"]

    def sent() -> list[dict]:
        assert runtime.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        return read_outbox(data_dir)

    attributes = until(sent, 120, "the approval request")[-1]["attributes"]
    return Waiting(runtime, data_dir, arn, attributes["approval_id"], attributes["link"])


@pytest.fixture
def waiting(tmp_path: Path) -> Iterator[Waiting]:
    data_dir = tmp_path / "data"
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        yield _wait_for_approval(runtime, data_dir, uploader="alice.engineer")


def _post(link: str, user: str, body: dict[str, str]) -> tuple[int, dict]:
    parts = urlsplit(link)
    request = urllib.request.Request(
        f"{parts.scheme}://{parts.netloc}{parts.path}/decision",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json", **signed_as(user)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _get(url: str, user: str = APPROVER, accept: str = "text/html") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Accept": accept, **signed_as(user)})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _form(link: str, user: str, decision: str, reason: str = "") -> dict[str, str]:
    _, page = _get(link, user, accept="application/json")
    query = {k: v[-1] for k, v in parse_qs(urlsplit(link).query).items()}
    return {"decision": decision, "reason": reason, "csrf_token": json.loads(page)["csrf_token"], **query}


def _issued_form(waiting: Waiting, user: str, decision: str) -> dict[str, str]:
    """A form with the CSRF token the API would bind to ``user`` (as if issued before they lost the right)."""
    from governed_mlops.adapters.approvals import FileSecret
    from governed_mlops.domain.approval import csrf_token

    secret = FileSecret(waiting.data_dir / "secrets" / "approval-signing.key").get()
    query = {k: v[-1] for k, v in parse_qs(urlsplit(waiting.link).query).items()}
    return {"decision": decision, "reason": "", "csrf_token": csrf_token(secret, waiting.approval_id, user), **query}


def _with_query(link: str, **changes: str) -> str:
    parts = urlsplit(link)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())))


def test_approval_resumes_the_execution_and_records_the_approvers(waiting: Waiting):
    # credit-risk is high risk: the first approval waits for a second, different approver
    first = approval_client.decide(waiting.link, APPROVER, "approve", "metrics and bias within limits")
    assert first["status"] == "pending"
    assert waiting.runtime.sfn.describe_execution(executionArn=waiting.execution_arn)["status"] == "RUNNING"
    answer = approval_client.decide(waiting.link, SECOND_APPROVER, "approve", "agreed")
    (result,) = waiting.runtime.wait([waiting.execution_arn])
    assert answer["status"] == "approved"
    assert result["status"] == "SUCCEEDED"
    (record,) = LocalModelRegistry(waiting.data_dir).list_versions()
    assert record.status == "Approved"
    assert record.approval is not None
    assert record.approval.decided_by == f"{APPROVER}, {SECOND_APPROVER}"
    assert record.approval.evidence_sha256["model"] == record.model_artifact.sha256


def test_rejection_needs_a_reason_then_ends_the_run_with_nothing_deployed(waiting: Waiting):
    status, _ = _post(waiting.link, APPROVER, _form(waiting.link, APPROVER, "reject", ""))
    assert status == 403
    status, _ = _post(waiting.link, APPROVER, _form(waiting.link, APPROVER, "reject", "AUC too low for retail"))
    assert status == 200
    (result,) = waiting.runtime.wait([waiting.execution_arn])
    assert result["status"] == "FAILED"
    assert result["error"] == "ApprovalRejected"
    assert "AUC too low for retail" in result["cause"]
    (record,) = LocalModelRegistry(waiting.data_dir).list_versions()
    assert record.status == "Rejected"
    assert record.approval is not None
    assert record.approval.reason == "AUC too low for retail"


def test_a_replayed_approval_gets_409_and_is_not_counted_twice(waiting: Waiting):
    form = _form(waiting.link, APPROVER, "approve")
    first, _ = _post(waiting.link, APPROVER, form)
    second, body = _post(waiting.link, APPROVER, form)
    assert (first, second) == (202, 409)
    assert body["error"] == "DuplicateApprover"
    assert LocalApprovalStore(waiting.data_dir).get(waiting.approval_id).status == "pending"


def test_a_decision_after_the_run_was_decided_gets_409(waiting: Waiting):
    _post(waiting.link, APPROVER, _form(waiting.link, APPROVER, "reject", "not convinced"))
    status, body = _post(waiting.link, SECOND_APPROVER, _form(waiting.link, SECOND_APPROVER, "approve"))
    assert status == 409
    assert body["error"] == "ApprovalAlreadyDecided"


def test_the_person_who_triggered_the_run_cannot_approve_it(tmp_path: Path):
    with LocalRuntime(PROJECT_DIR, tmp_path / "data") as runtime:
        waiting = _wait_for_approval(runtime, tmp_path / "data", uploader=APPROVER)
        status, body = _post(waiting.link, APPROVER, _issued_form(waiting, APPROVER, "approve"))
        assert status == 403
        assert "segregation of duties" in body["message"]
        assert LocalApprovalStore(waiting.data_dir).get(waiting.approval_id).status == "pending"


def test_final_approve_and_reject_racing_on_two_threads_exactly_one_wins(waiting: Waiting):
    # carol's approval is in: dave's approval completes the request, carol changing her mind and
    # rejecting ends it; exactly one of the two wins.
    assert _post(waiting.link, APPROVER, _form(waiting.link, APPROVER, "approve"))[0] == 202
    forms = {
        "approve": _form(waiting.link, SECOND_APPROVER, "approve"),
        "reject": _form(waiting.link, APPROVER, "reject", "not convinced after all"),
    }
    users = {"approve": SECOND_APPROVER, "reject": APPROVER}
    results: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def send(decision: str) -> None:
        barrier.wait()
        results[decision] = _post(waiting.link, users[decision], forms[decision])[0]

    threads = [threading.Thread(target=send, args=(d,)) for d in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [200, 409]
    (result,) = waiting.runtime.wait([waiting.execution_arn])
    winner = next(d for d, code in results.items() if code == 200)
    assert result["status"] == ("SUCCEEDED" if winner == "approve" else "FAILED")


def test_no_decision_before_the_timeout_expires_the_request_and_deploys_nothing(tmp_path: Path):
    data_dir = tmp_path / "data"
    with LocalRuntime(PROJECT_DIR, data_dir, parameter_overrides={"ApprovalTimeoutSeconds": "3"}) as runtime:
        waiting = _wait_for_approval(runtime, data_dir, uploader="alice.engineer")
        (result,) = runtime.wait([waiting.execution_arn], timeout=60)
        assert result["status"] == "FAILED"
        assert result["error"] == "ApprovalExpired"
        assert LocalApprovalStore(data_dir).get(waiting.approval_id).status == "expired"
        (record,) = LocalModelRegistry(data_dir).list_versions()
        assert record.status == "Rejected"
        assert record.approval is not None
        assert record.approval.decision == "expired"
        # The link died with the wait.
        status, _ = _get(waiting.link)
        assert status == 403


def test_persisted_history_never_contains_the_task_token(waiting: Waiting):
    approval_client.decide(waiting.link, APPROVER, "approve", "")
    approval_client.decide(waiting.link, SECOND_APPROVER, "approve", "")
    (result,) = waiting.runtime.wait([waiting.execution_arn])
    token = LocalApprovalStore(waiting.data_dir).task_token(waiting.approval_id)
    history = json.dumps(waiting.runtime.executions.history(result["name"]))
    assert token not in history
    assert "redacted" in history
    assert token not in waiting.link
    assert token not in json.dumps(read_outbox(waiting.data_dir))
