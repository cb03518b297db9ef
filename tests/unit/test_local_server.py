"""The local server's port and runtime.json rules (no sockets, no processes)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from governed_mlops_local.approval_client import ServingRuntime
from governed_mlops_local.local_server import (
    DEFAULT_PORT,
    LocalServerError,
    configured_port,
    deliveries_of,
    stale_runtime_json,
)


def test_the_port_is_the_option_else_the_environment_else_the_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLOPS_PORT", raising=False)
    assert configured_port() == DEFAULT_PORT == 8765
    monkeypatch.setenv("MLOPS_PORT", "9001")
    assert configured_port() == 9001
    assert configured_port(9002) == 9002


@pytest.mark.parametrize(("env", "explicit"), [("eighty", None), ("70000", None), ("", -1)])
def test_a_port_that_is_no_port_is_a_named_error(monkeypatch: pytest.MonkeyPatch, env: str, explicit: int | None):
    monkeypatch.setenv("MLOPS_PORT", env)
    with pytest.raises(LocalServerError, match="port"):
        configured_port(explicit)


def test_a_runtime_json_of_a_live_process_is_not_stale(tmp_path: Path):
    (tmp_path / "runtime.json").write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:8765"}))
    assert stale_runtime_json(tmp_path) is None
    assert (tmp_path / "runtime.json").exists()


def test_a_runtime_json_of_a_gone_or_unreadable_process_is_removed(tmp_path: Path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    info = tmp_path / "runtime.json"
    info.write_text(json.dumps({"pid": gone.pid, "url": "http://127.0.0.1:8765"}))
    assert stale_runtime_json(tmp_path) == gone.pid
    assert not info.exists()
    info.write_text("{half")
    assert stale_runtime_json(tmp_path) == 0
    assert not info.exists()
    assert stale_runtime_json(tmp_path) is None  # nothing there


def test_the_servers_answer_becomes_deliveries_with_the_runtimes_fields():
    answer = {"deliveries": [{"rule": "R", "target": "T", "result": None, "error": "boom", "error_type": "E"}]}
    (delivery,) = deliveries_of(answer)
    assert (delivery.rule, delivery.target, delivery.error, delivery.error_type) == ("R", "T", "boom", "E")


@pytest.mark.parametrize(("explicit", "any_port"), [(None, True), (9001, False)])
def test_a_server_started_for_a_command_may_leave_the_default_port_but_not_an_explicit_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, explicit: int | None, any_port: bool
):
    # `mlops trigger` starts a server when none runs; the default port checked free may be taken before the
    # server binds it (a second terminal starting its own): only then may the server take another port
    from governed_mlops_local import approval_client, local_server
    from governed_mlops_local.cli.context import Context
    from governed_mlops_local.cli.serving import server_for

    started: list[tuple[int, bool]] = []

    def start(_project: Path, _data: Path, port: int, *, any_port_if_taken: bool = False) -> ServingRuntime:
        started.append((port, any_port_if_taken))
        return ServingRuntime(pid=os.getpid(), url="http://127.0.0.1:1")

    monkeypatch.delenv("MLOPS_PORT", raising=False)
    monkeypatch.setattr(approval_client, "serving_runtime", lambda _data_dir: None)
    monkeypatch.setattr(local_server, "port_free", lambda _port: True)
    monkeypatch.setattr(local_server, "start_in_background", start)
    server_for(Context(tmp_path, tmp_path / "data"), explicit)
    assert started == [(explicit or DEFAULT_PORT, any_port)]
