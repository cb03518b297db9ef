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


@pytest.mark.parametrize(
    "spelling",
    ["0{exp}", "00{exp}", "+{exp}", " {exp}", "{exp} ", "{exp}\n", "{exp}.0", "1_{rest}", "{arabic}", "{fullwidth}"],
    ids=["zero", "zeros", "plus", "lspace", "rspace", "newline", "decimal", "underscore", "arabic", "fullwidth"],
)
def test_an_exp_written_other_than_as_signed_is_refused_like_a_tampered_link(spelling: str):
    # Given a genuine link, When its exp is re-spelled so that int() still reads the same number
    exp, sig = _genuine()
    digits = dict(zip("0123456789", "٠١٢٣٤٥٦٧٨٩", strict=True))
    wide = dict(zip("0123456789", "０１２３４５６７８９", strict=True))
    respelled = spelling.format(
        exp=exp,
        rest=exp[1:],
        arabic="".join(digits[c] for c in exp),
        fullwidth="".join(wide[c] for c in exp),
    )
    # Then it is refused as an altered link
    with pytest.raises(ApprovalLinkInvalid):
        rules.verify_link(SECRET, APPROVAL, respelled, sig, now=NOW)


def test_an_absurdly_long_exp_is_refused_not_a_server_error():
    _, sig = _genuine()
    with pytest.raises(ApprovalLinkInvalid):
        rules.verify_link(SECRET, APPROVAL, "9" * 5000, sig, now=NOW)
