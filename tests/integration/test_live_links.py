"""One long-lived local server per data directory: the links a command prints keep answering after it exits.

Each command runs in its own process, as people run them; `mlops serve` runs as a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops_local.approval_client import serving_runtime, signed_as
from governed_mlops_local.local_server import WORK_PATH
from tests.conftest import EVENTS_DIR, GERMAN_CREDIT, PROJECT_DIR
from tests.waiting import until

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]
MLOPS = str(Path(sys.executable).parent / "mlops")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def mlops(data_dir: Path, *args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLOPS_PORT": str(port if port is not None else _free_port())}
    return subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _until_ready(server: subprocess.Popen[Any], data_dir: Path) -> None:
    """Wait until ``server`` (``mlops serve``) says in runtime.json that it has finished starting."""
    info = data_dir / "runtime.json"

    def ready() -> bool:
        assert server.poll() is None, "mlops serve exited"
        try:
            data = json.loads(info.read_text())
        except (OSError, ValueError):
            return False
        return bool(data["pid"] == server.pid and data.get("ready"))

    until(ready, 180, "mlops serve to be ready")


@pytest.fixture
def served(data_dir: Path) -> Iterator[int]:
    """``mlops serve`` on ``data_dir`` in the foreground of a subprocess; its pid once it is ready."""
    server = subprocess.Popen(
        [MLOPS, "--data-dir", str(data_dir), "serve", "--port", str(_free_port())],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _until_ready(server, data_dir)
        yield server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def test_links_in_an_alert_and_an_approval_request_answer_after_the_command_exited(data_dir: Path, served: int):
    lines = GERMAN_CREDIT.read_text().splitlines()
    broken = data_dir.parent / "no_target.csv"
    broken.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")

    # When a run fails (an alert for on-call) and the command that started it has exited
    failed = mlops(data_dir, "upload", str(broken), "--model", "credit-risk", "--wait")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "DataValidationError" in failed.stdout
    alert = until(
        lambda: next((m for m in read_outbox(data_dir) if m["attributes"].get("kind") == "alert"), None), 30, "alert"
    )
    # Then the alert's history link answers, from the server the command handed the work to
    status, page = _get(alert["attributes"]["history"])
    assert status == 200
    assert "DataValidationError" in page
    assert serving_runtime(data_dir).pid == served  # type: ignore[union-attr]

    # When a run waits for a person and the command that started it has exited
    started = mlops(data_dir, "upload", str(GERMAN_CREDIT), "--model", "credit-risk")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Running on the local server" in started.stdout
    request = until(
        lambda: next((m for m in read_outbox(data_dir) if "link" in m["attributes"]), None), 240, "approval"
    )
    # Then the approval link and the run's history page answer
    status, page = _get(request["attributes"]["link"])
    assert status == 200, page
    assert "credit-risk/1" in page
    (pending,) = json.loads(mlops(data_dir, "approvals", "--json").stdout)
    waiting = f"{serving_runtime(data_dir).url}/executions/{pending['execution_name']}"  # type: ignore[union-attr]
    status, page = _get(waiting)
    assert status == 200
    assert "Request Approval" in page
    assert serving_runtime(data_dir).pid == served  # type: ignore[union-attr]


def test_the_work_route_acts_only_for_a_signed_request_of_this_os_user(data_dir: Path, served: int):
    url = f"{serving_runtime(data_dir).url}{WORK_PATH}"  # type: ignore[union-attr]
    body = json.dumps({"action": "trigger", "event": {}}).encode()

    def post(headers: dict[str, str], data: bytes = body) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(url, data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert post({})[0] == 401  # what a form on another site could send
    forged = {"X-Mlops-User": "mallory", "X-Mlops-User-Signature": "0" * 64}
    status, answer = post(forged)
    assert (status, answer["error"]) == (401, "UnsignedIdentity")
    status, answer = post(signed_as("alice"), b'{"action": "rm -rf"}')
    assert (status, answer["error"]) == (400, "InvalidWorkRequest")
    assert post(signed_as("alice")) == (200, {"deliveries": []})  # an empty event matches no rule


def test_a_work_command_with_no_server_starts_one_that_outlives_it(data_dir: Path):
    port = _free_port()
    try:
        # When no server serves the data dir and a command starts work
        completed = mlops(data_dir, "trigger", str(EVENTS_DIR / "codecommit_push_feature_branch.json"), port=port)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert "starting one in the background" in completed.stdout
        # Then a server on the configured port outlives the command, detached, and logs to the data dir
        serving = serving_runtime(data_dir)
        assert serving is not None
        assert serving.url == f"http://127.0.0.1:{port}"
        assert _get(f"{serving.url}/healthz")[0] == 200
        assert os.getsid(serving.pid) == serving.pid, "the server leads its own session"
        assert (data_dir / "logs" / "serve.log").read_text().count("Local runtime serving on") == 1
        status = mlops(data_dir, "serve", "--status")
        assert status.returncode == 0
        assert f"serving {serving.url} (pid {serving.pid})" in status.stdout
        # And the next command hands its work to it instead of starting another
        again = mlops(data_dir, "trigger", str(EVENTS_DIR / "codecommit_push_feature_branch.json"))
        assert "starting one" not in again.stdout
        assert serving_runtime(data_dir) == serving
    finally:
        stopped = mlops(data_dir, "serve", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped http://127.0.0.1:" in stopped.stdout
    assert serving_runtime(data_dir) is None
    assert not (data_dir / "runtime.json").exists()


def test_status_and_stop_say_a_runtime_json_of_a_killed_server_is_stale_and_remove_it(data_dir: Path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    data_dir.mkdir(parents=True)
    stale = json.dumps({"pid": gone.pid, "url": "http://127.0.0.1:9", "ready": True})

    (data_dir / "runtime.json").write_text(stale)
    status = mlops(data_dir, "serve", "--status")
    assert status.returncode == 1
    assert f"removed a stale runtime.json: its process (pid {gone.pid}) is gone" in status.stdout
    assert "no local server serves" in status.stdout
    assert not (data_dir / "runtime.json").exists()

    (data_dir / "runtime.json").write_text(stale)
    stopped = mlops(data_dir, "serve", "--stop")
    assert stopped.returncode == 0
    assert "removed a stale runtime.json" in stopped.stdout
    assert not (data_dir / "runtime.json").exists()


def test_stop_leaves_alone_a_live_process_that_does_not_answer_as_the_server(data_dir: Path):
    # Given a runtime.json naming a live process that is no mlops server (a reused pid)
    data_dir.mkdir(parents=True)
    (data_dir / "runtime.json").write_text(json.dumps({"pid": os.getpid(), "url": f"http://127.0.0.1:{_free_port()}"}))
    # When asked to stop it
    stopped = mlops(data_dir, "serve", "--stop")
    # Then nothing is signalled (this test process lives on) and the command says why
    assert stopped.returncode == 2
    assert "does not answer as the server of" in stopped.stderr


def test_ctrl_c_stops_a_server_started_where_sigint_is_ignored(data_dir: Path) -> None:
    # Given: `mlops serve` started as a non-interactive shell starts a background job (SIGINT ignored, inherited)
    port = _free_port()
    server = subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            'trap "" INT; exec "$0" "$@"',
            MLOPS,
            "--data-dir",
            str(data_dir),
            "serve",
            "--port",
            str(port),
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _until_ready(server, data_dir)
        assert _get(f"http://127.0.0.1:{port}/executions")[0] == 200
        # When: it gets Ctrl-C
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    # Then: it stopped as on Ctrl-C in a terminal, and no longer says it serves the data directory
    assert server.returncode == 0, output
    assert "stopped" in output
    assert serving_runtime(data_dir) is None
