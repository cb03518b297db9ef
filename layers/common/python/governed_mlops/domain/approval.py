"""Manual approval rules (pure): signed single-use links, CSRF tokens, who may decide, approval policies.

The task token never appears here: links carry only the approval id, an expiry and an
HMAC-SHA256 signature over both, so a leaked link reveals nothing that can resume the
execution, and a link that was altered or has expired is refused.

A model's risk tier sets how many distinct people must approve it (high 2, medium 1, low none:
approved automatically, still behind every gate). :func:`with_signoff` is the one rule both
approval stores apply inside their conditional write.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from governed_mlops.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalForbidden,
    ApprovalLinkInvalid,
    DuplicateApprover,
)
from governed_mlops.models import ApprovalRecord, ApproverSignoff

#: Who approves a low-risk model version: the tier's policy, not a person (the audit ledger says so).
AUTO_APPROVER = "system:risk-tier-low"

#: 24 random bytes = 192 bits (the issue asks for at least 128).
APPROVAL_ID_BYTES = 24

#: The only spelling of ``exp`` a link may carry: what :func:`approval_link` writes, ASCII decimal with no
#: sign, no padding and at most 12 digits. ``str.isdigit``/``int`` also take ``0``-padding, ``+``, ``_`` and
#: non-ASCII digits, which would let one signature stand for many different links (and huge values crash int()).
_CANONICAL_EXP = re.compile(r"[1-9][0-9]{0,11}")


def new_approval_id() -> str:
    """192 random bits, URL-safe, never starting with ``-``: a command line reads ``-b…`` as an option
    (``mlops approve -busKY… --as carol.approver`` failed with "No such option '-b'" for 1 id in 64)."""
    while True:
        candidate = secrets.token_urlsafe(APPROVAL_ID_BYTES)
        if not candidate.startswith("-"):
            return candidate


def _mac(secret: bytes, *parts: str) -> str:
    return hmac.new(secret, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def link_signature(secret: bytes, approval_id: str, expires: int) -> str:
    return _mac(secret, "approval-link", approval_id, str(expires))


def approval_link(base_url: str, secret: bytes, approval_id: str, expires_at: datetime) -> str:
    """``{base}/approvals/{id}?exp=...&sig=...``: opening it shows evidence and changes nothing."""
    expires = int(expires_at.timestamp())
    query = urlencode({"exp": expires, "sig": link_signature(secret, approval_id, expires)})
    return f"{base_url.rstrip('/')}/approvals/{approval_id}?{query}"


def verify_link(secret: bytes, approval_id: str, exp: str | None, sig: str | None, *, now: datetime) -> int:
    """Return the expiry (epoch seconds) of a valid link; ApprovalLinkInvalid / ApprovalExpired otherwise."""
    if not exp or not sig:
        raise ApprovalLinkInvalid("the approval link is incomplete: it needs its exp and sig parameters")
    if not _CANONICAL_EXP.fullmatch(exp):
        raise ApprovalLinkInvalid("the approval link's exp is not written as the link was signed: it was altered")
    expected = link_signature(secret, approval_id, int(exp))
    # Bytes: compare_digest refuses non-ASCII str, and a forged link may carry anything.
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise ApprovalLinkInvalid("the approval link's signature does not match: it was altered or forged")
    if int(exp) <= int(now.timestamp()):
        expired = datetime.fromtimestamp(int(exp), UTC).isoformat()
        raise ApprovalExpired(f"the approval link expired at {expired}; ask for a new review")
    return int(exp)


def csrf_token(secret: bytes, approval_id: str, user: str) -> str:
    """Bound to the approval and the person the page was shown to (stateless double submit)."""
    return _mac(secret, "approval-csrf", approval_id, user)


def verify_csrf(secret: bytes, approval_id: str, user: str, token: str | None) -> None:
    if not token or not hmac.compare_digest(csrf_token(secret, approval_id, user).encode(), token.encode()):
        raise ApprovalForbidden("the form's CSRF token is missing or not valid for this approver: reload the page")


def principal_name(principal: str) -> str:
    """``arn:aws:iam::1:user/alice`` / ``arn:aws:sts::1:assumed-role/R/alice`` / ``alice`` -> ``alice``."""
    return principal.rsplit("/", 1)[-1].strip().lower()


@dataclass(frozen=True)
class Identity:
    """Who is asking, from the API's authorizer (Cognito claims or IAM), or the local user."""

    user: str
    groups: frozenset[str]


def why_may_not_decide(identity: Identity, *, approver_group: str, originator: str | None) -> str | None:
    """The reason ``identity`` may not decide (shown instead of the forms), or None when they may."""
    try:
        check_may_decide(identity, approver_group=approver_group, originator=originator)
    except ApprovalForbidden as exc:
        return str(exc)
    return None


def check_may_decide(identity: Identity, *, approver_group: str, originator: str | None) -> None:
    """Segregation of duties: an approver, and not the person whose change produced the model.

    ``originator`` is that person as :func:`originator_of` resolves it; None when no person could be
    resolved, in which case the policy asked for two distinct approvers instead.
    """
    if not identity.user:
        raise ApprovalForbidden("no authenticated approver on the request")
    if approver_group not in identity.groups:
        raise ApprovalForbidden(f"{identity.user} is not in the approvers group {approver_group!r}")
    if originator is not None and principal_name(identity.user) == originator:
        raise ApprovalForbidden(
            f"{identity.user} triggered this run and may not approve its model: "
            "segregation of duties requires a second person"
        )


def originator_of(record: ApprovalRecord) -> str | None:
    """The person who caused the run (segregation of duties compares approvers with them).

    Requests made before originators were resolved carry none: their trigger principal's last path
    element is compared, as it was then.
    """
    if record.originator_evidence is None:
        return principal_name(record.triggered_by)
    return record.originator


def four_eyes_reason(record: ApprovalRecord) -> str | None:
    """Why the request needs two distinct approvers although its tier needs fewer (None: it does not)."""
    if record.originator_evidence is None or record.originator is not None:
        return None
    return (
        f"no person could be verified as the cause of this run ({record.triggered_by}: "
        f"{record.originator_evidence}), so two distinct approvers are required (four-eyes)"
    )


def approver_group(record: ApprovalRecord, default: str) -> str:
    """The group whose members may decide: the model's, or the stack's for requests made before risk tiers."""
    return record.approvers_group or default


def has_approved(record: ApprovalRecord, user: str) -> bool:
    """Whether ``user`` (compared as :func:`principal_name`) already gave one of the record's approvals."""
    name = principal_name(user)
    return any(principal_name(signoff.approver) == name for signoff in record.approvals)


def with_signoff(record: ApprovalRecord, signoff: ApproverSignoff) -> ApprovalRecord:
    """The record with one more distinct approval; approved once it has as many as its policy requires.

    ApprovalAlreadyDecided when it is no longer pending, DuplicateApprover when this person already
    approved it (a replay counts once; two approvals must come from two people).
    """
    if record.status != "pending":
        raise ApprovalAlreadyDecided(f"approval {record.approval_id[:8]}… was already {record.status}")
    if has_approved(record, signoff.approver):
        raise DuplicateApprover(
            f"{signoff.approver} already approved {record.model_version}; {progress(record)}: "
            "the next approval must come from a different approver"
        )
    approvals = [*record.approvals, signoff]
    update: dict[str, object] = {"approvals": approvals}
    if len(approvals) >= record.approvals_required:
        update |= {
            "status": "approved",
            "decided_by": ", ".join(a.approver for a in approvals),
            "decided_at": signoff.approved_at,
            "reason": combined_reason(approvals),
        }
    return record.model_copy(update=update)


def reopened(record: ApprovalRecord, withdraw: str | None) -> ApprovalRecord:
    """Pending again, undecided, without the approval of ``withdraw`` (the execution could not take it just now)."""
    name = principal_name(withdraw) if withdraw else None
    kept = [a for a in record.approvals if principal_name(a.approver) != name]
    return record.model_copy(
        update={"status": "pending", "approvals": kept, "decided_by": None, "decided_at": None, "reason": None}
    )


def combined_reason(approvals: list[ApproverSignoff]) -> str:
    """One approver's comment as given; several approvers' comments each under their name."""
    if len(approvals) == 1:
        return approvals[0].reason
    return "; ".join(f"{a.approver}: {a.reason}" for a in approvals if a.reason)


def progress(record: ApprovalRecord) -> str:
    """``approvals: 1 of 2 (carol.approver)``."""
    names = ", ".join(a.approver for a in record.approvals)
    return f"approvals: {len(record.approvals)} of {record.approvals_required}" + (f" ({names})" if names else "")


def policy_text(approvals_required: int, approvers_group: str | None, risk_tier: str | None) -> str:
    """The approval policy in words, as the page, the model card and the lineage record state it."""
    tier = f"risk tier {risk_tier}" if risk_tier else "no risk tier recorded"
    group = f"group {approvers_group!r}" if approvers_group else "the approvers group"
    if approvals_required == 0:
        return (
            f"approved automatically ({tier}): no person reviews it; the validation, quality, bias and "
            "explainability gates still apply"
        )
    if approvals_required == 1:
        return f"one approver from {group} who did not trigger the run ({tier})"
    return f"{approvals_required} distinct approvers from {group}, none of whom triggered the run ({tier})"
