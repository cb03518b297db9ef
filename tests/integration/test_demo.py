"""``make demo`` (the README's main job) end to end: first model, a push that changes nothing, a canary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.slow

MLOPS = str(Path(sys.executable).parent / "mlops")


def test_the_demo_deploys_then_a_no_op_push_ends_as_no_change_then_a_canary_rolls_out(tmp_path: Path) -> None:
    demo = subprocess.run(
        [
            MLOPS,
            "--data-dir",
            str(tmp_path / "data"),
            "demo",
            "--approve-as",
            "carol.approver",
            "--approve-as",
            "dave.risk",
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = demo.stdout
    assert demo.returncode == 0, out[-3000:] + demo.stderr[-3000:]
    assert "model version  credit-risk/1 (Approved)" in out
    assert "No Change: same data, job code and configuration (sha256) as the champion credit-risk/1" in out
    assert "model version  credit-risk/2 (Approved)" in out
    assert "Traceback" not in out + demo.stderr
    # The canary served part of the live traffic, and no client request failed during the rollout
    rollout = out[out.index("client requests during the rollout") :]
    assert ", failed: 0" in rollout.splitlines()[0]
    assert len([line for line in rollout.splitlines()[1:] if "-config" in line]) == 2
