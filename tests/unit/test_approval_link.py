"""Signed approval links and CSRF tokens: whatever a forged request carries is refused, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from governed_mlops.domain import approval as rules
from governed_mlops.errors import ApprovalForbidden, ApprovalLinkInvalid

SECRET = b"k" * 32
NOW = datetime(2026, 11, 28, tzinfo=UTC)
APPROVAL = "A" * 32


def _genuine() -> tuple[str, str]:
    exp = int(NOW.timestamp()) + 600
    return str(exp), rules.link_signature(SECRET, APPROVAL, exp)


def test_a_genuine_link_verifies():
    exp, sig = _genuine()
    assert rules.verify_link(SECRET, APPROVAL, exp, sig, now=NOW) == int(exp)


@pytest.mark.parametrize("sig", ["\x80", "é" * 64, "0" * 64, ""])
def test_a_forged_signature_even_non_ascii_is_refused_not_a_server_error(sig: str):
    exp, _ = _genuine()
    with pytest.raises(ApprovalLinkInvalid):
        rules.verify_link(SECRET, APPROVAL, exp, sig, now=NOW)


@pytest.mark.parametrize("token", ["\x80", "ü", "not-the-token"])
def test_a_forged_csrf_token_even_non_ascii_is_refused(token: str):
    with pytest.raises(ApprovalForbidden):
        rules.verify_csrf(SECRET, APPROVAL, "carol.approver", token)
