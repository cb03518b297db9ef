"""The approver sign-in round trip, pure: PKCE, state and nonce, cookies, and the return-to path.

OAuth 2.0 authorization code flow with PKCE (RFC 7636, S256) against the user pool's managed login.
The round trip's secrets (state, nonce, code verifier, where to return) travel in one short-lived
cookie set by ``/auth/login`` and read back by ``/auth/callback``; the session is the verified ID
token in a second cookie. Both use the ``__Host-`` prefix: the browser accepts them only from this
exact origin over HTTPS with ``Path=/`` and no ``Domain``, so a sibling domain cannot plant them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from governed_mlops.errors import LoginFailed

#: Control characters (below space, and DEL) never belong in a redirect target.
_FIRST_PRINTABLE, _DELETE = 0x20, 0x7F

SESSION_COOKIE = "__Host-mlops-session"
LOGIN_COOKIE = "__Host-mlops-login"
#: The round trip must finish within this many seconds (the managed login page, the password, the TOTP code).
LOGIN_COOKIE_SECONDS = 600
#: Where an approver lands when the return-to path is missing or refused.
DEFAULT_RETURN_PATH = "/approvals"
SCOPES = ("openid", "email", "profile")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_MAX_RETURN_PATH = 2048


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_verifier() -> str:
    """A fresh code verifier: 64 characters from the unreserved set (RFC 7636 §4.1 allows 43-128)."""
    return _b64url(secrets.token_bytes(48))


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier``: BASE64URL(SHA256(ASCII(verifier))) without padding."""
    if not _UNRESERVED.fullmatch(verifier):
        raise ValueError("a PKCE code verifier is 43-128 characters of [A-Za-z0-9._~-] (RFC 7636 §4.1)")
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def safe_return_path(value: str | None) -> str:
    """``value`` if it is a path on this origin (``/...``), else :data:`DEFAULT_RETURN_PATH`.

    Refuses what a browser would follow to another site: absolute URLs, scheme-relative ``//host``,
    ``/\\host`` (browsers read ``\\`` as ``/``), control characters, and anything with a scheme or host.
    """
    if not value or len(value) > _MAX_RETURN_PATH or not value.startswith("/"):
        return DEFAULT_RETURN_PATH
    if (
        value.startswith(("//", "/\\"))
        or "\\" in value
        or any(ord(ch) < _FIRST_PRINTABLE or ord(ch) == _DELETE for ch in value)
    ):
        return DEFAULT_RETURN_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return DEFAULT_RETURN_PATH
    return value


@dataclass(frozen=True)
class LoginRoundTrip:
    """What ``/auth/login`` remembers for ``/auth/callback``."""

    state: str
    nonce: str
    verifier: str
    return_to: str

    @classmethod
    def start(cls, return_to: str | None) -> LoginRoundTrip:
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=pkce_verifier(),
            return_to=safe_return_path(return_to),
        )

    def to_cookie_value(self) -> str:
        payload = {"s": self.state, "n": self.nonce, "v": self.verifier, "r": self.return_to}
        return _b64url(json.dumps(payload, separators=(",", ":")).encode())

    @classmethod
    def from_cookie_value(cls, value: str | None) -> LoginRoundTrip:
        if not value:
            raise LoginFailed(
                "the sign-in round trip has no login cookie (it expired after "
                f"{LOGIN_COOKIE_SECONDS // 60} minutes, or the browser refused it); open the approval link again"
            )
        try:
            payload = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            trip = cls(state=payload["s"], nonce=payload["n"], verifier=payload["v"], return_to=payload["r"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LoginFailed("the login cookie is unreadable; open the approval link again") from exc
        if not all(isinstance(item, str) and item for item in (trip.state, trip.nonce, trip.verifier)):
            raise LoginFailed("the login cookie is incomplete; open the approval link again")
        return LoginRoundTrip(trip.state, trip.nonce, trip.verifier, safe_return_path(trip.return_to))

    def check_state(self, state: str | None) -> None:
        """The callback's ``state`` must be the one this browser's round trip started with (login CSRF)."""
        if not state or not secrets.compare_digest(state.encode(), self.state.encode()):
            raise LoginFailed("the sign-in answer's state does not match this browser's sign-in; open the link again")


def authorize_url(domain_url: str, *, client_id: str, redirect_uri: str, trip: LoginRoundTrip) -> str:
    """The managed login's ``/oauth2/authorize`` URL for ``trip`` (code flow, PKCE S256, state, nonce)."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
        "state": trip.state,
        "nonce": trip.nonce,
        "code_challenge": pkce_challenge(trip.verifier),
        "code_challenge_method": "S256",
    }
    return f"{domain_url.rstrip('/')}/oauth2/authorize?{urlencode(query)}"


def logout_url(domain_url: str, *, client_id: str, logout_uri: str) -> str:
    """The managed login's ``/logout`` URL (ends the hosted session too, then returns to ``logout_uri``)."""
    return f"{domain_url.rstrip('/')}/logout?{urlencode({'client_id': client_id, 'logout_uri': logout_uri})}"


def _cookie(name: str, value: str, *, max_age: int, same_site: str) -> str:
    # __Host- requires Secure, Path=/ and no Domain; HttpOnly keeps the token away from page scripts.
    return f"{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite={same_site}"


def session_cookie(id_token: str, *, max_age: int) -> str:
    """The session: the verified ID token, never longer than the token itself lives."""
    return _cookie(SESSION_COOKIE, id_token, max_age=max_age, same_site="Strict")


def login_cookie(trip: LoginRoundTrip) -> str:
    """The round trip's cookie.

    SameSite=Lax, not Strict: ``/auth/callback`` is reached by a top-level navigation *from the Cognito
    domain* (a cross-site redirect), and browsers withhold Strict cookies on cross-site navigations, so
    the callback could never read the state and verifier. Lax cookies ride on top-level GET navigations
    only (never on cross-site POSTs or subresource requests), the cookie lives 10 minutes, and its
    contents are useless to anyone without the authorization code that only the user pool hands out.
    """
    return _cookie(LOGIN_COOKIE, trip.to_cookie_value(), max_age=LOGIN_COOKIE_SECONDS, same_site="Lax")


def cleared_cookie(name: str) -> str:
    """A ``Set-Cookie`` that deletes ``name`` (same attributes, Max-Age=0)."""
    return _cookie(name, "", max_age=0, same_site="Strict" if name == SESSION_COOKIE else "Lax")


def read_cookies(header: str | None) -> dict[str, str]:
    """``name -> value`` from a ``Cookie`` request header (the first of duplicate names wins, as browsers send
    the most specific first); malformed pairs are skipped."""
    cookies: dict[str, str] = {}
    for pair in (header or "").split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


# --- The authorizer's context: the one shape the approval API reads identity from ----------------------

#: ``signedIn`` is "true" only when a verified session (or, locally, the runtime's vouched user) stands behind
#: the request; API Gateway passes context values to the function as strings.
SIGNED_IN = "true"


def authorizer_context(
    username: str, *, email: str = "", groups: frozenset[str] | set[str] = frozenset()
) -> dict[str, str]:
    """``requestContext.authorizer`` for a signed-in caller (the Lambda authorizer's context + principalId)."""
    return {
        "principalId": username,
        "signedIn": SIGNED_IN,
        "username": username,
        "email": email,
        "groups": " ".join(sorted(groups)),
    }


def anonymous_context() -> dict[str, str]:
    """``requestContext.authorizer`` for a request without a session: the API answers with a way to sign in."""
    return {"principalId": "anonymous", "signedIn": "false", "username": "", "email": "", "groups": ""}
