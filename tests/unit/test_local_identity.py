"""The local approval API's identity: the runtime's user, or a user this OS user's key signs for."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from governed_mlops_local.gateway import LocalGateway
from governed_mlops_local.local_identity import identity_key, sign_user, signature_valid


def test_the_key_is_created_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "governed-mlops" / "local-identity.key"
    key = identity_key(path)
    assert identity_key(path) == key
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_key_file_of_the_wrong_size_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "local-identity.key"
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="delete it to make a new one"):
        identity_key(path)


def test_a_signature_vouches_for_one_user_under_one_key() -> None:
    key, other = b"k" * 32, b"o" * 32
    signature = sign_user("carol.approver", key)
    assert signature_valid("carol.approver", signature, key)
    assert not signature_valid("dave.risk", signature, key)
    assert not signature_valid("carol.approver", signature, other)
    assert not signature_valid("carol.approver", None, key)
    assert not signature_valid("carol.approver", "not hex ☃", key)


def test_the_gateway_acts_as_the_local_user_unless_a_signed_header_names_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    gateway = LocalGateway(
        host=None,  # type: ignore[arg-type] - claims need no Lambda host
        approval_function="ApprovalApiFunction",
        default_user="alice.engineer",
        approvers={"carol.approver"},
        approver_group="model-approvers",
    )
    key = identity_key()
    assert gateway.claims_for({})["cognito:username"] == "alice.engineer"
    signed = {"x-mlops-user": "carol.approver", "X-Mlops-User-Signature": sign_user("carol.approver", key)}
    assert gateway.claims_for(signed) == {"cognito:username": "carol.approver", "cognito:groups": "model-approvers"}
    with pytest.raises(PermissionError, match="not signed by this machine's key"):
        gateway.claims_for({"X-Mlops-User": "carol.approver"})
