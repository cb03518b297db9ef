"""Approval ids are typed on command lines (`mlops approve ID --as NAME`): none may read as an option."""

from __future__ import annotations

import pytest

from governed_mlops.domain import approval as rules


def test_an_id_that_would_start_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a random source whose first draw starts with "-" (1 draw in 64 does)
    draws = iter(["-busKYpxpNO7240AmmJfObc3zIvtsTSR", "busKYpxpNO7240AmmJfObc3zIvtsTSR-"])
    monkeypatch.setattr(rules.secrets, "token_urlsafe", lambda _n: next(draws))

    # When an approval id is made, Then it is the next draw, which does not
    assert rules.new_approval_id() == "busKYpxpNO7240AmmJfObc3zIvtsTSR-"


def test_ids_are_url_safe_and_never_start_with_a_dash() -> None:
    ids = [rules.new_approval_id() for _ in range(2000)]

    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 32 and i.replace("-", "").replace("_", "").isalnum() for i in ids)
    assert len(set(ids)) == len(ids)
