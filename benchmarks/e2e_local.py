"""Benchmark: event -> final state of the local pipeline on German credit.

Prints (and writes to benchmarks/results/e2e_local.json):
- cold: wall time of `mlops demo` in a fresh process (imports, runtime start-up, one execution);
- warm: event -> registered model and event -> final state (model promoted by the canary) inside a
  started runtime (run 0 is the first execution of a fresh runtime: cold handlers, zygote still
  importing), per state, the SageMaker job subprocesses' wall time (the ML compute, including each
  job's interpreter start and imports) and the rest (orchestration overhead: moto's interpreter,
  Lambda handlers, object store, polling);
- peak RSS of this process and of its children (the job subprocesses);
- the ratios to the ML floor (benchmarks/ml_floor.py: the same ML computations in one plain process):
  ``warm_ratio_to_floor`` = warm event -> registered (median of the runs after run 0, or run 0 alone
  with ``--runs 1``) / the floor's median warm compute in this process; ``fresh_ratio_to_floor`` =
  fresh spawn -> registered / spawn -> exit of the floor run as a fresh process (imports included).

Usage: .venv/bin/python benchmarks/e2e_local.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from governed_mlops_local.approval_client import auto_approver
from governed_mlops_local.dataset_versions import reexported
from governed_mlops_local.runtime import LocalRuntime, find_project_dir

PROJECT = find_project_dir(Path(__file__).parent)
RESULTS = PROJECT / "benchmarks" / "results"
ML_FLOOR = PROJECT / "benchmarks" / "ml_floor.py"
FLOOR_WARM_RUNS = 3


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


def _registered_at(events: list[dict[str, Any]]) -> datetime | None:
    """When "Register Model" finished (the model version exists in the registry)."""
    for event in events:
        if event["type"].endswith("StateExited") and event["stateExitedEventDetails"]["name"] == "Register Model":
            stamp = datetime.fromisoformat(event["timestamp"])
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return None


def _wait_state_seconds(events: list[dict[str, Any]]) -> float:
    """Time spent in Wait states: idle by design (endpoint polling while the canary bakes)."""
    total, entered = 0.0, None
    for event in events:
        if event["type"] == "WaitStateEntered":
            entered = datetime.fromisoformat(event["timestamp"])
        elif event["type"] == "WaitStateExited" and entered is not None:
            total += (datetime.fromisoformat(event["timestamp"]) - entered).total_seconds()
            entered = None
    return total


def _job_seconds(data_dir: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for describe in sorted((data_dir / "sagemaker").glob("*/*/describe.json")):
        job = json.loads(describe.read_text())
        start = job.get("TrainingStartTime") or job.get("ProcessingStartTime")
        end = job.get("TrainingEndTime") or job.get("ProcessingEndTime")
        seconds[describe.parent.name] = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return seconds


def cold_demo() -> float:
    mlops = str(Path(sys.executable).parent / "mlops")
    with tempfile.TemporaryDirectory() as tmp:
        begin = time.perf_counter()
        # Both approvers: the demo model is high risk (two distinct approvers); with one the demo waits forever.
        demo = ["--data-dir", tmp, "demo", "--approve-as", "carol.approver", "--approve-as", "dave.risk"]
        subprocess.run([mlops, *demo], check=True, stdout=subprocess.DEVNULL, cwd=PROJECT)
        wall = time.perf_counter() - begin
        # The demo leaves its server running (links stay live); stop it before its data directory goes.
        stop = [mlops, "--data-dir", tmp, "serve", "--stop"]
        subprocess.run(stop, check=True, stdout=subprocess.DEVNULL, cwd=PROJECT)
        return wall


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
                event_time = datetime.now(UTC)
                begin = time.perf_counter()
                # A distinct key per run, so each run is a new execution (not a duplicate).
                # Run N > 0 uploads the same rows in new bytes (a new dataset version): the same bytes again
                # would end as No Change (nothing to train), which measures nothing here.
                version = reexported(data, run) if run else data
                _, deliveries = runtime.upload(version, f"datasets/credit-risk/run-{run}.csv")
                started = next(iter((deliveries[0].result or {}).get("runs") or []), None)
                if started is None or "execution_arn" not in started:
                    raise SystemExit(f"the upload started nothing: {deliveries[0]}")
                # Unattended approval through the API, as `mlops demo --approve-as` does.
                (result,) = runtime.wait([started["execution_arn"]], on_tick=auto_approver(data_dir, "carol.approver"))
                wall = time.perf_counter() - begin
                jobs = {k: v for k, v in _job_seconds(data_dir).items() if k not in before}
                compute = sum(jobs.values())
                history = runtime.executions.history(result["name"])
                registered = _registered_at(history)
                figures.append(
                    {
                        "run": run,
                        "status": result["status"],
                        "runtime_startup_s": round(startup, 3) if run == 0 else 0.0,
                        "registered_at": registered.isoformat() if registered else None,
                        "event_to_registered_s": (
                            round((registered - event_time).total_seconds(), 3) if registered else None
                        ),
                        "event_to_final_state_s": round(wall, 3),
                        "ml_jobs_s": {k.rsplit("-", 2)[-2]: round(v, 3) for k, v in jobs.items()},
                        "ml_compute_s": round(compute, 3),
                        "configured_wait_s": round(_wait_state_seconds(history), 3),
                        # What the issue calls orchestration overhead: wall - ML compute - configured waits.
                        "orchestration_overhead_s": round(wall - compute - _wait_state_seconds(history), 3),
                        "per_state_s": _state_durations(history),
                    }
                )
    return figures


def fresh_process() -> dict[str, Any]:
    """One execution in a new interpreter: spawn -> registered and spawn -> final, imports included."""
    spawned = datetime.now(UTC)
    child = subprocess.run(
        [sys.executable, __file__, "--fresh-child"], check=True, capture_output=True, text=True, cwd=PROJECT
    )
    run = json.loads(child.stdout.strip().splitlines()[-1])
    registered = datetime.fromisoformat(run["registered_at"]) if run["registered_at"] else None
    return {
        "status": run["status"],
        "spawn_to_registered_s": round((registered - spawned).total_seconds(), 3) if registered else None,
        "spawn_to_final_state_s": round((datetime.fromisoformat(run["ended_at"]) - spawned).total_seconds(), 3),
        "event_to_registered_s": run["event_to_registered_s"],
        "runtime_startup_s": run["runtime_startup_s"],
    }


def floor_fresh_process() -> dict[str, Any]:
    """The ML floor in a new interpreter: spawn -> exit wall time, and the child's imports_s / compute_s."""
    begin = time.perf_counter()
    child = subprocess.run(
        [sys.executable, str(ML_FLOOR), "--warm-runs", "0", "--json-line"],
        check=True,
        capture_output=True,
        text=True,
        cwd=PROJECT,
    )
    wall = time.perf_counter() - begin
    figures: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "spawn_to_exit_s": round(wall, 3),
        "imports_s": figures["imports_s"],
        "compute_s": figures["compute_s"],
        "steps_s": figures["steps_s"],
    }


def floor_in_process() -> dict[str, Any]:
    """The ML floor in this process: one cold run, then the median of FLOOR_WARM_RUNS warm runs."""
    # Imported only here: the floor loads xgboost, which the runtime process never needs.
    import ml_floor  # noqa: PLC0415 - the ML floor's xgboost, only in this measurement

    figures = ml_floor.measure(FLOOR_WARM_RUNS)
    return {
        "warm_compute_s": figures["warm_compute_s"],
        "warm_runs": figures["warm_runs"],
        "warm_steps_s": figures["warm_steps_s"],
    }


def _ratio(numerator: float | None, denominator: float) -> float | None:
    return round(numerator / denominator, 2) if numerator is not None and denominator > 0 else None


def _warm_event_to_registered(warm: list[dict[str, Any]]) -> tuple[float | None, list[int]]:
    """Median event -> registered of the runs after run 0 (cold handlers), or of run 0 when it is alone."""
    used = [run for run in warm if run["run"] > 0] or warm
    values = [run["event_to_registered_s"] for run in used if run["event_to_registered_s"] is not None]
    return (round(statistics.median(values), 3) if values else None), [run["run"] for run in used]


def _fresh_child() -> None:
    (run,) = warm_runs(1)
    print(json.dumps(run | {"ended_at": datetime.now(UTC).isoformat()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="warm executions in one runtime")
    parser.add_argument("--fresh-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fresh_child:
        _fresh_child()
        return
    cold = cold_demo()
    fresh = fresh_process()
    warm = warm_runs(args.runs)
    # Read before the floor runs here, so the peaks stay those of the runtime and its job subprocesses.
    peak_rss_self = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    peak_rss_children = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    floor_fresh = floor_fresh_process()
    floor_warm = floor_in_process()
    warm_registered, warm_runs_used = _warm_event_to_registered(warm)
    summary = {
        "cold_mlops_demo_wall_s": round(cold, 3),
        "fresh_process": fresh,
        "warm": warm,
        "peak_rss_mb_self": peak_rss_self,
        "peak_rss_mb_children": peak_rss_children,
        "ml_floor": {"fresh_process": floor_fresh, "in_process": floor_warm},
        "warm_event_to_registered_s": warm_registered,
        "warm_runs_in_ratio": warm_runs_used,
        "warm_ratio_to_floor": _ratio(warm_registered, floor_warm["warm_compute_s"]),
        "fresh_ratio_to_floor": _ratio(fresh["spawn_to_registered_s"], floor_fresh["spawn_to_exit_s"]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "e2e_local.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"cold `mlops demo` (fresh process, event to final state + start-up): {cold:.2f} s")
    print(
        f"fresh process, one execution: spawn->registered {fresh['spawn_to_registered_s']} s, "
        f"spawn->final {fresh['spawn_to_final_state_s']} s ({fresh['status']}; event->registered "
        f"{fresh['event_to_registered_s']} s after a {fresh['runtime_startup_s']} s runtime start)"
    )
    for run in warm:
        print(
            f"warm run {run['run']}: {run['status']} event->registered {run['event_to_registered_s']} s, "
            f"event->final {run['event_to_final_state_s']:.2f} s, "
            f"ML jobs {run['ml_compute_s']:.2f} s {run['ml_jobs_s']}, "
            f"configured waits {run['configured_wait_s']:.2f} s, orchestration {run['orchestration_overhead_s']:.2f} s"
        )
        print("   per state: " + ", ".join(f"{k} {v:.3f}" for k, v in run["per_state_s"].items()))
    print(
        f"peak RSS: runtime process {summary['peak_rss_mb_self']} MB, "
        f"job subprocesses {summary['peak_rss_mb_children']} MB"
    )
    print(
        f"ML floor, fresh process: spawn->exit {floor_fresh['spawn_to_exit_s']} s "
        f"(imports_s {floor_fresh['imports_s']}, compute_s {floor_fresh['compute_s']}); "
        f"in this process: warm compute {floor_warm['warm_compute_s']} s (median of {floor_warm['warm_runs']})"
    )
    print(
        f"warm_ratio_to_floor {summary['warm_ratio_to_floor']} (event->registered {warm_registered} s, "
        f"runs {warm_runs_used}); fresh_ratio_to_floor {summary['fresh_ratio_to_floor']} "
        f"(spawn->registered {fresh['spawn_to_registered_s']} s)"
    )


if __name__ == "__main__":
    main()
