"""Verification of a Cognito ID token against the user pool's published keys (pure: no I/O).

The approval API's authorizer and the login callback call :func:`verify_id_token` with the JWKS the
user-pool adapter fetched. Every check the issue lists is made here, in this order, each with its own
named error: the token's shape (:class:`MalformedToken`), its RS256 signature under a key of the pool's
JWKS (:class:`TokenSignatureInvalid`), ``exp`` (:class:`TokenExpired`), ``iss`` (:class:`TokenIssuerMismatch`),
``aud`` (:class:`TokenAudienceMismatch`), ``token_use`` (:class:`TokenUseMismatch`) and the approvers group
in ``cognito:groups`` (:class:`ApproverGroupMissing`). All are :class:`SessionRejected` (403 at the edge).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwk, jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError, UnsupportedAlgorithmError

from governed_mlops.errors import (
    ApproverGroupMissing,
    MalformedToken,
    TokenAudienceMismatch,
    TokenExpired,
    TokenIssuerMismatch,
    TokenSignatureInvalid,
    TokenUseMismatch,
)

#: A compact JWS is header.payload.signature.
_JWT_DOTS = 2

#: Cognito signs ID tokens with RS256 only; any other algorithm (``none``, HS256 keyed with the public key) is refused.
ALGORITHMS = ("RS256",)


@dataclass(frozen=True)
class TokenExpectations:
    """What a token must say to open the approval API: this pool, this app client, an ID token, the group."""

    issuer: str
    client_id: str
    approver_group: str


@dataclass(frozen=True)
class VerifiedApprover:
    """The identity a verified ID token vouches for."""

    username: str
    email: str
    groups: frozenset[str]
    expires_at: int
    nonce: str | None


def issuer_url(region: str, user_pool_id: str) -> str:
    """The ``iss`` of a user pool's tokens (also the base of its ``/.well-known/jwks.json``)."""
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def token_key_id(token: str) -> str | None:
    """The ``kid`` in a compact JWT's header, read without verifying anything (None when there is none).

    Only to pick the JWKS to verify with: a kid the cached key set does not hold makes the user-pool
    adapter refresh it (Cognito rotates its signing keys); :func:`verify_id_token` still checks everything.
    """
    header = token.split(".", 1)[0] if token else ""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error):
        return None
    kid = decoded.get("kid") if isinstance(decoded, dict) else None
    return kid if isinstance(kid, str) and kid else None


def _key_set(jwks: Mapping[str, Any]) -> jwk.KeySet:
    try:
        return jwk.KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise TokenSignatureInvalid(f"the user pool's JWKS could not be read ({exc}); no token can verify") from exc


def _groups(claims: Mapping[str, Any]) -> frozenset[str]:
    value = claims.get("cognito:groups") or []
    if isinstance(value, str):
        return frozenset(value.replace(",", " ").split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise MalformedToken("the token's cognito:groups claim is neither a list of names nor a string")


def verify_id_token(
    token: str, jwks: Mapping[str, Any], expected: TokenExpectations, *, now: datetime
) -> VerifiedApprover:
    """The approver ``token`` vouches for, after every check; raises the named error of the first that fails."""
    if not token or token.count(".") != _JWT_DOTS:
        raise MalformedToken("the session is not a compact JWT (header.claims.signature); sign in again")
    keys = _key_set(jwks)
    try:
        decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except (BadSignatureError, InvalidKeyIdError) as exc:
        raise TokenSignatureInvalid(
            "the token's signature does not verify under the user pool's keys (tampered or forged)"
        ) from exc
    except UnsupportedAlgorithmError as exc:
        raise TokenSignatureInvalid(f"the token is not signed with {'/'.join(ALGORITHMS)}: {exc}") from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise MalformedToken(f"the session token cannot be decoded ({exc}); sign in again") from exc
    claims = dict(decoded.claims)
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise MalformedToken("the token has no numeric exp claim")
    if now.timestamp() >= float(exp):
        raise TokenExpired(f"the session expired at {datetime.fromtimestamp(float(exp), tz=now.tzinfo)}; sign in again")
    if claims.get("iss") != expected.issuer:
        raise TokenIssuerMismatch(f"the token was issued by {claims.get('iss')!r}, not {expected.issuer!r}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if expected.client_id not in audiences:
        raise TokenAudienceMismatch(f"the token was issued to app client {audience!r}, not the approval login client")
    if claims.get("token_use") != "id":
        raise TokenUseMismatch(f"token_use is {claims.get('token_use')!r}; only an ID token opens the approval API")
    groups = _groups(claims)
    username = claims.get("cognito:username")
    if not isinstance(username, str) or not username:
        raise MalformedToken("the ID token has no cognito:username claim")
    if expected.approver_group not in groups:
        raise ApproverGroupMissing(
            f"{username} is not in the {expected.approver_group!r} group; an administrator adds approvers "
            "(docs/deploy.md, 'Adding an approver')"
        )
    nonce = claims.get("nonce")
    return VerifiedApprover(
        username=username,
        email=str(claims.get("email") or ""),
        groups=groups,
        expires_at=int(exp),
        nonce=nonce if isinstance(nonce, str) else None,
    )
