"""``make demo`` (the README's main job) end to end: first model, a push that changes nothing, a canary;
then, with ``mlops serve`` running, ``mlops invoke`` asks that server instead of booting a runtime."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import GERMAN_CREDIT, PROJECT_DIR

pytestmark = pytest.mark.slow

MLOPS = str(Path(sys.executable).parent / "mlops")


@dataclass
class Demo:
    data_dir: Path
    completed: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    approvers = ["--approve-as", "carol.approver", "--approve-as", "dave.risk"]
    completed = subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), "demo", *approvers],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Demo(data_dir, completed)


def test_the_demo_deploys_then_a_no_op_push_ends_as_no_change_then_a_canary_rolls_out(demo: Demo) -> None:
    out = demo.completed.stdout
    assert demo.completed.returncode == 0, out[-3000:] + demo.completed.stderr[-3000:]
    assert "model version  credit-risk/1 (Approved)" in out
    assert "No Change: same data, job code and configuration (sha256) as the champion credit-risk/1" in out
    assert "model version  credit-risk/2 (Approved)" in out
    assert "Traceback" not in out + demo.completed.stderr
    # The canary served part of the live traffic, and no client request failed during the rollout
    rollout = out[out.index("client requests during the rollout") :]
    assert ", failed: 0" in rollout.splitlines()[0]
    assert len([line for line in rollout.splitlines()[1:] if "-config" in line]) == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(demo: Demo) -> Iterator[int]:
    """``mlops serve`` on the demo's data directory; its pid once it answers."""
    assert demo.completed.returncode == 0
    server = subprocess.Popen(
        [MLOPS, "--data-dir", str(demo.data_dir), "serve", "--port", str(_free_port())],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        info = demo.data_dir / "runtime.json"
        while not (info.exists() and json.loads(info.read_text())["pid"] == server.pid):
            assert server.poll() is None, "mlops serve exited"
            assert time.monotonic() < deadline, "mlops serve did not come up"
            time.sleep(0.2)
        yield server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def test_invoke_asks_the_running_server_instead_of_booting_a_runtime(demo: Demo, served: int) -> None:
    with GERMAN_CREDIT.open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    applicant = {k: v for k, v in first.items() if k != "creditability"}

    invoked = subprocess.run(
        [
            MLOPS,
            "--data-dir",
            str(demo.data_dir),
            "invoke",
            "credit-risk",
            "--body",
            json.dumps({"instances": [applicant]}),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert invoked.returncode == 0, invoked.stderr
    (prediction,) = json.loads(invoked.stdout)["predictions"]
    assert prediction["model_version"] == "credit-risk/2"
    # A runtime booted by invoke would have written its own pid here
    assert json.loads((demo.data_dir / "runtime.json").read_text())["pid"] == served
