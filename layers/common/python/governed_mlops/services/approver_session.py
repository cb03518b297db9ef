"""Approver sessions in AWS: the API's Lambda authorizer and the sign-in routes' use cases.

* :func:`authorize` (the REQUEST authorizer): no session cookie → allowed as *anonymous* (the approval
  API answers with a redirect to sign in); a session whose ID token fails any check → an explicit Deny
  (API Gateway answers 403); a verified approver → Allow, with the approver in the context.
* :func:`begin_login` (GET /auth/login): the round-trip cookie and a redirect to the managed login.
* :func:`finish_login` (GET /auth/callback): state check, code + PKCE verifier exchanged for tokens, the
  ID token verified exactly as the authorizer verifies it (and its nonce), then the session cookie.
* :func:`sign_out` (POST /auth/logout): both cookies cleared and the managed login's session ended.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from governed_mlops.adapters.user_pool import TokenSet
from governed_mlops.domain.id_tokens import TokenExpectations, VerifiedApprover, token_key_id, verify_id_token
from governed_mlops.domain.login import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    LoginRoundTrip,
    anonymous_context,
    authorize_url,
    authorizer_context,
    cleared_cookie,
    login_cookie,
    logout_url,
    read_cookies,
    session_cookie,
)
from governed_mlops.errors import LoginFailed, SessionRejected
from governed_mlops.observability import logger


class UserPool(Protocol):
    issuer: str

    def jwks(self, kid: str | None = None) -> dict[str, Any]: ...
    def client_id(self) -> str: ...
    @property
    def domain_url(self) -> str: ...
    def exchange_code(self, code: str, *, verifier: str, redirect_uri: str) -> TokenSet: ...


@dataclass(frozen=True)
class SessionDeps:
    user_pool: UserPool
    approver_group: str
    #: Max-Age of the session cookie (never longer than the ID token lives).
    session_seconds: int = 900


@dataclass(frozen=True)
class HttpAnswer:
    """An answer for API Gateway: status, headers, ``Set-Cookie`` values, body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)
    body: str = ""


def _expectations(deps: SessionDeps) -> TokenExpectations:
    return TokenExpectations(
        issuer=deps.user_pool.issuer, client_id=deps.user_pool.client_id(), approver_group=deps.approver_group
    )


def verify_session(cookie_header: str | None, deps: SessionDeps, *, now: datetime) -> VerifiedApprover | None:
    """The approver the session cookie vouches for; None without a cookie; :class:`SessionRejected` if it fails."""
    token = read_cookies(cookie_header).get(SESSION_COOKIE)
    if not token:
        return None
    return verify_id_token(token, deps.user_pool.jwks(token_key_id(token)), _expectations(deps), now=now)


def api_resource(method_arn: str) -> str:
    """Every method of the stage ``method_arn`` belongs to (``arn:...:api-id/stage/*``)."""
    prefix, slash, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    if not slash or not stage or not prefix.startswith("arn:") or ":execute-api:" not in prefix:
        raise ValueError(f"not an API Gateway method ARN: {method_arn!r}")
    return f"{prefix}/{stage}/*"


def _policy(principal: str, effect: str, resource: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {k: v for k, v in context.items() if k != "principalId"},
    }


def authorize(cookie_header: str | None, method_arn: str, deps: SessionDeps, *, now: datetime) -> dict[str, Any]:
    """The REQUEST authorizer's answer for one request (see the module docstring)."""
    resource = api_resource(method_arn)
    try:
        approver = verify_session(cookie_header, deps, now=now)
    except SessionRejected as exc:
        logger.warning("approver session rejected", extra={"error": type(exc).__name__, "reason": str(exc)})
        return _policy("rejected", "Deny", resource, anonymous_context() | {"rejection": type(exc).__name__})
    if approver is None:
        return _policy("anonymous", "Allow", resource, anonymous_context())
    context = authorizer_context(approver.username, email=approver.email, groups=approver.groups)
    return _policy(approver.username, "Allow", resource, context)


def begin_login(return_to: str | None, *, callback_url: str, deps: SessionDeps) -> HttpAnswer:
    """GET /auth/login: remember the round trip in a cookie and send the browser to the managed login."""
    trip = LoginRoundTrip.start(return_to)
    location = authorize_url(
        deps.user_pool.domain_url, client_id=deps.user_pool.client_id(), redirect_uri=callback_url, trip=trip
    )
    return HttpAnswer(302, {"Location": location, "Cache-Control": "no-store"}, [login_cookie(trip)])


def _continue_page(return_to: str) -> str:
    # A page, not a 302: the callback is reached through a cross-site redirect chain (from the Cognito
    # domain), and browsers withhold SameSite=Strict cookies for the whole chain, so a redirect would
    # land on the approval page without the session just set. A navigation this page starts is same-site.
    target = html.escape(return_to, quote=True)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="0;url={target}"><title>Signed in</title></head>'
        f'<body><p>Signed in. <a href="{target}">Continue to the approval page</a>.</p></body></html>'
    )


def finish_login(
    code: str | None,
    state: str | None,
    cookie_header: str | None,
    *,
    callback_url: str,
    deps: SessionDeps,
    now: datetime,
) -> HttpAnswer:
    """GET /auth/callback: the session cookie for a verified approver.

    Raises :class:`LoginFailed` (round trip or code exchange) or :class:`SessionRejected` (the ID token).
    """
    trip = LoginRoundTrip.from_cookie_value(read_cookies(cookie_header).get(LOGIN_COOKIE))
    trip.check_state(state)
    if not code:
        raise LoginFailed("the sign-in answer has no authorization code; open the approval link again")
    tokens = deps.user_pool.exchange_code(code, verifier=trip.verifier, redirect_uri=callback_url)
    jwks = deps.user_pool.jwks(token_key_id(tokens.id_token))
    approver = verify_id_token(tokens.id_token, jwks, _expectations(deps), now=now)
    # Every authorize request sends a nonce and Cognito copies it into the ID token: a token without it, or
    # with another, was not issued for this sign-in (a replayed or injected token).
    if approver.nonce is None:
        raise LoginFailed("the ID token carries no nonce although this sign-in sent one; open the link again")
    if not secrets.compare_digest(approver.nonce.encode(), trip.nonce.encode()):
        raise LoginFailed("the ID token's nonce is not this sign-in's (a replayed token); open the link again")
    lifetime = max(0, min(deps.session_seconds, approver.expires_at - int(now.timestamp())))
    logger.info("approver signed in", extra={"approver": approver.username})
    cookies = [session_cookie(tokens.id_token, max_age=lifetime), cleared_cookie(LOGIN_COOKIE)]
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }
    return HttpAnswer(200, headers, cookies, _continue_page(trip.return_to))


def sign_out(*, signed_out_url: str, deps: SessionDeps) -> HttpAnswer:
    """POST /auth/logout: clear both cookies and end the managed login's session too."""
    location = logout_url(deps.user_pool.domain_url, client_id=deps.user_pool.client_id(), logout_uri=signed_out_url)
    cookies = [cleared_cookie(SESSION_COOKIE), cleared_cookie(LOGIN_COOKIE)]
    return HttpAnswer(303, {"Location": location, "Cache-Control": "no-store"}, cookies)
