"""benchmarks/startup.py: its clock starts at the process's spawn and its timeline reads the right events.

No wall-clock figure is asserted: the benchmark prints those; here only that the zero of its timeline is the
spawn of the process it runs in, and that it reads registration and job times from a history.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import benchmark_module

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = REPO_ROOT / "benchmarks" / "startup.py"
#: A fresh interpreter reaches its first line well within this (and well above 0); a clock off by the whole
#: seconds of the boot time, or reading another field of /proc/self/stat, is not.
AGE_BOUND_S = 30.0


@pytest.fixture(scope="module")
def startup() -> Iterator[ModuleType]:
    with benchmark_module(BENCHMARK, "startup_under_test") as module:
        yield module


def test_the_timeline_starts_when_the_process_was_spawned() -> None:
    probe = (
        "import importlib.util, time\n"
        f"spec = importlib.util.spec_from_file_location('s', {str(BENCHMARK)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(time.time() - module._process_started())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    age = float(done.stdout.strip())

    assert 0 < age < AGE_BOUND_S


def test_registration_and_the_jobs_before_it_are_read_from_the_history(startup: ModuleType, tmp_path: Path) -> None:
    # Given a history whose "Register Model" exits 9 s after the spawn, a job before it and one after it
    spawned = 1_000.0

    def iso(offset: float) -> str:
        return startup.datetime.fromtimestamp(spawned + offset, startup.UTC).isoformat()

    history = [
        {"type": "TaskStateExited", "timestamp": iso(8), "stateExitedEventDetails": {"name": "Check Model Bias"}},
        {"type": "TaskStateExited", "timestamp": iso(9), "stateExitedEventDetails": {"name": "Register Model"}},
    ]
    for name, start, end in (("run-x-train-0", 6, 7.5), ("run-x-monitor-0", 12, 13)):
        job = tmp_path / "sagemaker" / "training" / name
        job.mkdir(parents=True)
        (job / "describe.json").write_text(json.dumps({"TrainingStartTime": iso(start), "TrainingEndTime": iso(end)}))

    # When the timeline is read
    timeline = startup._from_history(history, tmp_path, spawned)

    # Then registration is at 9 s, the first job at 6 s, and only the job before registration counts
    assert timeline["registered_s"] == pytest.approx(9)
    assert timeline["first_job_started_s"] == pytest.approx(6)
    assert timeline["ml_jobs_s"] == {"train": 1.5}
