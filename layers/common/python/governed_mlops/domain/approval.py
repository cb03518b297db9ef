"""Manual approval rules (pure): signed single-use links, CSRF tokens, who may decide.

The task token never appears here: links carry only the approval id, an expiry and an
HMAC-SHA256 signature over both, so a leaked link reveals nothing that can resume the
execution, and a link that was altered or has expired is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from governed_mlops.errors import ApprovalExpired, ApprovalForbidden, ApprovalLinkInvalid

#: 24 random bytes = 192 bits (the issue asks for at least 128).
APPROVAL_ID_BYTES = 24

#: The only spelling of ``exp`` a link may carry: what :func:`approval_link` writes, ASCII decimal with no
#: sign, no padding and at most 12 digits. ``str.isdigit``/``int`` also take ``0``-padding, ``+``, ``_`` and
#: non-ASCII digits, which would let one signature stand for many different links (and huge values crash int()).
_CANONICAL_EXP = re.compile(r"[1-9][0-9]{0,11}")


def new_approval_id() -> str:
    return secrets.token_urlsafe(APPROVAL_ID_BYTES)


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


def why_may_not_decide(identity: Identity, *, approver_group: str, triggered_by: str) -> str | None:
    """The reason ``identity`` may not decide (shown instead of the forms), or None when they may."""
    try:
        check_may_decide(identity, approver_group=approver_group, triggered_by=triggered_by)
    except ApprovalForbidden as exc:
        return str(exc)
    return None


def check_may_decide(identity: Identity, *, approver_group: str, triggered_by: str) -> None:
    """Segregation of duties: an approver, and not the person whose change produced the model."""
    if not identity.user:
        raise ApprovalForbidden("no authenticated approver on the request")
    if approver_group not in identity.groups:
        raise ApprovalForbidden(f"{identity.user} is not in the approvers group {approver_group!r}")
    if principal_name(identity.user) == principal_name(triggered_by):
        raise ApprovalForbidden(
            f"{identity.user} triggered this run ({triggered_by}) and may not approve its model: "
            "segregation of duties requires a second person"
        )
