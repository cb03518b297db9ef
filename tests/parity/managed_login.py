"""A TEST DOUBLE of the user pool's managed login (hosted UI) and OAuth token endpoint, on moto's user pool.

moto models user pools, app clients, domains, SRP sign-in, TOTP MFA and the JWKS endpoint, but has no
hosted UI and no ``/oauth2/authorize`` / ``/oauth2/token``. This double plays those two endpoints the
way Cognito documents them, and nothing more:

* ``/oauth2/authorize``: checks the request against the app client moto holds (code flow allowed, the
  redirect URI registered, scopes allowed, ``code_challenge_method=S256``), signs the user in on moto
  with SRP and answers the TOTP challenge (enrolling the authenticator on the first sign-in, as the
  managed login does when the pool requires MFA), and redirects to the callback with a one-time code.
  The tokens behind the code are **moto's** (real RS256 JWTs signed by moto's pool key); when the authorize
  request carried a ``nonce``, the ID token is re-issued by moto's pool (``create_jwt``, same key, same
  claims) with that nonce added, as Cognito copies the nonce into the ID token (OpenID Connect Core 3.1.2.1).
* ``/oauth2/token``: exchanges a code once, only for the client and redirect URI it was issued to and
  only with the PKCE verifier whose S256 challenge the authorize request carried.

The functions reach Cognito with ``urllib.request.urlopen``; :meth:`ManagedLoginDouble.installed` routes
that function: the domain's ``/oauth2/token`` to this double, the pool's ``/.well-known/jwks.json`` to
moto (which serves it), and refuses anything else (a function in the stack must not reach other hosts).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import requests
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from tests.parity.stack import HARNESS_CREDENTIALS, ParityStack, cognito_srp_sign_in

#: moto validates TOTP codes only with this set (else any code passes): the parity tier always sets it.
MOTO_TOTP_SWITCH = "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"


def totp_code(secret: str, at: float | None = None) -> str:
    """The 6-digit RFC 6238 code (SHA-1, 30 s) an authenticator app shows for a Cognito TOTP ``secret``."""
    padded = secret + "=" * (-len(secret) % 8)
    totp = TOTP(base64.b32decode(padded, casefold=True), 6, SHA1(), 30, enforce_key_length=False)
    return totp.generate(int(at if at is not None else time.time())).decode()


class OAuthError(Exception):
    """What the managed login answers instead of redirecting (a bad authorize request)."""


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    tokens: dict[str, Any]


class ManagedLoginDouble:
    """The hosted UI and token endpoint of the stack's user pool (see the module docstring)."""

    def __init__(self, stack: ParityStack) -> None:
        self._stack = stack
        self._cognito = boto3.client("cognito-idp", region_name=stack.region, **HARNESS_CREDENTIALS)
        domain = stack.ref("ApproverUserPoolDomain")
        self.domain_host = f"{domain}.auth.{stack.region}.amazoncognito.com"
        self._grants: dict[str, _Grant] = {}
        #: username -> the TOTP secret the user's authenticator app holds (enrolled at first sign-in).
        self.authenticators: dict[str, str] = {}
        self.token_requests = 0

    # -- the user's side: the hosted UI ---------------------------------------------------------------
    def authorize(self, url: str, *, username: str, password: str) -> str:
        """Sign ``username`` in for the authorize request ``url``; returns the callback URL with the code."""
        parts = urlsplit(url)
        if parts.netloc != self.domain_host or parts.path != "/oauth2/authorize":
            raise OAuthError(f"not this pool's authorize endpoint: {parts.netloc}{parts.path}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        client = self._cognito.describe_user_pool_client(
            UserPoolId=self._stack.user_pool_id, ClientId=query.get("client_id", "")
        )["UserPoolClient"]
        if query.get("response_type") != "code" or "code" not in client.get("AllowedOAuthFlows", []):
            raise OAuthError("unauthorized_client: the client may not use the authorization code flow")
        if query.get("redirect_uri") not in client.get("CallbackURLs", []):
            raise OAuthError(f"redirect_mismatch: {query.get('redirect_uri')} is not a callback URL of the client")
        if not set(query.get("scope", "").split()) <= set(client.get("AllowedOAuthScopes", [])):
            raise OAuthError("invalid_scope")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            raise OAuthError("invalid_request: PKCE with S256 is required by this double (as the login sends it)")
        tokens = self.sign_in(username, password, client_id=client["ClientId"])
        if query.get("nonce"):
            tokens = {**tokens, "IdToken": self._with_nonce(tokens["IdToken"], query["nonce"], client["ClientId"])}
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(client["ClientId"], query["redirect_uri"], query["code_challenge"], tokens)
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def sign_in(self, username: str, password: str, *, client_id: str) -> dict[str, Any]:
        """SRP + TOTP on moto's pool (enrolling an authenticator the first time); moto's tokens."""
        return cognito_srp_sign_in(
            user_pool_id=self._stack.user_pool_id,
            client_id=client_id,
            username=username,
            password=password,
            region=self._stack.region,
            authenticators=self.authenticators,
            totp=totp_code,
        )

    def _with_nonce(self, id_token: str, nonce: str, client_id: str) -> str:
        from moto.cognitoidp.models import cognitoidp_backends

        body = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        pool = cognitoidp_backends[self._stack.account_id][self._stack.region].user_pools[self._stack.user_pool_id]
        lifetime = int(claims["exp"]) - int(claims["iat"])
        token, _ = pool.create_jwt(
            client_id, claims["cognito:username"], "id", expires_in=lifetime, extra_data={**claims, "nonce": nonce}
        )
        pool.id_tokens[token] = (client_id, claims["cognito:username"])
        return str(token)

    # -- the login function's side: the token endpoint -----------------------------------------------
    def token_endpoint(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        grant = self._grants.pop(form.get("code", ""), None)  # a code is good for one exchange only
        if grant is None:
            return 400, {"error": "invalid_grant"}
        if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or challenge != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        tokens = grant.tokens
        return 200, {
            "id_token": tokens["IdToken"],
            "access_token": tokens["AccessToken"],
            "expires_in": tokens.get("ExpiresIn", 3600),
            "token_type": "Bearer",
        }

    # -- the network the functions see ----------------------------------------------------------------
    def _urlopen(self, request: Any, data: Any = None, timeout: float | None = None, **_: Any) -> Any:
        if not isinstance(request, urllib.request.Request):
            request = urllib.request.Request(request, data=data)
        parts = urlsplit(request.full_url)
        if parts.netloc == self.domain_host and parts.path == "/oauth2/token" and request.get_method() == "POST":
            body = request.data if isinstance(request.data, bytes) else b""
            status, answer = self.token_endpoint({k: v[-1] for k, v in parse_qs(body.decode()).items()})
            return _response(request.full_url, status, answer)
        if parts.netloc == f"cognito-idp.{self._stack.region}.amazonaws.com" and parts.path.endswith(
            "/.well-known/jwks.json"
        ):
            # moto serves each pool's JWKS at this URL (through requests, which mock_aws intercepts).
            got = requests.get(request.full_url, timeout=timeout or 5)
            return _response(request.full_url, got.status_code, got.json())
        raise urllib.error.URLError(f"the parity network has no route to {parts.netloc}")

    @contextlib.contextmanager
    def installed(self) -> Iterator[ManagedLoginDouble]:
        original = urllib.request.urlopen
        urllib.request.urlopen = self._urlopen  # type: ignore[assignment]
        try:
            yield self
        finally:
            urllib.request.urlopen = original


def _response(url: str, status: int, document: dict[str, Any]) -> Any:
    body = json.dumps(document).encode()
    headers = Message()
    headers["Content-Type"] = "application/json"
    if status >= 400:
        raise urllib.error.HTTPError(url, status, "error", headers, io.BytesIO(body))
    return _Answer(body)


class _Answer(io.BytesIO):
    """What ``urlopen`` returns, enough for ``with urlopen(...) as r: r.read(n)``."""

    status = 200
