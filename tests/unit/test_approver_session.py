"""Approver sessions: the authorizer's answers, the sign-in round trip, and the three handlers on a fake user pool.

The fake pool signs tokens with a locally generated RSA key and publishes its JWKS; everything else
(cookie parsing, verification, the policy, redirects) is the real code.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from joserfc import jwk, jwt

from governed_mlops.adapters.user_pool import JWKS_REFRESH_SECONDS, CognitoUserPool, TokenSet
from governed_mlops.domain.id_tokens import issuer_url
from governed_mlops.domain.login import LOGIN_COOKIE, SESSION_COOKIE, LoginRoundTrip, login_cookie, pkce_challenge
from governed_mlops.errors import LoginFailed, TokenAudienceMismatch
from governed_mlops.services.approver_session import (
    SessionDeps,
    api_resource,
    authorize,
    begin_login,
    finish_login,
    sign_out,
)
from tests.conftest import PROJECT_DIR

REGION, POOL, CLIENT = "eu-west-1", "eu-west-1_Pool", "client-1"
METHOD_ARN = "arn:aws:execute-api:eu-west-1:111122223333:api123/prod/GET/approvals/a1"
CALLBACK = "https://api123.execute-api.eu-west-1.amazonaws.com/prod/auth/callback"
KEY = jwk.RSAKey.generate_key(2048, parameters={"kid": "k1"})


def now() -> datetime:
    return datetime.now(UTC)


def id_token(*, username: str = "carol", groups: tuple[str, ...] = ("model-approvers",), **claims: Any) -> str:
    payload = {
        "iss": issuer_url(REGION, POOL),
        "aud": CLIENT,
        "token_use": "id",
        "cognito:username": username,
        "cognito:groups": list(groups),
        "email": f"{username}@example.com",
        "exp": int(now().timestamp()) + 900,
    } | claims
    return jwt.encode({"alg": "RS256", "kid": "k1"}, payload, KEY)


class FakeUserPool:
    """The pool's JWKS, client id, domain and token endpoint; the token endpoint returns a preset ID token."""

    def __init__(self) -> None:
        self.issuer = issuer_url(REGION, POOL)
        self.domain_url = "https://approvers.auth.eu-west-1.amazoncognito.com"
        self.issued = id_token()
        self.exchanges: list[tuple[str, str, str]] = []
        self.kids_asked: list[str | None] = []

    def jwks(self, kid: str | None = None) -> dict[str, Any]:
        self.kids_asked.append(kid)
        return {"keys": [KEY.as_dict(private=False)]}

    def client_id(self) -> str:
        return CLIENT

    def exchange_code(self, code: str, *, verifier: str, redirect_uri: str) -> TokenSet:
        self.exchanges.append((code, verifier, redirect_uri))
        return TokenSet(id_token=self.issued, expires_in=900)


@pytest.fixture
def pool() -> FakeUserPool:
    return FakeUserPool()


@pytest.fixture
def deps(pool: FakeUserPool) -> SessionDeps:
    return SessionDeps(user_pool=pool, approver_group="model-approvers", session_seconds=900)


# -- the authorizer --------------------------------------------------------------------------------


def test_the_policy_covers_the_stage_of_the_method() -> None:
    assert api_resource(METHOD_ARN) == "arn:aws:execute-api:eu-west-1:111122223333:api123/prod/*"
    with pytest.raises(ValueError, match="method ARN"):
        api_resource("arn:aws:lambda:eu-west-1:1:function:f")


def test_no_cookie_is_allowed_as_anonymous(deps: SessionDeps) -> None:
    answer = authorize(None, METHOD_ARN, deps, now=now())
    assert answer["principalId"] == "anonymous"
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert answer["context"]["signedIn"] == "false"


def test_a_verified_session_is_allowed_with_the_approver_in_the_context(deps: SessionDeps) -> None:
    answer = authorize(f"theme=dark; {SESSION_COOKIE}={id_token()}", METHOD_ARN, deps, now=now())
    assert answer["principalId"] == "carol"
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_resource(METHOD_ARN)}
    ]
    assert answer["context"] == {
        "signedIn": "true",
        "username": "carol",
        "email": "carol@example.com",
        "groups": "model-approvers",
    }


@pytest.mark.parametrize(
    ("token", "rejection"),
    [
        (lambda: id_token(exp=int(now().timestamp()) - 1), "TokenExpired"),
        (lambda: id_token(aud="another-client"), "TokenAudienceMismatch"),
        (lambda: id_token(iss=issuer_url(REGION, "eu-west-1_Other")), "TokenIssuerMismatch"),
        (lambda: id_token(groups=()), "ApproverGroupMissing"),
        (lambda: id_token(token_use="access"), "TokenUseMismatch"),
        (lambda: id_token()[:-4] + "AAAA", "TokenSignatureInvalid"),
        (lambda: "not-a-jwt", "MalformedToken"),
    ],
    ids=["expired", "audience", "issuer", "group", "token-use", "tampered", "malformed"],
)
def test_a_rejected_session_is_denied(deps: SessionDeps, token: Any, rejection: str) -> None:
    answer = authorize(f"{SESSION_COOKIE}={token()}", METHOD_ARN, deps, now=now())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert answer["principalId"] == "rejected"
    assert answer["context"]["rejection"] == rejection


# -- the sign-in round trip ------------------------------------------------------------------------


def test_login_sends_the_browser_to_the_managed_login_with_pkce(deps: SessionDeps) -> None:
    answer = begin_login("/prod/approvals/a1?exp=1&sig=s", callback_url=CALLBACK, deps=deps)
    assert answer.status == 302
    location = urlsplit(answer.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{deps.user_pool.domain_url}/oauth2/authorize"
    [cookie] = answer.cookies
    trip = LoginRoundTrip.from_cookie_value(cookie.split(";")[0].split("=", 1)[1])
    assert trip.return_to == "/prod/approvals/a1?exp=1&sig=s"
    assert (query["state"], query["nonce"]) == (trip.state, trip.nonce)
    assert query["code_challenge"] == pkce_challenge(trip.verifier)
    assert query["redirect_uri"] == CALLBACK


def _trip_cookie(return_to: str = "/prod/approvals/a1?exp=1&sig=s") -> tuple[LoginRoundTrip, str]:
    trip = LoginRoundTrip.start(return_to)
    return trip, login_cookie(trip).split(";")[0]


def test_the_callback_sets_the_session_and_returns_to_the_page(deps: SessionDeps, pool: FakeUserPool) -> None:
    trip, cookie = _trip_cookie()
    pool.issued = id_token(nonce=trip.nonce)
    answer = finish_login("code-1", trip.state, cookie, callback_url=CALLBACK, deps=deps, now=now())
    assert answer.status == 200
    assert pool.exchanges == [("code-1", trip.verifier, CALLBACK)]
    session, cleared = answer.cookies
    assert session.startswith(f"{SESSION_COOKIE}={pool.issued};")
    assert "SameSite=Strict" in session
    assert cleared.startswith(f"{LOGIN_COOKIE}=;")
    assert "Max-Age=0" in cleared
    assert 'content="0;url=/prod/approvals/a1?exp=1&amp;sig=s"' in answer.body


def test_the_session_never_outlives_the_token(deps: SessionDeps, pool: FakeUserPool) -> None:
    trip, cookie = _trip_cookie()
    pool.issued = id_token(exp=int(now().timestamp()) + 120, nonce=trip.nonce)
    answer = finish_login("code-1", trip.state, cookie, callback_url=CALLBACK, deps=deps, now=now())
    max_age = int(answer.cookies[0].split("Max-Age=")[1].split(";")[0])
    assert 110 <= max_age <= 120


def test_a_callback_with_another_state_is_refused(deps: SessionDeps, pool: FakeUserPool) -> None:
    _, cookie = _trip_cookie()
    with pytest.raises(LoginFailed, match="state"):
        finish_login("code-1", "forged-state", cookie, callback_url=CALLBACK, deps=deps, now=now())
    assert pool.exchanges == []


def test_a_callback_without_the_login_cookie_is_refused(deps: SessionDeps) -> None:
    with pytest.raises(LoginFailed, match="login cookie"):
        finish_login("code-1", "s", None, callback_url=CALLBACK, deps=deps, now=now())


def test_a_callback_without_a_code_is_refused(deps: SessionDeps) -> None:
    trip, cookie = _trip_cookie()
    with pytest.raises(LoginFailed, match="authorization code"):
        finish_login(None, trip.state, cookie, callback_url=CALLBACK, deps=deps, now=now())


def test_a_token_with_another_nonce_is_refused(deps: SessionDeps, pool: FakeUserPool) -> None:
    trip, cookie = _trip_cookie()
    pool.issued = id_token(nonce="someone-elses")
    with pytest.raises(LoginFailed, match="nonce"):
        finish_login("code-1", trip.state, cookie, callback_url=CALLBACK, deps=deps, now=now())


def test_a_token_without_the_nonce_this_sign_in_sent_is_refused(deps: SessionDeps, pool: FakeUserPool) -> None:
    # Given a sign-in whose authorize request sent a nonce, when the code yields a token without one
    trip, cookie = _trip_cookie()
    pool.issued = id_token()
    # Then no session is set
    with pytest.raises(LoginFailed, match="no nonce"):
        finish_login("code-1", trip.state, cookie, callback_url=CALLBACK, deps=deps, now=now())


def test_the_callback_asks_the_pool_for_the_key_the_token_names(deps: SessionDeps, pool: FakeUserPool) -> None:
    trip, cookie = _trip_cookie()
    pool.issued = id_token(nonce=trip.nonce)
    finish_login("code-1", trip.state, cookie, callback_url=CALLBACK, deps=deps, now=now())
    authorize(f"{SESSION_COOKIE}={pool.issued}", METHOD_ARN, deps, now=now())
    assert pool.kids_asked == ["k1", "k1"]


def test_the_authorizer_accepts_a_token_signed_with_a_rotated_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an authorizer whose cached JWKS predates Cognito's key rotation
    rotated = jwk.RSAKey.generate_key(2048, parameters={"kid": "k2"})
    answers = [{"keys": [KEY.as_dict(private=False)]}, {"keys": [KEY.as_dict(private=False), rotated.as_dict()]}]
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda request, timeout: io.BytesIO(json.dumps(answers.pop(0)).encode())
    )
    clock = [0.0]
    cognito = mock.Mock(
        **{"list_user_pool_clients.return_value": {"UserPoolClients": [{"ClientId": CLIENT, "ClientName": "c"}]}}
    )
    user_pool = CognitoUserPool(cognito, region=REGION, user_pool_id=POOL, client_name="c", clock=lambda: clock[0])
    deps = SessionDeps(user_pool=user_pool, approver_group="model-approvers")
    assert authorize(f"{SESSION_COOKIE}={id_token()}", METHOD_ARN, deps, now=now())["principalId"] == "carol"
    clock[0] += JWKS_REFRESH_SECONDS
    # When a session's token is signed with the new key, then it is verified after one refresh
    token = jwt.encode({"alg": "RS256", "kid": "k2"}, {**_claims_of(id_token())}, rotated)
    assert authorize(f"{SESSION_COOKIE}={token}", METHOD_ARN, deps, now=now())["principalId"] == "carol"
    assert user_pool.jwks_fetches == 2
    # And a forged kid right after is denied without another fetch
    forged = jwt.encode({"alg": "RS256", "kid": "k9"}, _claims_of(id_token()), jwk.RSAKey.generate_key(2048))
    assert (
        authorize(f"{SESSION_COOKIE}={forged}", METHOD_ARN, deps, now=now())["policyDocument"]["Statement"][0]["Effect"]
        == "Deny"
    )
    assert user_pool.jwks_fetches == 2


def _claims_of(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def test_the_callback_verifies_the_token_like_the_authorizer(deps: SessionDeps, pool: FakeUserPool) -> None:
    trip, cookie = _trip_cookie()
    pool.issued = id_token(aud="another-client")
    with pytest.raises(TokenAudienceMismatch):
        finish_login("code-1", trip.state, cookie, callback_url=CALLBACK, deps=deps, now=now())


def test_sign_out_clears_both_cookies_and_ends_the_managed_session(deps: SessionDeps) -> None:
    answer = sign_out(signed_out_url="https://api/prod/auth/signed-out", deps=deps)
    assert answer.status == 303
    assert urlsplit(answer.headers["Location"]).path == "/logout"
    assert sorted(c.split("=")[0] for c in answer.cookies) == sorted([SESSION_COOKIE, LOGIN_COOKIE])
    assert all("Max-Age=0" in c for c in answer.cookies)


# -- the handlers ------------------------------------------------------------------------------------

ENVIRON = {
    "MLOPS_BACKEND": "aws",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "ARTIFACTS_BUCKET": "artifacts",
    "APPROVER_USER_POOL_ID": POOL,
    "APPROVAL_CLIENT_NAME": "approval-login",
    "APPROVER_GROUP": "model-approvers",
    "LOGIN_DOMAIN_URL": "https://approvers.auth.eu-west-1.amazoncognito.com",
    "SESSION_SECONDS": "900",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "test",
    "POWERTOOLS_METRICS_NAMESPACE": "t",
}
CONTEXT = mock.Mock(function_name="f", memory_limit_in_mb=128, invoked_function_arn="arn:f", aws_request_id="r")


def _load(folder: str, deps: SessionDeps) -> ModuleType:
    path: Path = PROJECT_DIR / "functions" / folder / "app.py"
    with mock.patch.dict(os.environ, ENVIRON):
        spec = importlib.util.spec_from_file_location(f"{folder}_under_test", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"{folder}_under_test"] = module
        spec.loader.exec_module(module)
    module.dependencies = lambda: deps  # type: ignore[attr-defined]
    return module


def _rest_event(method: str, path: str, *, query: dict[str, str] | None = None, cookie: str | None = None) -> dict:
    headers = {"Host": "api123.execute-api.eu-west-1.amazonaws.com", "Accept": "text/html"}
    if cookie:
        headers["Cookie"] = cookie
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"stage": "prod", "path": f"/prod{path}", "requestId": "r1", "httpMethod": method},
        "body": None,
        "isBase64Encoded": False,
    }


def test_the_authorizer_handler_reads_the_cookie_header(deps: SessionDeps) -> None:
    module = _load("approver_authorizer", deps)
    event = {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": {"cookie": f"{SESSION_COOKIE}={id_token()}"},
        "requestContext": {"requestId": "r1"},
    }
    answer = module.lambda_handler(event, CONTEXT)
    assert answer["principalId"] == "carol"
    assert module.lambda_handler({**event, "headers": {}}, CONTEXT)["principalId"] == "anonymous"


def test_the_login_handler_round_trip(deps: SessionDeps, pool: FakeUserPool) -> None:
    module = _load("approval_login", deps)
    started = module.lambda_handler(
        _rest_event("GET", "/auth/login", query={"return_to": "/prod/approvals/a1?exp=1&sig=s"}), CONTEXT
    )
    assert started["statusCode"] == 302
    location = started["multiValueHeaders"]["Location"][0]
    state = parse_qs(urlsplit(location).query)["state"][0]
    assert parse_qs(urlsplit(location).query)["redirect_uri"] == [CALLBACK]
    cookie = started["multiValueHeaders"]["Set-Cookie"][0].split(";")[0]
    trip = LoginRoundTrip.from_cookie_value(cookie.split("=", 1)[1])
    pool.issued = id_token(nonce=trip.nonce)

    done = module.lambda_handler(
        _rest_event("GET", "/auth/callback", query={"code": "c", "state": state}, cookie=cookie), CONTEXT
    )
    assert done["statusCode"] == 200
    assert done["multiValueHeaders"]["Set-Cookie"][0].startswith(f"{SESSION_COOKIE}=")

    forged = module.lambda_handler(
        _rest_event("GET", "/auth/callback", query={"code": "c", "state": "other"}, cookie=cookie), CONTEXT
    )
    assert forged["statusCode"] == 403
    assert "LoginFailed" in forged["body"]


def test_the_login_handler_answers_403_to_a_token_without_the_nonce(deps: SessionDeps, pool: FakeUserPool) -> None:
    module = _load("approval_login", deps)
    started = module.lambda_handler(_rest_event("GET", "/auth/login", query={"return_to": "/prod/approvals"}), CONTEXT)
    cookie = started["multiValueHeaders"]["Set-Cookie"][0].split(";")[0]
    state = parse_qs(urlsplit(started["multiValueHeaders"]["Location"][0]).query)["state"][0]
    pool.issued = id_token()  # no nonce claim
    done = module.lambda_handler(
        _rest_event("GET", "/auth/callback", query={"code": "c", "state": state}, cookie=cookie), CONTEXT
    )
    assert done["statusCode"] == 403
    assert "no nonce" in done["body"]
    assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in done["multiValueHeaders"].get("Set-Cookie", []))


def test_the_approval_page_sends_a_visitor_without_a_session_to_sign_in() -> None:
    from tests.unit.test_approval_get_is_safe import APP

    environ = ENVIRON | {
        "MLOPS_BACKEND": "local",
        "MLOPS_LOCAL_ROOT": "/tmp/never-read",
        "APPROVALS_TABLE": "t",
        "APPROVAL_RETENTION_DAYS": "2557",
        "REGISTRY_TABLE": "r",
        "SIGNING_SECRET_ID": "s",
        "APPROVAL_TOPIC_ARN": "a",
    }
    with mock.patch.dict(os.environ, environ):
        spec = importlib.util.spec_from_file_location("approval_api_sign_in_test", APP)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    event = _rest_event("GET", "/approvals/a1", query={"exp": "1796491794", "sig": "abc"})
    event["requestContext"]["authorizer"] = {"principalId": "anonymous", "signedIn": "false"}
    answer = module.lambda_handler(event, CONTEXT)
    assert answer["statusCode"] == 302
    location = answer["multiValueHeaders"]["Location"][0]
    assert location.startswith("/prod/auth/login?return_to=")
    assert unquote(location.split("return_to=", 1)[1]) == "/prod/approvals/a1?exp=1796491794&sig=abc"

    # A script (JSON) or a POST is told to sign in instead of being redirected.
    event["headers"]["Accept"] = "application/json"
    event["multiValueHeaders"]["Accept"] = ["application/json"]
    assert module.lambda_handler(event, CONTEXT)["statusCode"] == 401
