"""A small HTTP front door on 127.0.0.1 for the local runtime.

``/approvals...`` becomes an API Gateway REST proxy event for the template's approval function
(as API Gateway would build it, including the authorizer's context), so the handler runs
unchanged. Other prefixes can be mounted (model endpoints, the execution-history pages).

Locally the caller's identity is the runtime's configured local user, or the user an
``X-Mlops-User`` header names *and* ``X-Mlops-User-Signature`` proves: an HMAC under this OS user's
key (:mod:`governed_mlops_local.local_identity`), so a bare header, a forged one or another OS user's
process gets 401 ``UnsignedIdentity``. That is the local stand-in for the session authorizer in AWS.
Only requests addressed to this loopback origin are served: a ``Host`` other than
``127.0.0.1:<port>`` / ``localhost:<port>`` (a DNS-rebinding page in a browser names its own domain
there) is answered 421 before any route runs.
"""

from __future__ import annotations

import base64
import errno
import json
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from governed_mlops.domain.login import authorizer_context
from governed_mlops_local.lambda_host import InvocationError, LambdaHost
from governed_mlops_local.local_identity import SIGNATURE_HEADER, UNSIGNED_IDENTITY, identity_key, signature_valid
from governed_mlops_local.model_server import header_value

#: (method, path, query, headers, body) -> (status, headers, body)
Mount = Callable[[str, str, dict[str, str], dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
USER_HEADER = "X-Mlops-User"
MAX_BODY = 1024 * 1024
#: The error name a request for another origin gets (421 Misdirected Request).
HOST_NOT_ALLOWED = "HostNotAllowed"


def allowed_hosts(port: int) -> frozenset[str]:
    """The ``Host`` values of requests addressed to the gateway on loopback ``port``."""
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


def proxy_event(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, *, claims: dict[str, str]
) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy integration event."""
    text = body.decode("utf-8", errors="replace") if body else None
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            # The shape the AWS Lambda authorizer gives the function (principalId + context), so the same
            # handler code reads identity in both places; locally the vouched user is always signed in.
            "authorizer": authorizer_context(
                claims.get("cognito:username", ""), groups=set(claims.get("cognito:groups", "").split())
            ),
        },
        "body": text,
        "isBase64Encoded": False,
    }


def _no_route_page(path: str) -> bytes:
    """A browser's 404: a titled page in words (in the language it declares) that says where to go, not bare JSON."""
    from governed_mlops_local.ui.render import render_message  # noqa: PLC0415 - the page renderer loads only when a browser asks for a missing page

    hint = (
        "<p>This local server answers approval links (<code>/approvals/…</code>), the execution pages "
        '(<a href="/executions">/executions</a>) and model endpoints (<code>/endpoints/…</code>).</p>'
    )
    return render_message(
        "No page here", f"Nothing is served at {path} on this local server.", hint_html=hint, source="local runtime"
    ).encode()


class LocalGateway:
    def __init__(
        self, host: LambdaHost, approval_function: str, *, default_user: str, approvers: set[str], approver_group: str
    ) -> None:
        self._host = host
        self._approval_function = approval_function
        self._default_user = default_user
        self._approvers = approvers
        self._group = approver_group
        self._identity_key = identity_key()
        self._mounts: list[tuple[str, Mount]] = [("/approvals", self._approvals)]
        self._server: ThreadingHTTPServer | None = None
        self._hosts: frozenset[str] = frozenset()
        self.url = ""

    def mount(self, prefix: str, handler: Mount) -> None:
        self._mounts.append((prefix, handler))

    def claims_for(self, headers: dict[str, str]) -> dict[str, str]:
        """The authorizer's claims for a request: the local user, or the user a valid signature vouches for.

        Raises:
            PermissionError: the request names a user without a valid ``X-Mlops-User-Signature``.
        """
        named = header_value(headers, USER_HEADER)
        if named is None:
            user = self._default_user
        elif signature_valid(named, header_value(headers, SIGNATURE_HEADER), self._identity_key):
            user = named
        else:
            raise PermissionError(
                f"{USER_HEADER}: {named!r} is not signed by this machine's key; act as another user through the "
                "mlops CLI (it signs), or omit the header to act as the local user"
            )
        return {"cognito:username": user, "cognito:groups": self._group if user in self._approvers else ""}

    def _approvals(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            claims = self.claims_for(headers)
        except PermissionError as exc:
            refused = json.dumps({"error": UNSIGNED_IDENTITY, "message": str(exc)}).encode()
            return 401, {"Content-Type": "application/json", "Cache-Control": "no-store"}, refused
        event = proxy_event(method, path, query, headers, body, claims=claims)
        try:
            answer = self._host.invoke(self._approval_function, event)
        except InvocationError as exc:
            return 502, {"Content-Type": "text/plain"}, f"{exc.error_type}: {exc}".encode()
        raw = answer.get("body") or ""
        payload = base64.b64decode(raw) if answer.get("isBase64Encoded") else str(raw).encode()
        response_headers = {k: str(v) for k, v in (answer.get("headers") or {}).items()}
        for key, values in (answer.get("multiValueHeaders") or {}).items():
            response_headers[key] = ", ".join(str(v) for v in values)
        return int(answer.get("statusCode", 502)), response_headers, payload

    def _misdirected(self, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes] | None:
        """421 unless the request names this gateway's own origin in ``Host`` (DNS-rebinding defence)."""
        host = next((v for k, v in headers.items() if k.lower() == "host"), "").strip().lower()
        if host in self._hosts:
            return None
        message = f"this local API answers only requests for {' or '.join(sorted(self._hosts)) or 'its own origin'}"
        body = json.dumps({"error": HOST_NOT_ALLOWED, "message": message}).encode()
        return 421, {"Content-Type": "application/json", "Cache-Control": "no-store"}, body

    def dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        refused = self._misdirected(headers)
        if refused is not None:
            return refused
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        for prefix, handler in self._mounts:
            if parts.path == prefix or parts.path.startswith(prefix + "/"):
                return handler(method, parts.path, query, headers, body)
        if parts.path == "/":
            return 302, {"Location": "/executions"}, b""
        if "text/html" in (header_value(headers, "Accept") or ""):
            return (
                404,
                {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
                _no_route_page(parts.path),
            )
        return 404, {"Content-Type": "application/json"}, json.dumps({"message": f"no route for {parts.path}"}).encode()

    def start(self, port: int = 0, *, any_port_if_taken: bool = False) -> str:
        """Listen on ``127.0.0.1:port`` (0: any free port) and serve in a daemon thread; the gateway's URL.

        ``any_port_if_taken``: when ``port`` is held by another process at the moment of binding, take any free
        port instead of failing (a port checked free a moment earlier can be taken by a concurrent start).
        """
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, keep-alive requests stall ~40 ms.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_error(413, "request body too large")
                    return
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                status, response_headers, payload = gateway.dispatch(self.command, self.path, headers, body)
                self.send_response(status)
                for key, value in response_headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - silence access logs
                return

        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            if not (any_port_if_taken and port and exc.errno == errno.EADDRINUSE):
                raise
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._hosts = allowed_hosts(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name="mlops-gateway", daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
