"""Who caused a run, from evidence an engineer cannot choose; four-eyes when nobody can be resolved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from governed_mlops.domain.approval import (
    Identity,
    check_may_decide,
    four_eyes_reason,
    originator_of,
    why_may_not_decide,
)
from governed_mlops.domain.originator import resolve_cloudtrail_identity, resolve_originator
from governed_mlops.errors import ApprovalForbidden
from governed_mlops.models import ApprovalRecord
from tests.conftest import pending_approval

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("principal", "person"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/Alice.Engineer", "alice.engineer"),
        (f"arn:aws:iam::{ACCOUNT}:user/engineering/ml/bob", "bob"),
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_MLEngineer_0123abcd/carol@bank.example",
            "carol@bank.example",
        ),
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_X_1/dave",
            "dave",
        ),
        ("alice.engineer", "alice.engineer"),
    ],
)
def test_a_principal_a_person_is_verified_by_resolves_to_that_person(principal: str, person: str) -> None:
    originator = resolve_originator(principal)
    assert (originator.person, originator.resolved) == (person, True)


@pytest.mark.parametrize(
    ("principal", "why"),
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-engineers/carol.approver", "chosen by the caller"),
        (ACCOUNT, "an AWS account"),
        (f"arn:aws:iam::{ACCOUNT}:root", "an AWS account"),
        ("system:model-monitor", "started by the platform"),
        (f"arn:aws:iam::{ACCOUNT}:role/deployer", "not a user"),
        ("", "no principal"),
        ("two words", "no principal"),
    ],
)
def test_a_principal_no_person_stands_behind_is_not_resolved_and_says_why(principal: str, why: str) -> None:
    originator = resolve_originator(principal)
    assert originator.person is None
    assert why in originator.evidence


NOW = datetime(2026, 12, 5, tzinfo=UTC)


def request(triggered_by: str, **fields: object) -> ApprovalRecord:
    originator = resolve_originator(triggered_by)
    values = {"triggered_by": triggered_by, "originator": originator.person, "originator_evidence": originator.evidence}
    return pending_approval(NOW).model_copy(update=values | fields)


CAROL = Identity("carol.approver", frozenset({"model-approvers"}))


def test_a_session_named_after_an_approver_neither_blocks_nor_frees_them() -> None:
    # Given a push made under an assumed role whose session the engineer named after carol
    record = request(f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-engineers/carol.approver")
    # Then nobody is the originator: carol may approve (the four-eyes policy needs a second person too)
    assert originator_of(record) is None
    assert why_may_not_decide(CAROL, approver_group="model-approvers", originator=originator_of(record)) is None
    reason = four_eyes_reason(record)
    assert reason is not None
    assert "two distinct approvers" in reason
    assert "chosen by the caller" in reason


def test_the_verified_originator_may_not_approve_their_own_run() -> None:
    record = request(f"arn:aws:iam::{ACCOUNT}:user/carol.approver")
    with pytest.raises(ApprovalForbidden, match="triggered this run"):
        check_may_decide(CAROL, approver_group="model-approvers", originator=originator_of(record))
    assert four_eyes_reason(record) is None


def test_a_request_made_before_originators_keeps_the_old_comparison() -> None:
    legacy = request("arn:aws:sts::1:assumed-role/R/carol.approver", originator=None, originator_evidence=None)
    assert originator_of(legacy) == "carol.approver"
    assert four_eyes_reason(legacy) is None


# --- an upload's CloudTrail identity ----------------------------------------------------------------

ACCOUNT = "123456789012"
ENGINEERS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/engineers"


def _assumed(role: str, session: str, source_identity: str | None = None) -> dict[str, object]:
    context: dict[str, object] = {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}"}}
    if source_identity is not None:
        context["sourceIdentity"] = source_identity
    return {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "sessionContext": context,
    }


def test_an_iam_user_upload_names_the_user() -> None:
    identity = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/Erin.Engineer", "accountId": ACCOUNT}

    assert resolve_cloudtrail_identity(identity, ()).person == "erin.engineer"


def test_an_identity_center_upload_names_the_signed_in_user() -> None:
    identity = _assumed("AWSReservedSSO_DataScience_0123456789abcdef", "erin.engineer")

    found = resolve_cloudtrail_identity(identity, ())

    assert (found.person, "Identity Center" in found.evidence) == ("erin.engineer", True)


def test_the_source_identity_of_a_trusted_role_names_the_person_not_the_session() -> None:
    identity = _assumed("engineers", "carol.approver", source_identity="erin.engineer")

    found = resolve_cloudtrail_identity(identity, {ENGINEERS_ROLE})

    assert found.person == "erin.engineer"
    assert "sts:SourceIdentity" in found.evidence
    assert "engineers" in found.evidence


def test_a_session_named_after_an_approver_on_an_untrusted_role_names_no_one() -> None:
    identity = _assumed("engineers", "carol.approver", source_identity="erin.engineer")

    found = resolve_cloudtrail_identity(identity, set())

    assert found.person is None
    assert "chosen by the caller" in found.evidence
    assert "not trusted" in found.evidence


def test_a_source_identity_that_is_not_a_user_name_names_no_one() -> None:
    identity = _assumed("engineers", "s", source_identity="erin engineer; drop")

    assert resolve_cloudtrail_identity(identity, {ENGINEERS_ROLE}).person is None


def test_an_identity_without_an_arn_falls_back_to_its_account() -> None:
    found = resolve_cloudtrail_identity({"type": "AWSAccount", "accountId": ACCOUNT}, ())

    assert (found.person, found.evidence) == (None, "an AWS account, not a person")
