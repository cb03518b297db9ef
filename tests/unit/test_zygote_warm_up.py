"""The job zygote's warm-up: every step runs, and none changes what a job computes or draws."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from governed_mlops_local.zygote import FIRST_MODULES, LATER_MODULES, _warm_up_steps
from governed_mlops_ml.bias_plots import plot_stage
from tests.conftest import PROJECT_DIR


def _report() -> dict[str, object]:
    metric = {"name": "CI", "description": "Class Imbalance (CI)", "value": 0.38, "limit": {"max": 0.5}}
    facets = {"sex": [{"value_or_threshold": "female*", "metrics": [metric]}]}
    section = {"label": "credit_risk", "facets": facets, "label_value_or_threshold": "good"}
    return {"version": "1.0", "pre_training_bias_metrics": section}


def test_every_warm_up_step_runs() -> None:
    # The zygote ignores a failing step (it only costs a job that time): this test does not.
    steps = list(_warm_up_steps())
    assert len(steps) > len(LATER_MODULES)
    for step in steps:
        step()


def test_the_data_bias_job_needs_none_of_the_later_modules() -> None:
    # The zygote takes the pipeline's first job (data bias) once FIRST_MODULES are imported and
    # imports LATER_MODULES afterwards: the job script must not need them at import time.
    probe = (
        "import runpy, sys\n"
        "runpy.run_path(sys.argv[1], run_name='probe')\n"
        "print(sorted(m for m in sys.argv[2:] if m in sys.modules))\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe, str(PROJECT_DIR / "jobs" / "bias.py"), *LATER_MODULES],
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.strip() == "[]"
    assert set(FIRST_MODULES).isdisjoint(LATER_MODULES)


def test_a_chart_drawn_after_the_warm_up_has_the_same_bytes(tmp_path: Path) -> None:
    before = plot_stage(_report(), "pre", tmp_path / "before.svg").read_bytes()
    for step in _warm_up_steps():
        step()
    after = plot_stage(json.loads(json.dumps(_report())), "pre", tmp_path / "after.svg").read_bytes()
    assert after == before
