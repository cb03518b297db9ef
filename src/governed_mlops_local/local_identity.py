"""Who a request to the local approval API comes from: the runtime's user, or a user the caller signs for.

Locally there is no Cognito. A request without ``X-Mlops-User`` acts as the local user the runtime
was started for (the person at this machine, in their browser). A request that names another user
must prove it comes from a process of the OS user who owns this machine's key: it carries
``X-Mlops-User-Signature``, an HMAC-SHA256 of the user name under a key kept in a file only that OS
user can read (``$XDG_CONFIG_HOME/governed-mlops/local-identity.key``, mode 0600). The mlops CLI and
:mod:`governed_mlops_local.approval_client` sign; a bare header, a wrong signature or another OS
user's process is refused with 401 ``UnsignedIdentity`` before the approval function runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

__all__ = [
    "DEFAULT_APPROVERS",
    "SIGNATURE_HEADER",
    "UNSIGNED_IDENTITY",
    "identity_key",
    "identity_key_path",
    "sign_user",
    "signature_valid",
]

#: The local users in the approvers group when the runtime is not told otherwise (two, for a high-risk model).
DEFAULT_APPROVERS = frozenset({"carol.approver", "dave.risk"})
SIGNATURE_HEADER = "X-Mlops-User-Signature"
#: The error a request gets when it names a user without a valid signature.
UNSIGNED_IDENTITY = "UnsignedIdentity"
_KEY_BYTES = 32


def identity_key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "governed-mlops" / "local-identity.key"


def identity_key(path: Path | None = None) -> bytes:
    """This OS user's signing key, created (0600, in a 0700 directory) on first use."""
    target = path or identity_key_path()
    try:
        key = target.read_bytes()
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = secrets.token_bytes(_KEY_BYTES)
        try:
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return target.read_bytes()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(fresh)
        return fresh
    if len(key) != _KEY_BYTES:
        raise ValueError(f"{target} is not a local identity key ({len(key)} bytes); delete it to make a new one")
    return key


def sign_user(user: str, key: bytes) -> str:
    return hmac.new(key, f"mlops-local-user\x1f{user}".encode(), hashlib.sha256).hexdigest()


def signature_valid(user: str, signature: str | None, key: bytes) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign_user(user, key).encode(), signature.encode(errors="replace"))
