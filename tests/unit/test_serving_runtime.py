"""Which local runtime serves a data directory: only a live process's runtime.json counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from governed_mlops_local.approval_client import ServingRuntime, serving_runtime


def test_the_runtime_json_of_a_live_process_names_the_server(tmp_path: Path) -> None:
    (tmp_path / "runtime.json").write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:8765"}))
    assert serving_runtime(tmp_path) == ServingRuntime(pid=os.getpid(), url="http://127.0.0.1:8765")


def test_a_runtime_json_left_by_a_killed_process_or_unreadable_names_nothing(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=False
    )
    info = tmp_path / "runtime.json"
    info.write_text(json.dumps({"pid": int(finished.stdout), "url": "http://127.0.0.1:8765"}))
    assert serving_runtime(tmp_path) is None
    info.write_text("{not json")
    assert serving_runtime(tmp_path) is None
    info.unlink()
    assert serving_runtime(tmp_path) is None
