"""The one long-lived local server of a data directory: find it, start it in the background, stop it, hand it work.

Every link the pipeline sends (approval pages, alerts' and notices' history pages) names the origin of
the process that runs the execution. So work that produces links runs in ``mlops serve``: ``upload``,
``trigger`` and ``redrive`` hand it over through ``POST /local/work`` and may exit while the server
keeps the links answering. When no server serves the data directory, one is started detached (its
output in ``<data dir>/logs/serve.log``, its pid and URL in ``runtime.json``) and left running until
``mlops serve --stop``.

The work route acts only for a request whose ``X-Mlops-User`` carries a valid signature of this OS
user's key (:mod:`governed_mlops_local.local_identity`): a web page cannot set that header, so a form
on another site cannot start work, and the gateway's ``Host`` check still applies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governed_mlops.adapters.fileio import atomic_write
from governed_mlops.errors import PipelineError
from governed_mlops_local.approval_client import USER_HEADER, ServingRuntime, serving_runtime, signed_as
from governed_mlops_local.executions import pid_alive
from governed_mlops_local.local_identity import SIGNATURE_HEADER, UNSIGNED_IDENTITY, identity_key, signature_valid

_MAX_PORT = 65535

#: Where ``mlops serve`` listens unless ``--port`` or ``$MLOPS_PORT`` says otherwise.
DEFAULT_PORT = 8765
PORT_ENV = "MLOPS_PORT"
WORK_PATH = "/local/work"
SERVER_PATH = "/local/server"
LOG_NAME = "serve.log"
ACTIONS = ("upload", "trigger", "redrive")
_JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}


class LocalServerError(Exception):
    """The local server could not be started, reached or stopped; the message says why and what to do."""


class WorkRefused(LocalServerError):
    """The server answered a work request with an error (its name and message are kept)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.status = status
        self.error = error


@dataclass(frozen=True)
class HandedDelivery:
    """A rule match as the server reports it (the fields of the runtime's ``Delivery``)."""

    rule: str
    target: str
    result: dict[str, Any] | None
    error: str | None = None
    error_type: str | None = None


def log_path(data_dir: Path) -> Path:
    return data_dir / "logs" / LOG_NAME


def configured_port(explicit: int | None = None) -> int:
    """``--port``, else ``$MLOPS_PORT``, else :data:`DEFAULT_PORT`; a value that is no port is an error."""
    if explicit is not None:
        raw: str | int = explicit
    else:
        raw = os.environ.get(PORT_ENV) or DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise LocalServerError(f"${PORT_ENV}={raw!r} is not a port number") from None
    if not 0 <= port <= _MAX_PORT:
        raise LocalServerError(f"port {port} is outside 0-65535")
    return port


def port_free(port: int) -> bool:
    """Whether the gateway could listen on ``127.0.0.1:port`` now (it sets SO_REUSEADDR, so does this probe)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- the server side ------------------------------------------------------------------------------
def mark_ready(data_dir: Path, url: str) -> None:
    """Say in ``runtime.json`` that the server has finished starting (runs it resumed wait again)."""
    atomic_write(data_dir / "runtime.json", json.dumps({"pid": os.getpid(), "url": url, "ready": True}).encode())


def work_routes(runtime: Any) -> Any:
    """The gateway mount for ``/local/...``: who this server is, and the work commands hand over."""
    key = identity_key()
    one_at_a_time = threading.Lock()

    def answer(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return status, dict(_JSON), json.dumps(body, default=str).encode()

    def handle(  # noqa: PLR0911 - a small router: one return per route
        method: str, path: str, _query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if path == SERVER_PATH and method == "GET":
            return answer(200, {"pid": os.getpid(), "data_dir": str(runtime.data_dir), "url": runtime.gateway.url})
        if path != WORK_PATH:
            return answer(404, {"error": "NotFound", "message": f"no route for {path}"})
        if method != "POST":
            return answer(405, {"error": "MethodNotAllowed", "message": f"{WORK_PATH} accepts POST only"})
        user = next((v for k, v in headers.items() if k.lower() == USER_HEADER.lower()), None)
        signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
        if user is None or not signature_valid(user, signature, key):
            message = f"work is handed over only by the mlops CLI of this OS user (a signed {USER_HEADER})"
            return answer(401, {"error": UNSIGNED_IDENTITY, "message": message})
        try:
            request = json.loads(body or b"{}")
            action = request["action"] if isinstance(request, dict) else None
        except (ValueError, KeyError):
            action = None
        if action not in ACTIONS:
            message = f"the body must be a JSON object whose action is one of {', '.join(ACTIONS)}"
            return answer(400, {"error": "InvalidWorkRequest", "message": message})
        with one_at_a_time:
            try:
                return answer(200, _do(runtime, action, request, user))
            except (PipelineError, OSError, KeyError, TypeError) as exc:
                status = 400 if isinstance(exc, KeyError | TypeError) else 409
                return answer(status, {"error": type(exc).__name__, "message": str(exc)})

    return handle


def _do(runtime: Any, action: str, request: dict[str, Any], user: str) -> dict[str, Any]:
    if action == "redrive":
        started = runtime.redrive(str(request["name"]))
        return {
            "name": started.name,
            "execution_arn": started.execution_arn,
            "redrive_count": started.redrive_count,
            "resumed_state": started.resumed_state,
            "previous_status": started.previous_status,
        }
    runtime.publish_release()  # the working tree's projects, as a release step would publish them
    if action == "upload":
        data = Path(str(request["path"])).read_bytes()
        stored, deliveries = runtime.upload(data, str(request["key"]), requester=user)
        return {"uploaded": stored.ref.pinned_uri, "sha256": stored.sha256, "deliveries": _deliveries(deliveries)}
    event = request["event"]
    if not isinstance(event, dict):
        raise TypeError("event must be a JSON object")
    return {"deliveries": _deliveries(runtime.send_event(event))}


def _deliveries(deliveries: list[Any]) -> list[dict[str, Any]]:
    return [
        {"rule": d.rule, "target": d.target, "result": d.result, "error": d.error, "error_type": d.error_type}
        for d in deliveries
    ]


# -- the client side ------------------------------------------------------------------------------
def hand_over(serving: ServingRuntime, user: str, action: str, **fields: Any) -> dict[str, Any]:
    """POST the work to the server as ``user`` (signed); its answer, or :class:`WorkRefused`."""
    request = urllib.request.Request(  # noqa: S310 - the loopback URL of our own server
        f"{serving.url}{WORK_PATH}",
        data=json.dumps({"action": action, **fields}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json", **signed_as(user)},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our loopback server
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read())
            raise WorkRefused(exc.code, str(detail.get("error")), str(detail.get("message"))) from exc
        except ValueError:
            raise WorkRefused(exc.code, f"HTTP{exc.code}", str(exc)) from exc
    except urllib.error.URLError as exc:
        raise LocalServerError(f"the local server at {serving.url} did not answer: {exc.reason}") from exc


def deliveries_of(answer: dict[str, Any]) -> list[HandedDelivery]:
    return [HandedDelivery(**d) for d in answer.get("deliveries", [])]


def identify(serving: ServingRuntime, data_dir: Path, timeout: float = 5) -> bool:
    """Whether ``serving.url`` is answered by ``mlops serve`` of ``data_dir`` in process ``serving.pid``."""
    try:
        with urllib.request.urlopen(f"{serving.url}{SERVER_PATH}", timeout=timeout) as response:  # noqa: S310
            who = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return bool(who.get("pid") == serving.pid and Path(str(who.get("data_dir"))) == data_dir)


def stale_runtime_json(data_dir: Path) -> int | None:
    """Remove a ``runtime.json`` no live process stands behind; the pid it named (0 if unreadable)."""
    info = data_dir / "runtime.json"
    if not info.exists() or serving_runtime(data_dir) is not None:
        return None
    try:
        pid = int(json.loads(info.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        pid = 0
    info.unlink(missing_ok=True)
    return pid


#: Starts the server in its own session and exits at once: the server is nobody's child here, so nothing
#: that outlives it keeps it as a zombie (which would look alive), and it outlives the command that started it.
_LAUNCHER = """
import subprocess, sys
with open(sys.argv[1], "a", encoding="utf-8") as log:
    server = subprocess.Popen(
        sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
print(server.pid)
"""


def start_in_background(
    project_dir: Path,
    data_dir: Path,
    port: int,
    *,
    user: str | None = None,
    any_port_if_taken: bool = False,
    timeout: float = 300,
) -> ServingRuntime:
    """Start ``mlops serve`` detached from this process (own session, output to the log) and wait until it is ready.

    ``any_port_if_taken``: the server takes any free port if ``port`` is held when it binds (the default port,
    which another data directory's server may take between this call and the bind).

    Raises:
        LocalServerError: it exited or did not get ready within ``timeout`` seconds (the log's tail says why).
    """
    log = log_path(data_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "governed_mlops_local.cli", "--data-dir", str(data_dir), "serve"]
    command += ["--port", str(port), *(["--as", user] if user else [])]
    command += ["--any-port-if-taken"] if any_port_if_taken else []
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(log), *command],
        cwd=project_dir,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if launched.returncode != 0:
        raise LocalServerError(f"could not start mlops serve: {launched.stderr.strip()[-500:]}")
    pid = int(launched.stdout.strip())
    deadline = time.monotonic() + timeout
    info = data_dir / "runtime.json"
    while time.monotonic() < deadline:
        try:
            data = json.loads(info.read_text(encoding="utf-8"))
            if data.get("pid") == pid and data.get("ready"):
                return ServingRuntime(pid=pid, url=str(data["url"]))
        except (OSError, ValueError):
            pass  # not written yet, or being replaced
        if not pid_alive(pid):
            tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-8:])
            raise LocalServerError(f"mlops serve (pid {pid}) exited while starting; {log} ends with:\n{tail}")
        time.sleep(0.1)
    raise LocalServerError(f"mlops serve (pid {pid}) was not ready after {timeout:.0f}s; see {log}")


def stop(data_dir: Path, timeout: float = 60) -> ServingRuntime | None:
    """SIGTERM the server of ``data_dir`` and wait until it is gone; the server it was, or None if none ran.

    Raises:
        LocalServerError: ``runtime.json`` names a live process that does not answer as this data
            directory's server (it is left alone), or the server did not exit within ``timeout``.
    """
    serving = serving_runtime(data_dir)
    if serving is None:
        return None
    if not identify(serving, data_dir):
        raise LocalServerError(
            f"runtime.json names pid {serving.pid} at {serving.url}, which does not answer as the server of "
            f"{data_dir}: not signalling it; if that process is no mlops runtime, delete {data_dir / 'runtime.json'}"
        )
    os.kill(serving.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(serving.pid):
        if time.monotonic() > deadline:
            raise LocalServerError(f"the server (pid {serving.pid}) did not stop within {timeout:.0f}s")
        time.sleep(0.1)
    stale_runtime_json(data_dir)
    return serving
