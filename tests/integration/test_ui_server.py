"""`mlops ui` and the standalone server over real sockets (no browser: see tests/browser for the pages)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import governed_mlops_local.ui.server as ui_server
from governed_mlops_local.cli.context import Context
from governed_mlops_local.cli.ui import local_definitions, ui
from governed_mlops_local.executions import ExecutionStore
from governed_mlops_local.ui.server import UiRoutes, serve_ui
from tests.conftest import PROJECT_DIR

MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:governed-mlops-trainingpipeline"


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_local_definitions_come_from_the_template_with_substitutions():
    definitions = local_definitions(PROJECT_DIR)
    assert set(definitions) == {MACHINE}
    validate = definitions[MACHINE]["States"]["Validate Data"]
    assert validate["Resource"].endswith(":function:governed-mlops-validatedatafunction")
    assert "${" not in json.dumps(definitions)


def test_standalone_server_answers_get_and_refuses_writes(data_dir: Path):
    routes = UiRoutes(ExecutionStore(data_dir), local_definitions(PROJECT_DIR), None)
    server, thread = serve_ui(routes)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert server.server_address[0] == "127.0.0.1"
        status, headers, body = fetch(f"{base}/executions")
        assert status == 200
        assert "No executions yet" in body.decode()
        assert headers["Content-Length"] == str(len(body))
        assert fetch(f"{base}/healthz")[0] == 200
        for method in ("POST", "PUT", "DELETE", "HEAD"):
            status, headers, _ = fetch(f"{base}/executions", method)
            assert (status, headers["Allow"]) == (405, "GET")
        assert fetch(f"{base}/executions/nope")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
    thread.join(5)
    assert not thread.is_alive()


def test_mlops_ui_prints_the_url_serves_it_and_stops_on_ctrl_c(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    # Given `mlops ui --port 0`, and a Ctrl-C that comes once the pages were fetched
    started: list[Any] = []
    original = ui_server.serve_ui

    def serve_and_remember(*args: Any, **kwargs: Any) -> Any:
        started.append(original(*args, **kwargs))
        return started[-1]

    seen: dict[str, int] = {}

    def sleep_then_interrupt(_: float) -> None:
        port = started[0][0].server_address[1]
        seen["list"] = fetch(f"http://127.0.0.1:{port}/executions")[0]
        seen["root"] = fetch(f"http://127.0.0.1:{port}/")[0]
        raise KeyboardInterrupt

    monkeypatch.setattr(ui_server, "serve_ui", serve_and_remember)
    monkeypatch.setattr("governed_mlops_local.cli.ui.time.sleep", sleep_then_interrupt)
    # When it runs
    result = CliRunner().invoke(ui, ["--port", "0"], obj=Context(PROJECT_DIR, data_dir))
    # Then it printed where the pages are, served them, and shut the server down
    assert result.exit_code == 0, result.output
    port = started[0][0].server_address[1]
    assert f"http://127.0.0.1:{port}/executions" in result.output
    assert str(data_dir) in result.output
    assert seen == {"list": 200, "root": 200}  # the redirect from / is followed to the list
    assert "Stopped." in result.output
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_mlops_ui_on_a_busy_port_says_what_to_do(data_dir: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(ui, ["--port", str(port)], obj=Context(PROJECT_DIR, data_dir))
    assert result.exit_code == 1
    assert "try --port 0" in result.output


def test_mlops_ui_aws_needs_a_state_machine(data_dir: Path):
    result = CliRunner().invoke(ui, ["--aws"], obj=Context(PROJECT_DIR, data_dir))
    assert result.exit_code == 2
    assert "--state-machine-arn" in result.output
