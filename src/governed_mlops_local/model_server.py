"""HTTP front of the local SageMaker hosting emulator, shaped like the SageMaker runtime.

- ``POST /endpoints/<name>/invocations``: InvokeEndpoint. ``Content-Type`` and ``Accept`` pass
  through to the model; the answer carries ``X-Amzn-Invoked-Production-Variant`` (and, locally,
  ``X-Mlops-Endpoint-Config``: which fleet answered, since blue and green may share a variant name).
  Errors answer with the status the model (or the runtime) gave and a JSON body
  ``{"ErrorCode", "Message", "OriginalStatusCode"}``.
- ``GET /endpoints``: ListEndpoints; ``GET /endpoints/<name>``: DescribeEndpoint plus the
  per-variant invocation statistics.
- ``X-Amzn-SageMaker-Inference-Id`` on an invocation is InvokeEndpoint's ``InferenceId``: 1-64
  printable characters, recorded in the captured record (``eventMetadata.inferenceId``).
- ``GET /ping``: 200 when the server is up.

:func:`dispatch` is the transport-free core (it also fits ``LocalGateway.mount``); :func:`make_handler`
and :func:`serve` put it behind ``http.server``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from governed_mlops_local.endpoints import InvocationError, LocalSageMakerHosting
from governed_mlops_local.sagemaker import SageMakerError
from governed_mlops_ml.monitoring import MAX_PAYLOAD_BYTES

__all__ = [
    "CONFIG_HEADER",
    "INFERENCE_ID_HEADER",
    "VARIANT_HEADER",
    "ModelHTTPServer",
    "dispatch",
    "header_value",
    "make_handler",
    "mount",
    "serve",
]

VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
#: InvokeEndpoint's ``InferenceId``: Data Capture records it, ground-truth labels are joined on it.
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
CONFIG_HEADER = "X-Mlops-Endpoint-Config"
_INVOCATIONS = re.compile(r"^/endpoints/([^/]+)/invocations$")
_ENDPOINT = re.compile(r"^/endpoints/([^/]+)$")

Response = tuple[int, dict[str, str], bytes]


def _json(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(document, default=str).encode()


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A request header's value, its name matched without regard to case."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json(status, {"ErrorCode": code, "Message": message, "OriginalStatusCode": status}, headers)


def dispatch(  # noqa: PLR0911 - a small router: one return per route
    hosting: LocalSageMakerHosting, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """Answer one request: ``(status, headers, body)``."""
    route = unquote(urlsplit(path).path)
    if route == "/ping":
        return (200, {"Content-Type": "text/plain"}, b"") if method in ("GET", "HEAD") else _not_allowed(method, route)
    if route == "/endpoints":
        return _json(200, hosting.list_endpoints()) if method == "GET" else _not_allowed(method, route)
    invocation = _INVOCATIONS.match(route)
    if invocation:
        return _invoke(hosting, invocation.group(1), method, headers, body)
    endpoint = _ENDPOINT.match(route)
    if endpoint:
        if method != "GET":
            return _not_allowed(method, route)
        try:
            description = hosting.describe_endpoint(endpoint.group(1))
        except SageMakerError as exc:
            return _error(404, "ValidationException", str(exc))
        return _json(200, description | {"InvocationStats": hosting.invocation_stats(endpoint.group(1))["Variants"]})
    return _error(404, "NotFound", f"no route for {method} {route}")


def _not_allowed(method: str, route: str) -> Response:
    return _error(405, "MethodNotAllowed", f"{method} is not allowed on {route}")


def _invoke(
    hosting: LocalSageMakerHosting, name: str, method: str, headers: Mapping[str, str], body: bytes
) -> Response:
    if method != "POST":
        return _not_allowed(method, f"/endpoints/{name}/invocations")
    content_type = header_value(headers, "Content-Type") or "application/octet-stream"
    try:
        result = hosting.invoke(
            name,
            body,
            content_type,
            header_value(headers, "Accept"),
            inference_id=header_value(headers, INFERENCE_ID_HEADER),
        )
    except InvocationError as exc:
        served = {VARIANT_HEADER: exc.variant, CONFIG_HEADER: exc.endpoint_config_name}
        return _error(exc.status_code, exc.error_code, str(exc), {k: v for k, v in served.items() if v})
    answer_headers = {
        "Content-Type": result.content_type,
        VARIANT_HEADER: result.variant,
        CONFIG_HEADER: result.endpoint_config_name,
    }
    return 200, answer_headers, result.body


def mount(hosting: LocalSageMakerHosting) -> Callable[[str, str, dict[str, str], dict[str, str], bytes], Response]:
    """A handler for ``LocalGateway.mount("/endpoints", ...)``: (method, path, query, headers, body) -> response."""

    def handle(method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        del query  # the runtime API takes none
        return dispatch(hosting, method, path, headers, body)

    return handle


def make_handler(hosting: LocalSageMakerHosting) -> type[BaseHTTPRequestHandler]:
    """A ``BaseHTTPRequestHandler`` class serving :func:`dispatch` over HTTP/1.1 (keep-alive)."""

    class ModelServerHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "LocalSageMakerRuntime/1"
        # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
        # client's delayed ACK of the headers (~40 ms per keep-alive request).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            if self.command == "POST" and self.headers.get("Content-Length") is None:
                self._answer(*_error(411, "LengthRequired", "send the body with a Content-Length header"))
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_PAYLOAD_BYTES:
                self.close_connection = True
                message = f"request body of {length} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
                self._answer(*_error(413, "ValidationError", message))
                return
            body = self.rfile.read(length) if length else b""
            self._answer(*dispatch(hosting, self.command, self.path, dict(self.headers.items()), body))

        def _answer(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = ""
            self.send_response(status, phrase)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815 - http.server's dispatch names

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - no access log locally
            return

    return ModelServerHandler


class ModelHTTPServer(ThreadingHTTPServer):
    """A thread per connection, and room for many clients connecting at once."""

    # socketserver's backlog of 5 overflows when a client opens its keep-alive connections at once (the
    # load benchmark's 32); Linux drops the overflowing handshakes and the client retries a second later.
    request_queue_size = 128
    daemon_threads = True


def serve(
    hosting: LocalSageMakerHosting, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start serving on ``host:port`` (port 0: any free port, see ``server.server_address``) in a daemon thread.

    Stop with ``server.shutdown(); server.server_close()``.
    """
    server = ModelHTTPServer((host, port), make_handler(hosting))
    thread = threading.Thread(target=server.serve_forever, name="local-model-server", daemon=True)
    thread.start()
    return server, thread
