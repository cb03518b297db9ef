"""Routes for the on-call pages, independent of any HTTP server, and a small standalone server.

:class:`UiRoutes` maps ``(method, path, query)`` to ``(status, headers, body)`` so the pages can be
mounted in any server; :func:`serve_ui` runs them on ``http.server`` in a thread. The UI is
read-only: every method but GET answers 405.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

from governed_mlops.errors import ExecutionNotFoundError
from governed_mlops_local.ui.event_filter import filter_for
from governed_mlops_local.ui.history_view import TERMINAL_FAILURES, timeline
from governed_mlops_local.ui.refresh import REFRESH_SCRIPT_CSP
from governed_mlops_local.ui.render import render_execution, render_executions, render_message

if TYPE_CHECKING:
    from governed_mlops_local.incident_sources import IncidentView

logger = logging.getLogger(__name__)

Response = tuple[int, dict[str, str], bytes]
EvidenceLinks = Callable[[dict[str, Any]], dict[str, str]]
#: ``(described, events, definition)`` → the incident view of an execution that did not succeed, or None.
Incidents = Callable[[dict[str, Any], list[dict[str, Any]], Mapping[str, Any]], "IncidentView | None"]

# The pages load nothing and run one script, allowed by its hash (the refresh of running work, which
# fetches only its own page again); this makes an escaping bug harmless as well as unlikely.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {REFRESH_SCRIPT_CSP}; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"
# Failed rows get their error from DescribeExecution; bound the calls for long lists (one API call each in AWS).
_DESCRIBE_FAILED_LIMIT = 100


class ExecutionSource(Protocol):
    """What the pages read: ``ExecutionStore`` locally, ``StepFunctionsHistory`` in AWS."""

    def list_executions(self) -> list[dict[str, Any]]: ...

    def describe(self, name_or_arn: str) -> dict[str, Any]: ...

    def history(self, name_or_arn: str) -> list[dict[str, Any]]: ...


class UiRoutes:
    """GET /, /executions, /executions/<name>, /executions/<name>/history.json, /healthz.

    ``definitions`` maps a state machine ARN to its parsed ASL (for the state graph);
    ``evidence_links`` gives label → href for an execution's DescribeExecution dict; ``incidents`` the
    incident view of one that did not succeed (see :mod:`governed_mlops_local.incident_sources`).
    ``prefix`` is where the routes are mounted (pages link relatively; only redirects need it).
    An execution's page takes ``?state=NAME&type=TYPE`` to filter its events (an unknown value
    answers 400 with the whole page and a message saying what exists).
    """

    def __init__(
        self,
        store: ExecutionSource,
        definitions: Mapping[str, Mapping[str, Any]],
        evidence_links: EvidenceLinks | None = None,
        *,
        incidents: Incidents | None = None,
        source: str = "",
        prefix: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._definitions = definitions
        self._evidence_links = evidence_links
        self._incidents = incidents
        self._source = source
        self._prefix = prefix.rstrip("/")
        self._clock = clock

    @property
    def source(self) -> str:
        """Where the executions come from, as the pages name it."""
        return self._source

    def handle(self, method: str, path: str, query: str = "") -> Response:
        """Answer one request; ``path`` may carry the query string instead of ``query``."""
        split = urlsplit(path)
        query = query or split.query
        # Split before unquoting so an execution name may contain an encoded "/".
        raw_path = split.path.lstrip("/")
        segments = [unquote(part) for part in raw_path.split("/")] if raw_path else []
        if method.upper() != "GET":
            return self._page(
                405,
                "Method not allowed",
                f"This UI is read-only: {method.upper()} is not accepted here, only GET. "
                "Start or stop executions with the mlops command or the Step Functions console.",
                extra={"Allow": "GET"},
            )
        if len(segments) > 1 and segments[-1] == "":
            # Pages link relatively, so each has exactly one address: the one without the trailing slash.
            return 301, {"Location": f"{self._prefix}/{raw_path.rstrip('/')}"}, b""
        try:
            return self._route(segments, parse_qs(query))
        except ExecutionNotFoundError:
            return self._not_found(segments[1] if len(segments) > 1 else "")
        except Exception as exc:  # one failing page must not take the server down; logged with its traceback
            logger.exception("ui: %s failed", path)
            return self._page(
                500,
                "This page failed to render",
                f"{type(exc).__name__}: {exc}. The execution data is unchanged; "
                "use `mlops history NAME` meanwhile and report this page.",
            )

    def _route(self, segments: list[str], query: dict[str, list[str]]) -> Response:
        match segments:
            case []:
                return 302, {"Location": f"{self._prefix}/executions", "Cache-Control": "no-store"}, b""
            case ["healthz"]:
                return 200, {"Content-Type": _JSON, "Cache-Control": "no-store"}, b'{"status": "ok"}'
            case ["executions"]:
                statuses, models = query.get("status") or [], query.get("model") or []
                return self._executions(statuses[0] if statuses else None, models[0] if models else None)
            case ["executions", name] if name:
                return self._execution(name, query)
            case ["executions", name, "history.json"] if name:
                events = self._store.history(name)
                body = json.dumps({"events": events}, indent=2, default=str).encode()
                return 200, {"Content-Type": _JSON, **_SECURITY_HEADERS}, body
            case _:
                return self._page(
                    404,
                    "No page here",
                    "This address is not one of the UI's pages. The list of executions is the place to start.",
                )

    def _executions(self, status: str | None, model: str | None = None) -> Response:
        rows = self._store.list_executions()
        enriched: list[dict[str, Any]] = []
        budget = _DESCRIBE_FAILED_LIMIT
        for row in rows:
            # The store's list carries the error name; the page shows the cause too (from describe).
            if row.get("status") in TERMINAL_FAILURES and "cause" not in row and budget > 0:
                budget -= 1
                described = self._store.describe(row["executionArn"])
                enriched.append({**row, **{k: described[k] for k in ("error", "cause") if k in described}})
            else:
                enriched.append(row)
        html = render_executions(enriched, now=self._clock(), status=status, model=model, source=self._source)
        return 200, {"Content-Type": _HTML, **_SECURITY_HEADERS}, html.encode()

    def _execution(self, name: str, query: Mapping[str, list[str]]) -> Response:
        described = self._store.describe(name)
        events = self._store.history(described["executionArn"])
        definition = self._definitions.get(described.get("stateMachineArn", ""), {})
        links = self._evidence_links(described) if self._evidence_links else {}
        chosen = filter_for(definition, timeline(definition, events), query)
        incident = self._incidents(described, events, definition) if self._incidents else None
        html = render_execution(
            described,
            events,
            definition,
            links=links,
            now=self._clock(),
            source=self._source,
            incident=incident,
            event_filter=chosen,
        )
        status = 400 if chosen.problems else 200
        return status, {"Content-Type": _HTML, **_SECURITY_HEADERS}, html.encode()

    def _not_found(self, name: str) -> Response:
        hint = (
            "<ul>"
            f'<li><a href="{self._prefix}/executions">List the executions</a> this UI can see and pick one.</li>'
            "<li>Check the name: execution names are <code>data-…</code> (a dataset arrived) or "
            "<code>push-…</code> (a push to main).</li>"
            "<li>Locally, each data directory has its own executions: start the UI with the same "
            "<code>--data-dir</code> as the command that ran the pipeline.</li></ul>"
        )
        return self._page(
            404, "Execution not found", f"No execution named {name!r} in {self._source or 'this source'}.", hint
        )

    def _page(
        self, status: int, title: str, message: str, hint_html: str = "", extra: dict[str, str] | None = None
    ) -> Response:
        html = render_message(
            title, message, hint_html=hint_html, home=f"{self._prefix}/executions", source=self._source
        )
        return status, {"Content-Type": _HTML, **_SECURITY_HEADERS, **(extra or {})}, html.encode()


def execution_path(name: str, prefix: str = "") -> str:
    """The page of one execution, for messages that point people at it."""
    return f"{prefix.rstrip('/')}/executions/{quote(name, safe='')}"


class _Handler(BaseHTTPRequestHandler):
    routes: UiRoutes
    server_version = "governed-mlops-ui"
    sys_version = ""

    def __getattr__(self, name: str) -> Any:
        # Every method (POST, PUT, DELETE, PROPFIND...) goes through the routes, which answer 405.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        status, headers, body = self.routes.handle(self.command, self.path)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("ui %s " + format, self.address_string(), *args)


def serve_ui(routes: UiRoutes, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve ``routes`` on ``host:port`` (0 = any free port) in a daemon thread.

    Stop with ``server.shutdown(); server.server_close()``; ``server.server_address`` has the port.
    """
    handler = type("UiHandler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="mlops-ui", daemon=True)
    thread.start()
    return server, thread
