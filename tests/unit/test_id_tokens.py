"""ID-token verification: each check fails on its own, with its own named error (a locally made RSA key and JWKS)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwk, jwt

from governed_mlops.domain.id_tokens import TokenExpectations, issuer_url, token_key_id, verify_id_token
from governed_mlops.errors import (
    ApproverGroupMissing,
    MalformedToken,
    SessionRejected,
    TokenAudienceMismatch,
    TokenExpired,
    TokenIssuerMismatch,
    TokenSignatureInvalid,
    TokenUseMismatch,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ISSUER = issuer_url("eu-west-1", "eu-west-1_Pool")
EXPECTED = TokenExpectations(issuer=ISSUER, client_id="approval-client", approver_group="model-approvers")


@pytest.fixture(scope="module")
def signing_key() -> jwk.RSAKey:
    return jwk.RSAKey.generate_key(2048, parameters={"kid": "pool-key-1"})


@pytest.fixture(scope="module")
def other_key() -> jwk.RSAKey:
    # Same kid as the pool's key: only the signature tells them apart.
    return jwk.RSAKey.generate_key(2048, parameters={"kid": "pool-key-1"})


@pytest.fixture(scope="module")
def jwks(signing_key: jwk.RSAKey) -> dict[str, Any]:
    return {"keys": [signing_key.as_dict(private=False)]}


def claims(**overrides: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": "approval-client",
        "token_use": "id",
        "cognito:username": "alice",
        "cognito:groups": ["model-approvers"],
        "email": "alice@example.com",
        "exp": int(NOW.timestamp()) + 900,
        "iat": int(NOW.timestamp()),
        "nonce": "n-1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(key: jwk.RSAKey, **overrides: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": "pool-key-1"}, claims(**overrides), key)


def test_a_valid_token_names_the_approver(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    approver = verify_id_token(token(signing_key), jwks, EXPECTED, now=NOW)
    assert approver.username == "alice"
    assert approver.email == "alice@example.com"
    assert approver.groups == frozenset({"model-approvers"})
    assert approver.nonce == "n-1"
    assert approver.expires_at == int(NOW.timestamp()) + 900


def test_an_expired_token_is_refused(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    with pytest.raises(TokenExpired, match="sign in again"):
        verify_id_token(token(signing_key, exp=int(NOW.timestamp())), jwks, EXPECTED, now=NOW)


def test_a_token_of_another_pool_is_refused(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    forged = token(signing_key, iss=issuer_url("eu-west-1", "eu-west-1_Other"))
    with pytest.raises(TokenIssuerMismatch, match="eu-west-1_Other"):
        verify_id_token(forged, jwks, EXPECTED, now=NOW)


def test_a_token_for_another_app_client_is_refused(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    with pytest.raises(TokenAudienceMismatch, match="other-client"):
        verify_id_token(token(signing_key, aud="other-client"), jwks, EXPECTED, now=NOW)


def test_an_access_token_is_refused(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    with pytest.raises(TokenUseMismatch, match="access"):
        verify_id_token(token(signing_key, token_use="access"), jwks, EXPECTED, now=NOW)


@pytest.mark.parametrize("groups", [None, [], ["data-scientists"]], ids=["no-claim", "empty", "other-group"])
def test_a_user_outside_the_approvers_group_is_refused(
    signing_key: jwk.RSAKey, jwks: dict[str, Any], groups: list[str] | None
) -> None:
    with pytest.raises(ApproverGroupMissing, match="model-approvers"):
        verify_id_token(token(signing_key, **{"cognito:groups": groups}), jwks, EXPECTED, now=NOW)


def test_a_token_signed_by_another_key_is_refused(other_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    with pytest.raises(TokenSignatureInvalid):
        verify_id_token(token(other_key), jwks, EXPECTED, now=NOW)


def test_a_token_whose_claims_were_edited_is_refused(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    # Given a valid token for a non-approver, whose claims are rewritten to add the group (signature kept)
    header, _, signature = token(signing_key, **{"cognito:groups": []}).split(".")
    edited = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenSignatureInvalid):
        verify_id_token(f"{header}.{edited}.{signature}", jwks, EXPECTED, now=NOW)


def test_a_token_with_an_unknown_key_id_is_refused(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    other = jwt.encode({"alg": "RS256", "kid": "not-in-the-pool"}, claims(), signing_key)
    with pytest.raises(TokenSignatureInvalid):
        verify_id_token(other, jwks, EXPECTED, now=NOW)


def test_an_hmac_token_keyed_with_anything_is_refused(jwks: dict[str, Any]) -> None:
    # The classic algorithm-confusion forgery: HS256 instead of RS256.
    forged = jwt.encode({"alg": "HS256", "kid": "pool-key-1"}, claims(), jwk.OctKey.generate_key(256))
    with pytest.raises(TokenSignatureInvalid, match="RS256"):
        verify_id_token(forged, jwks, EXPECTED, now=NOW)


def test_an_unsigned_token_is_refused(jwks: dict[str, Any]) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=").decode()
    with pytest.raises(SessionRejected):
        verify_id_token(f"{header}.{body}.", jwks, EXPECTED, now=NOW)


@pytest.mark.parametrize("value", ["", "abc", "a.b", "a.b.c", "....", "e30.e30.e30"])
def test_a_malformed_token_is_refused(jwks: dict[str, Any], value: str) -> None:
    with pytest.raises((MalformedToken, TokenSignatureInvalid)):
        verify_id_token(value, jwks, EXPECTED, now=NOW)


def test_a_token_without_a_username_is_malformed(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    with pytest.raises(MalformedToken, match="cognito:username"):
        verify_id_token(token(signing_key, **{"cognito:username": None}), jwks, EXPECTED, now=NOW)


def test_a_token_without_exp_is_malformed(signing_key: jwk.RSAKey, jwks: dict[str, Any]) -> None:
    with pytest.raises(MalformedToken, match="exp"):
        verify_id_token(token(signing_key, exp=None), jwks, EXPECTED, now=NOW)


def test_an_unreadable_jwks_verifies_nothing(signing_key: jwk.RSAKey) -> None:
    with pytest.raises(TokenSignatureInvalid, match="JWKS"):
        verify_id_token(token(signing_key), {"keys": [{"kty": "nonsense"}]}, EXPECTED, now=NOW)


def test_every_failure_is_a_session_rejection() -> None:
    for kind in (
        MalformedToken,
        TokenSignatureInvalid,
        TokenExpired,
        TokenIssuerMismatch,
        TokenAudienceMismatch,
        TokenUseMismatch,
        ApproverGroupMissing,
    ):
        assert issubclass(kind, SessionRejected)


def test_the_key_id_is_read_from_the_header_without_verifying(signing_key: jwk.RSAKey) -> None:
    token = jwt.encode({"alg": "RS256", "kid": "pool-key-1"}, claims(), signing_key)
    assert token_key_id(token) == "pool-key-1"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "eyJhbGciOiJSUzI1NiJ9.e30.sig", "%%%.e30.sig"])
def test_a_token_without_a_readable_kid_has_none(token: str) -> None:
    assert token_key_id(token) is None
