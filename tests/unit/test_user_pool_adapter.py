"""The user-pool adapter: JWKS fetched once, the client id found by name, the token endpoint's request and errors."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

import pytest

from governed_mlops.adapters.user_pool import HTTP_TIMEOUT_SECONDS, JWKS_REFRESH_SECONDS, CognitoUserPool
from governed_mlops.errors import ConfigError, LoginFailed

DOMAIN = "https://approvers.auth.eu-west-1.amazoncognito.com"


class FakeCognito:
    def __init__(self, pages: list[list[dict[str, str]]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def list_user_pool_clients(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        index = int(kwargs.get("NextToken", "0"))
        page: dict[str, Any] = {"UserPoolClients": self.pages[index]}
        if index + 1 < len(self.pages):
            page["NextToken"] = str(index + 1)
        return page


class Network:
    """Stands in for urllib.request.urlopen: records requests, answers from a script."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.requests: list[tuple[urllib.request.Request, float]] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> Any:
        self.requests.append((request, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return io.BytesIO(json.dumps(answer).encode())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pool(cognito: FakeCognito | None = None, clock: Clock | None = None) -> CognitoUserPool:
    cognito = cognito or FakeCognito([[{"ClientId": "c-1", "ClientName": "approval-login"}]])
    return CognitoUserPool(
        cognito,
        region="eu-west-1",
        user_pool_id="eu-west-1_P",
        client_name="approval-login",
        domain_url=DOMAIN,
        clock=clock or Clock(),
    )


def test_the_jwks_is_fetched_once_from_the_pools_well_known_url(monkeypatch: pytest.MonkeyPatch) -> None:
    network = Network([{"keys": [{"kid": "k"}]}])
    monkeypatch.setattr(urllib.request, "urlopen", network)
    user_pool = pool()
    assert user_pool.jwks() == user_pool.jwks() == {"keys": [{"kid": "k"}]}
    [(request, timeout)] = network.requests
    assert request.full_url == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_P/.well-known/jwks.json"
    assert timeout == HTTP_TIMEOUT_SECONDS


def test_a_known_kid_is_served_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    network = Network([{"keys": [{"kid": "k"}]}])
    monkeypatch.setattr(urllib.request, "urlopen", network)
    clock = Clock()
    user_pool = pool(clock=clock)
    user_pool.jwks("k")
    clock.now += 10 * JWKS_REFRESH_SECONDS
    assert user_pool.jwks("k") == {"keys": [{"kid": "k"}]}
    assert user_pool.jwks_fetches == 1


def test_an_unknown_kid_refetches_the_jwks_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a cached JWKS and, at Cognito, a rotated set with a new key
    network = Network([{"keys": [{"kid": "old"}]}, {"keys": [{"kid": "old"}, {"kid": "new"}]}])
    monkeypatch.setattr(urllib.request, "urlopen", network)
    clock = Clock()
    user_pool = pool(clock=clock)
    user_pool.jwks("old")
    clock.now += JWKS_REFRESH_SECONDS
    # When a token names the new key, the set is fetched again and then holds it
    assert [k["kid"] for k in user_pool.jwks("new")["keys"]] == ["old", "new"]
    assert user_pool.jwks("new") is user_pool.jwks("new")
    assert user_pool.jwks_fetches == 2


def test_unknown_kids_refetch_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    network = Network([{"keys": [{"kid": "k"}]}, {"keys": [{"kid": "k"}]}, {"keys": [{"kid": "k"}]}])
    monkeypatch.setattr(urllib.request, "urlopen", network)
    clock = Clock()
    user_pool = pool(clock=clock)
    user_pool.jwks()
    # Forged kids right after the fetch: no request reaches Cognito
    for forged in ("x1", "x2", "x3"):
        user_pool.jwks(forged)
    assert user_pool.jwks_fetches == 1
    clock.now += JWKS_REFRESH_SECONDS
    user_pool.jwks("x4")
    user_pool.jwks("x5")
    assert user_pool.jwks_fetches == 2
    assert len(network.requests) == 2


def test_the_client_id_is_found_by_name_across_pages() -> None:
    cognito = FakeCognito(
        [[{"ClientId": "x", "ClientName": "other"}], [{"ClientId": "c-9", "ClientName": "approval-login"}]]
    )
    user_pool = pool(cognito)
    assert user_pool.client_id() == user_pool.client_id() == "c-9"
    assert len(cognito.calls) == 2  # cached after the first look-up


@pytest.mark.parametrize(
    "clients",
    [[], [{"ClientId": "a", "ClientName": "approval-login"}, {"ClientId": "b", "ClientName": "approval-login"}]],
    ids=["none", "two"],
)
def test_anything_but_exactly_one_named_client_fails_loudly(clients: list[dict[str, str]]) -> None:
    with pytest.raises(ConfigError, match="APPROVAL_CLIENT_NAME"):
        pool(FakeCognito([clients])).client_id()


def test_the_code_is_exchanged_with_the_verifier_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    network = Network([{"id_token": "a.b.c", "access_token": "x", "expires_in": 900, "token_type": "Bearer"}])
    monkeypatch.setattr(urllib.request, "urlopen", network)
    tokens = pool().exchange_code("code-1", verifier="v" * 43, redirect_uri="https://api/prod/auth/callback")
    assert (tokens.id_token, tokens.expires_in) == ("a.b.c", 900)
    [(request, _)] = network.requests
    assert (request.full_url, request.get_method()) == (f"{DOMAIN}/oauth2/token", "POST")
    assert isinstance(request.data, bytes)
    assert {k: v[0] for k, v in parse_qs(request.data.decode()).items()} == {
        "grant_type": "authorization_code",
        "client_id": "c-1",
        "code": "code-1",
        "redirect_uri": "https://api/prod/auth/callback",
        "code_verifier": "v" * 43,
    }


def test_a_refused_code_is_a_login_failure_with_the_endpoints_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = urllib.error.HTTPError(
        f"{DOMAIN}/oauth2/token", 400, "Bad Request", Message(), io.BytesIO(b'{"error":"invalid_grant"}')
    )
    monkeypatch.setattr(urllib.request, "urlopen", Network([refused]))
    with pytest.raises(LoginFailed, match="HTTP 400.*invalid_grant"):
        pool().exchange_code("stale", verifier="v" * 43, redirect_uri="https://api/prod/auth/callback")


@pytest.mark.parametrize(
    "answer",
    [urllib.error.URLError("timed out"), TimeoutError("slow"), {"access_token": "only"}],
    ids=["unreachable", "timeout", "no-id-token"],
)
def test_an_unusable_token_answer_is_a_login_failure(monkeypatch: pytest.MonkeyPatch, answer: Any) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", Network([answer]))
    with pytest.raises(LoginFailed):
        pool().exchange_code("c", verifier="v" * 43, redirect_uri="https://api/prod/auth/callback")


def test_a_pool_without_a_domain_cannot_sign_anyone_in() -> None:
    user_pool = CognitoUserPool(
        FakeCognito([[{"ClientId": "c", "ClientName": "approval-login"}]]),
        region="eu-west-1",
        user_pool_id="eu-west-1_P",
        client_name="approval-login",
    )
    with pytest.raises(ConfigError, match="LOGIN_DOMAIN_URL"):
        user_pool.exchange_code("c", verifier="v" * 43, redirect_uri="https://api/prod/auth/callback")
