"""Benchmark: event -> final state of the local pipeline on German credit.

Prints (and writes to benchmarks/results/e2e_local.json):
- cold: wall time of `mlops demo` in a fresh process (imports, runtime start-up, one execution);
- warm: event -> final state inside a started runtime, per state, the SageMaker job subprocesses'
  wall time (the ML compute, including each job's interpreter start and imports) and the rest
  (orchestration overhead: moto's interpreter, Lambda handlers, object store, polling);
- peak RSS of this process and of its children (the job subprocesses).

Usage: .venv/bin/python benchmarks/e2e_local.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from governed_mlops.approval_client import auto_approver
from governed_mlops.local.runtime import LocalRuntime, find_project_dir

PROJECT = find_project_dir(Path(__file__).parent)
RESULTS = PROJECT / "benchmarks" / "results"


def _state_durations(events: list[dict[str, Any]]) -> dict[str, float]:
    entered: dict[str, datetime] = {}
    durations: dict[str, float] = {}
    for event in events:
        stamp = datetime.fromisoformat(event["timestamp"])
        if event["type"].endswith("StateEntered"):
            entered[event["stateEnteredEventDetails"]["name"]] = stamp
        elif event["type"].endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            durations[name] = (stamp - entered[name]).total_seconds()
    return durations


def _job_seconds(data_dir: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for describe in sorted((data_dir / "sagemaker").glob("*/*/describe.json")):
        job = json.loads(describe.read_text())
        start = job.get("TrainingStartTime") or job.get("ProcessingStartTime")
        end = job.get("TrainingEndTime") or job.get("ProcessingEndTime")
        seconds[describe.parent.name] = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return seconds


def cold_demo() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        begin = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "mlops"), "--data-dir", tmp, "demo", "--approve-as", "carol.approver"],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=PROJECT,
        )
        return time.perf_counter() - begin


def warm_runs(runs: int) -> list[dict[str, Any]]:
    data = (PROJECT / "data" / "german_credit" / "german_credit.csv").read_bytes()
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        begin = time.perf_counter()
        with LocalRuntime(PROJECT, data_dir) as runtime:
            startup = time.perf_counter() - begin
            for run in range(runs):
                before = set(_job_seconds(data_dir))
                begin = time.perf_counter()
                # A distinct key per run, so each run is a new execution (not a duplicate).
                _, deliveries = runtime.upload(data, f"datasets/run-{run}.csv")
                started = deliveries[0].result
                if started is None:
                    raise SystemExit(f"the upload started nothing: {deliveries[0].error}")
                # Unattended approval through the API, as `mlops demo --approve-as` does.
                (result,) = runtime.wait([started["execution_arn"]], on_tick=auto_approver(data_dir, "carol.approver"))
                wall = time.perf_counter() - begin
                jobs = {k: v for k, v in _job_seconds(data_dir).items() if k not in before}
                compute = sum(jobs.values())
                figures.append(
                    {
                        "run": run,
                        "status": result["status"],
                        "runtime_startup_s": round(startup, 3) if run == 0 else 0.0,
                        "event_to_final_state_s": round(wall, 3),
                        "ml_jobs_s": {k.rsplit("-", 2)[-2]: round(v, 3) for k, v in jobs.items()},
                        "ml_compute_s": round(compute, 3),
                        "orchestration_overhead_s": round(wall - compute, 3),
                        "per_state_s": _state_durations(runtime.executions.history(result["name"])),
                    }
                )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="warm executions in one runtime")
    args = parser.parse_args()
    cold = cold_demo()
    warm = warm_runs(args.runs)
    summary = {
        "cold_mlops_demo_wall_s": round(cold, 3),
        "warm": warm,
        "peak_rss_mb_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_mb_children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "e2e_local.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"cold `mlops demo` (fresh process, event to final state + start-up): {cold:.2f} s")
    for run in warm:
        print(
            f"warm run {run['run']}: {run['status']} event->final {run['event_to_final_state_s']:.2f} s, "
            f"ML jobs {run['ml_compute_s']:.2f} s {run['ml_jobs_s']}, "
            f"orchestration {run['orchestration_overhead_s']:.2f} s"
        )
        print("   per state: " + ", ".join(f"{k} {v:.3f}" for k, v in run["per_state_s"].items()))
    print(
        f"peak RSS: runtime process {summary['peak_rss_mb_self']} MB, "
        f"job subprocesses {summary['peak_rss_mb_children']} MB"
    )


if __name__ == "__main__":
    main()
