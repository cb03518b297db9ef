"""``make demo`` (the README's main job) end to end: first model, a push that changes nothing, a canary;
then the server the demo leaves running answers its links, and ``mlops invoke`` asks it instead of booting a runtime."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops_local.approval_client import serving_runtime
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR, stop_local_servers

pytestmark = pytest.mark.slow

MLOPS = str(Path(sys.executable).parent / "mlops")


@dataclass
class Demo:
    data_dir: Path
    completed: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    approvers = ["--approve-as", "carol.approver", "--approve-as", "dave.risk"]
    completed = subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), "demo", *approvers],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "MLOPS_PORT": str(_free_port())},
    )
    try:
        yield Demo(data_dir, completed)
    finally:
        stop_local_servers(data_dir)


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
def served(demo: Demo) -> int:
    """The pid of the local server the demo left running on its data directory."""
    assert demo.completed.returncode == 0
    serving = serving_runtime(demo.data_dir)
    assert serving is not None, "the demo leaves its server running"
    return serving.pid


def test_the_demos_links_answer_after_it_exited(demo: Demo, served: int) -> None:
    # Given the demo has exited; the links it printed name the server it left on the same port
    links = [m["attributes"]["link"] for m in read_outbox(demo.data_dir) if "link" in m["attributes"]]
    assert links, "the demo asked for approvals"
    assert "stop it with: mlops serve --stop" in demo.completed.stdout
    for link in links:
        # Then each approval link still answers (the request was decided: the page says so)
        with urllib.request.urlopen(link, timeout=30) as answer:  # our loopback server
            assert answer.status == 200
    name = json.loads(
        subprocess.run(
            [MLOPS, "--data-dir", str(demo.data_dir), "executions", "--json"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["executions"][0]["name"]
    history = f"{urlsplit(links[0]).scheme}://{urlsplit(links[0]).netloc}/executions/{name}"
    with urllib.request.urlopen(history, timeout=30) as answer:
        assert answer.status == 200


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
