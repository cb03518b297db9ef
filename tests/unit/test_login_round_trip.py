"""The sign-in round trip's pure parts: PKCE (RFC 7636 appendix B), cookies, state, and the return-to path."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from governed_mlops.domain.login import (
    DEFAULT_RETURN_PATH,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    LoginRoundTrip,
    authorize_url,
    cleared_cookie,
    login_cookie,
    logout_url,
    pkce_challenge,
    pkce_verifier,
    read_cookies,
    safe_return_path,
    session_cookie,
)
from governed_mlops.errors import LoginFailed


def attributes(set_cookie: str) -> tuple[str, str, dict[str, str]]:
    first, *rest = [part.strip() for part in set_cookie.split(";")]
    name, _, value = first.partition("=")
    return name, value, {k.lower(): v for k, _, v in (part.partition("=") for part in rest)}


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_verifiers_are_fresh_and_within_the_allowed_alphabet() -> None:
    first, second = pkce_verifier(), pkce_verifier()
    assert first != second
    assert 43 <= len(first) <= 128
    pkce_challenge(first)  # raises on a verifier outside RFC 7636 §4.1


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "has space" + "a" * 40, "é" * 43])
def test_pkce_refuses_a_verifier_outside_the_rfc(verifier: str) -> None:
    with pytest.raises(ValueError, match="RFC 7636"):
        pkce_challenge(verifier)


@pytest.mark.parametrize(
    "path",
    ["/prod/approvals/a1?exp=1700000000&sig=abc", "/approvals", "/prod/approvals/a%2F1"],
)
def test_same_origin_paths_are_kept(path: str) -> None:
    assert safe_return_path(path) == path


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/approvals",
        "//evil.example/approvals",
        "/\\evil.example",
        "/\\/evil.example",
        "javascript:alert(1)",
        "approvals",
        "/approvals\r\nSet-Cookie: x=1",
        "/approvals\x00",
        "",
        None,
        "/" + "a" * 3000,
    ],
)
def test_open_redirects_are_refused(target: str | None) -> None:
    assert safe_return_path(target) == DEFAULT_RETURN_PATH


def test_the_session_cookie_is_host_only_http_only_secure_and_strict() -> None:
    name, value, attrs = attributes(session_cookie("header.claims.sig", max_age=900))
    assert (name, value) == (SESSION_COOKIE, "header.claims.sig")
    assert name.startswith("__Host-")
    assert attrs == {"max-age": "900", "path": "/", "secure": "", "httponly": "", "samesite": "Strict"}


def test_the_login_cookie_is_lax_and_short_lived() -> None:
    trip = LoginRoundTrip.start("/prod/approvals/a1?exp=1&sig=s")
    name, value, attrs = attributes(login_cookie(trip))
    assert name == LOGIN_COOKIE
    assert name.startswith("__Host-")
    assert attrs["samesite"] == "Lax"
    assert int(attrs["max-age"]) <= 600
    assert {"secure", "httponly", "path"} <= attrs.keys()
    assert "domain" not in attrs
    assert LoginRoundTrip.from_cookie_value(value) == trip


def test_cleared_cookies_expire_at_once() -> None:
    for name in (SESSION_COOKIE, LOGIN_COOKIE):
        cleared_name, value, attrs = attributes(cleared_cookie(name))
        assert (cleared_name, value, attrs["max-age"]) == (name, "", "0")


def test_a_round_trip_cookie_with_a_foreign_return_path_returns_home() -> None:
    trip = LoginRoundTrip(state="s" * 10, nonce="n" * 10, verifier=pkce_verifier(), return_to="//evil.example")
    assert LoginRoundTrip.from_cookie_value(trip.to_cookie_value()).return_to == DEFAULT_RETURN_PATH


@pytest.mark.parametrize("value", [None, "", "not-base64-json", "e30"], ids=["none", "empty", "garbage", "empty-json"])
def test_a_missing_or_unreadable_login_cookie_fails_the_login(value: str | None) -> None:
    with pytest.raises(LoginFailed, match="approval link again"):
        LoginRoundTrip.from_cookie_value(value)


def test_the_callback_state_must_match_the_round_trip() -> None:
    trip = LoginRoundTrip.start(None)
    trip.check_state(trip.state)
    for wrong in (None, "", trip.state + "x", LoginRoundTrip.start(None).state):
        with pytest.raises(LoginFailed, match="state"):
            trip.check_state(wrong)


def test_the_authorize_url_asks_for_a_code_with_pkce_state_and_nonce() -> None:
    trip = LoginRoundTrip.start("/prod/approvals/a1")
    url = authorize_url(
        "https://pool.auth.eu-west-1.amazoncognito.com/",
        client_id="c1",
        redirect_uri="https://api.example/prod/auth/callback",
        trip=trip,
    )
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.netloc, parts.path) == ("pool.auth.eu-west-1.amazoncognito.com", "/oauth2/authorize")
    assert query == {
        "response_type": "code",
        "client_id": "c1",
        "redirect_uri": "https://api.example/prod/auth/callback",
        "scope": "openid email profile",
        "state": trip.state,
        "nonce": trip.nonce,
        "code_challenge": pkce_challenge(trip.verifier),
        "code_challenge_method": "S256",
    }


def test_the_logout_url_returns_to_the_given_page() -> None:
    url = logout_url("https://pool.auth.example", client_id="c1", logout_uri="https://api.example/prod/auth/signed-out")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert urlsplit(url).path == "/logout"
    assert query == {"client_id": "c1", "logout_uri": "https://api.example/prod/auth/signed-out"}


def test_cookies_are_read_from_the_header() -> None:
    header = f'other=1; {SESSION_COOKIE}=a.b.c; broken; {SESSION_COOKIE}=second; q="quoted"'
    assert read_cookies(header) == {"other": "1", SESSION_COOKIE: "a.b.c", "q": "quoted"}
    assert read_cookies(None) == {}
