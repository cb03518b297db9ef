"""The approvers' Cognito user pool: its signing keys, its approval app client, its OAuth token endpoint.

The JWKS (``/.well-known/jwks.json``) and the token endpoint (``/oauth2/token`` on the pool's domain) are
plain HTTPS endpoints, not AWS APIs: they are called with ``urllib.request`` and a timeout. The app
client's id is looked up once with the Cognito API (``ListUserPoolClients``) by the client's name: the
client's callback URL names the approval API, so passing the id to the functions behind that API would
make a dependency cycle CloudFormation refuses.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from governed_mlops.domain.id_tokens import issuer_url
from governed_mlops.errors import ConfigError, LoginFailed

#: Seconds before an HTTPS call to Cognito is abandoned (the authorizer answers API Gateway within 10 s).
HTTP_TIMEOUT_SECONDS = 5.0
_MAX_RESPONSE_BYTES = 256 * 1024
#: A token signed with a key the cached JWKS lacks refetches it, at most once per this many seconds: a
#: rotated pool key is picked up without a cold start, and a flood of forged kids cannot hammer Cognito.
JWKS_REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returned for an authorization code."""

    id_token: str
    expires_in: int


def _read_json(request: urllib.request.Request, what: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - https URLs we build
            document = json.loads(response.read(_MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as exc:
        detail = exc.read(4096).decode("utf-8", errors="replace")
        raise LoginFailed(f"{what} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise LoginFailed(f"{what} could not be reached ({exc}); try again in a moment") from exc
    except ValueError as exc:
        raise LoginFailed(f"{what} answered with something other than JSON") from exc
    if not isinstance(document, dict):
        raise LoginFailed(f"{what} answered with JSON that is not an object")
    return document


class CognitoUserPool:
    """One user pool and its approval app client; the JWKS and the client id are fetched once per cold start.

    The JWKS is fetched again when a token names a key it does not hold (Cognito rotated its keys), once per
    :data:`JWKS_REFRESH_SECONDS` at most (``clock`` is monotonic seconds).
    """

    def __init__(
        self,
        cognito: Any,
        *,
        region: str,
        user_pool_id: str,
        client_name: str,
        domain_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cognito = cognito
        self._user_pool_id = user_pool_id
        self._client_name = client_name
        self._domain_url = domain_url.rstrip("/") if domain_url else None
        self.issuer = issuer_url(region, user_pool_id)
        self._clock = clock
        self._jwks: dict[str, Any] | None = None
        self._jwks_fetched_at = 0.0
        self._client_id: str | None = None
        #: How many times the JWKS was fetched (the first fetch and each refresh).
        self.jwks_fetches = 0

    def jwks(self, kid: str | None = None) -> dict[str, Any]:
        """The pool's public signing keys, cached per cold start.

        ``kid`` is the key the token to verify names: when the cached set lacks it, the set is fetched again
        (rate-limited, see the class docstring); a kid still unknown then fails verification (403).
        """
        if self._jwks is None or (
            kid is not None
            and kid not in self._key_ids(self._jwks)
            and self._clock() - self._jwks_fetched_at >= JWKS_REFRESH_SECONDS
        ):
            request = urllib.request.Request(f"{self.issuer}/.well-known/jwks.json", method="GET")  # noqa: S310
            document = _read_json(request, "the user pool's JWKS endpoint")
            if not isinstance(document.get("keys"), list):
                raise LoginFailed("the user pool's JWKS has no keys list")
            self._jwks, self._jwks_fetched_at = document, self._clock()
            self.jwks_fetches += 1
        return self._jwks

    @staticmethod
    def _key_ids(jwks: dict[str, Any]) -> set[str]:
        return {str(key.get("kid")) for key in jwks.get("keys", []) if isinstance(key, dict)}

    def client_id(self) -> str:
        """The id of the app client named ``client_name`` (exactly one must exist)."""
        if self._client_id is None:
            found: list[str] = []
            token: str | None = None
            try:
                while True:
                    page = self._cognito.list_user_pool_clients(
                        UserPoolId=self._user_pool_id, MaxResults=60, **({"NextToken": token} if token else {})
                    )
                    found += [c["ClientId"] for c in page["UserPoolClients"] if c["ClientName"] == self._client_name]
                    token = page.get("NextToken")
                    if not token:
                        break
            except (ClientError, BotoCoreError) as exc:
                raise ConfigError(f"listing the app clients of {self._user_pool_id} failed: {exc}") from exc
            if len(found) != 1:
                raise ConfigError(
                    f"user pool {self._user_pool_id} has {len(found)} app clients named {self._client_name!r}; "
                    "the stack creates exactly one (APPROVAL_CLIENT_NAME must match its ClientName)"
                )
            self._client_id = found[0]
        return self._client_id

    @property
    def domain_url(self) -> str:
        if self._domain_url is None:
            raise ConfigError("LOGIN_DOMAIN_URL is required to sign approvers in (the user pool's domain)")
        return self._domain_url

    def exchange_code(self, code: str, *, verifier: str, redirect_uri: str) -> TokenSet:
        """The token endpoint's answer to an authorization code and its PKCE verifier (public client: no secret)."""
        body = urlencode(
            {
                "grant_type": "authorization_code",
                "client_id": self.client_id(),
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the pool's own https domain
            f"{self.domain_url}/oauth2/token",
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        document = _read_json(request, "the user pool's token endpoint")
        id_token, expires_in = document.get("id_token"), document.get("expires_in")
        if not isinstance(id_token, str) or not id_token:
            raise LoginFailed("the token endpoint returned no id_token (is the openid scope allowed?)")
        return TokenSet(id_token=id_token, expires_in=int(expires_in) if isinstance(expires_in, int) else 0)
