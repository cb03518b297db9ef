"""Requests the approval API must refuse (or only answer), on one run waiting for approval.

Every test here leaves the approval as it found it (pending, nobody counted) and checks that it did, so the tests
share one run (module-scoped: a whole pipeline run to "Request Approval" each would be the module's whole cost)
and pass in any order. Decisions that change the approval are in test_approval.py, each on a run of its own.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from governed_mlops.adapters.approvals import LocalApprovalStore
from governed_mlops_local.approval_client import signed_as
from governed_mlops_local.runtime import LocalRuntime
from tests.conftest import PROJECT_DIR
from tests.integration.test_approval import (
    APPROVER,
    Waiting,
    _form,
    _get,
    _issued_form,
    _post,
    _wait_for_approval,
    _with_query,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Waiting]:
    data_dir = tmp_path_factory.mktemp("approval-refusals") / "data"
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        yield _wait_for_approval(runtime, data_dir, uploader="alice.engineer")


def assert_untouched(waiting: Waiting) -> None:
    """Nothing was decided or counted, and the run still waits."""
    record = LocalApprovalStore(waiting.data_dir).get(waiting.approval_id)
    assert (record.status, record.approvals) == ("pending", [])
    assert waiting.runtime.sfn.describe_execution(executionArn=waiting.execution_arn)["status"] == "RUNNING"


def test_the_evidence_page_shows_the_model_and_changes_nothing(untouched: Waiting):
    status, page = _get(untouched.link)
    assert status == 200
    assert "credit-risk/1" in page
    assert "alice.engineer" in page
    assert "Approve" in page
    assert "Reject" in page
    assert_untouched(untouched)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sig": "0" * 64}, 403),
        ({"exp": "1700000000"}, 403),
        ({"sig": ""}, 403),
        ({"exp": "0{exp}"}, 403),
    ],
    ids=["tampered-signature", "altered-expiry", "no-signature", "zero-padded-expiry"],
)
def test_tampered_links_are_refused(untouched: Waiting, change: dict[str, str], expected: int):
    genuine = {k: v[-1] for k, v in parse_qs(urlsplit(untouched.link).query).items()}
    tampered = _with_query(untouched.link, **{k: v.format(**genuine) for k, v in change.items()})
    status, page = _get(tampered)
    assert status == expected
    assert "ApprovalLinkInvalid" in page or "ApprovalExpired" in page
    assert_untouched(untouched)


def test_an_expired_but_genuine_link_is_refused(untouched: Waiting):
    from governed_mlops.adapters.approvals import FileSecret
    from governed_mlops.domain.approval import link_signature

    secret = FileSecret(untouched.data_dir / "secrets" / "approval-signing.key").get()
    expired = _with_query(
        untouched.link, exp="1700000000", sig=link_signature(secret, untouched.approval_id, 1700000000)
    )
    status, page = _get(expired)
    assert status == 403
    assert "expired" in page
    assert_untouched(untouched)


def test_a_malformed_decision_gets_400_and_changes_nothing(untouched: Waiting):
    status, body = _post(untouched.link, APPROVER, {"decision": "maybe"})
    assert status == 400
    assert body["error"] == "MalformedDecision"
    assert_untouched(untouched)


def test_someone_outside_the_approvers_group_is_refused(untouched: Waiting):
    status, body = _post(untouched.link, "mallory", _issued_form(untouched, "mallory", "approve"))
    assert status == 403
    assert "not in the approvers group" in body["message"]
    assert_untouched(untouched)


@pytest.mark.parametrize(
    "identity",
    [
        {"X-Mlops-User": APPROVER},  # a bare header: anyone could send it
        {"X-Mlops-User": APPROVER, "X-Mlops-User-Signature": "0" * 64},  # a forged signature
        {"X-Mlops-User": APPROVER, "X-Mlops-User-Signature": signed_as("mallory")["X-Mlops-User-Signature"]},
    ],
    ids=["bare-header", "forged-signature", "another-users-signature"],
)
def test_acting_as_an_approver_without_this_machines_signature_is_refused(
    untouched: Waiting, identity: dict[str, str]
) -> None:
    for method in ("GET", "POST"):
        request = urllib.request.Request(
            untouched.link if method == "GET" else untouched.link.split("?")[0] + "/decision",
            data=None if method == "GET" else b"{}",
            method=method,
            headers={"Accept": "application/json", "Content-Type": "application/json", **identity},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401
        body = json.loads(refused.value.read())
        assert body["error"] == "UnsignedIdentity"
        assert "not signed by this machine's key" in body["message"]
    # And nothing was decided or counted
    assert_untouched(untouched)


def test_a_form_without_the_csrf_token_is_refused(untouched: Waiting):
    form = _form(untouched.link, APPROVER, "approve") | {"csrf_token": "forged"}
    status, body = _post(untouched.link, APPROVER, form)
    assert status == 403
    assert "CSRF" in body["message"]
    assert_untouched(untouched)
