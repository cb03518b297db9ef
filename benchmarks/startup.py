"""Benchmark: where a fresh process's time goes, from spawn to a registered model.

Spawns itself as a fresh interpreter that imports the runtime, starts it, uploads German credit (one data
event) and waits for the execution; the child reports, on one timeline from the spawn:

- ``interpreter_s``: the child's first line runs (interpreter start, site);
- ``imports_s``: the runtime's imports done (``governed_mlops_local.runtime``);
- ``runtime_start_s``: ``LocalRuntime.__enter__`` done, with its parts (``enter_parts_s``: zygote spawn,
  moto mock, CreateStateMachine (the ASL parse), the local gateway, publishing the job code);
- ``zygote_ready_s``: the job zygote has imported what the first job needs (its ``.ready`` file);
- ``execution_started_s``: the data event's trigger has started the execution;
- ``first_job_started_s``: the first SageMaker job (data bias) started;
- ``registered_s``: "Register Model" exited (spawn -> registered, the issue's figure);
- ``ml_jobs_s``: the job subprocesses' wall time up to registration (each includes its start in the zygote);
- the modules of the scientific stack and of moto's EC2 loaded in the runtime's process at registration,
  and its RSS then.

The child exits after the whole execution (the approval is given as ``mlops demo --approve-as`` does).
``--runs N`` repeats the fresh process N times and prints each timeline and the median of each figure;
``--json`` writes ``benchmarks/results/startup.json``. Quote medians with the load average printed
next to them: the figures are wall times on a shared machine.

``--child --until-registered`` is one fresh process that ends once the model is registered: a command to
time from outside, e.g. pair by pair against another checkout.

Usage: .venv/bin/python benchmarks/startup.py [--runs N] [--json]
       .venv/bin/python benchmarks/startup.py --child --until-registered
"""

# ruff: noqa: E402 - the clock starts before the imports, so that a fresh process can report their cost.
from __future__ import annotations

import time

_SCRIPT_STARTED = time.time()

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "benchmarks" / "results"
DATA = PROJECT / "data" / "german_credit" / "german_credit.csv"
#: Loaded in the runtime's own process, these cost start-up time and memory; none is needed before a model serves.
WATCHED_MODULES = ("moto.ec2", "moto.batch.models", "numpy", "pandas", "scipy", "sklearn", "xgboost", "shap")
APPROVER = "carol.approver"


def _stamp(value: str | None) -> float | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@contextmanager
def _timed(owner: Any, name: str, parts: dict[str, float], label: str) -> Iterator[None]:
    """Time every call of ``owner.name`` (a method) into ``parts[label]`` while the block runs."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        begin = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            parts[label] = round(parts.get(label, 0.0) + time.perf_counter() - begin, 3)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _process_started() -> float:
    """When this process was spawned (the kernel's start time, to 1/100 s): the timeline's zero.

    The process's age is the time since boot (``/proc/uptime``) less its start in clock ticks since
    boot; /proc/stat's boot time is whole seconds, too coarse to be the zero here.
    """
    now = time.time()
    since_boot = float(Path("/proc/uptime").read_text().split()[0])
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    return now - (since_boot - ticks / os.sysconf("SC_CLK_TCK"))


def _child(*, until_registered: bool) -> None:
    """The fresh process: import, start, one event; print the timeline as one JSON line.

    With ``until_registered`` it prints and ends the process as soon as the model is registered.
    """
    spawned = _process_started()
    begin_imports = time.time()
    from governed_mlops_local.approval_client import auto_approver  # noqa: PLC0415 - timed: the imports under test
    from governed_mlops_local.runtime import LocalRuntime  # noqa: PLC0415 - timed: the imports under test

    imported = time.time()
    # Imported after the clock: what the timing wrappers need, not what the runtime imports.
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend  # noqa: PLC0415 - see above

    from governed_mlops_local.zygote import Zygote  # noqa: PLC0415 - see above

    timeline: dict[str, Any] = {
        "interpreter_s": _SCRIPT_STARTED - spawned,
        "imports_s": imported - spawned,
        "imports_only_s": imported - begin_imports,
    }
    parts: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        runtime = LocalRuntime(PROJECT, data_dir)
        timeline["runtime_constructed_s"] = time.time() - spawned
        wrappers: list[tuple[Any, str, str]] = [
            (Zygote, "start_in_background", "zygote_spawn"),
            (StepFunctionsParserBackend, "create_state_machine", "create_state_machine"),
            (LocalRuntime, "_start_gateway", "gateway"),
            (LocalRuntime, "_publish_deployment_artifacts", "publish_artifacts"),
        ]
        with _all_timed(wrappers, parts), runtime:
            timeline["runtime_start_s"] = time.time() - spawned
            timeline["enter_parts_s"] = dict(parts)
            _, deliveries = runtime.upload(DATA.read_bytes(), "datasets/credit-risk/startup.csv")
            started = next(iter((deliveries[0].result or {}).get("runs") or []), None)
            if started is None or "execution_arn" not in started:
                raise SystemExit(f"the upload started nothing: {deliveries[0]}")
            timeline["execution_started_s"] = time.time() - spawned
            watch = _registration_watch(runtime, started["execution_arn"], timeline, spawned)
            approve = auto_approver(data_dir, APPROVER)

            def tick() -> None:
                watch()
                if until_registered and "registered_seen_s" in timeline:
                    # Timed from outside as a whole process: end it here, as a command that only waits
                    # for the registration would (the zygote follows its parent out).
                    timeline.setdefault("registered_s", timeline["registered_seen_s"])
                    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in timeline.items()}))
                    sys.stdout.flush()
                    os._exit(0)
                approve()

            (result,) = runtime.wait([started["execution_arn"]], on_tick=tick)
            timeline["status"] = result["status"]
            history = runtime.executions.history(result["name"])
            timeline.update(_from_history(history, data_dir, spawned))
            ready = data_dir / "run" / "zygote.sock.ready"
            timeline["zygote_ready_s"] = ready.stat().st_mtime - spawned if ready.exists() else None
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in timeline.items()}))


@contextmanager
def _all_timed(wrappers: list[tuple[Any, str, str]], parts: dict[str, float]) -> Iterator[None]:
    if not wrappers:
        yield
        return
    (owner, name, label), *rest = wrappers
    with _timed(owner, name, parts, label), _all_timed(rest, parts):
        yield


def _registration_watch(runtime: Any, arn: str, timeline: dict[str, Any], spawned: float) -> Callable[[], None]:
    """On each wait tick: once "Register Model" has exited, note the parent's modules and RSS (once)."""
    seen = {"events": 0}

    def watch() -> None:
        if "modules_at_registration" in timeline:
            return
        _, events = runtime._live(arn, seen["events"])
        seen["events"] += len(events)
        for event in events:
            details = event.get("stateExitedEventDetails") or {}
            if details.get("name") == "Register Model":
                timeline["modules_at_registration"] = [m for m in WATCHED_MODULES if m in sys.modules]
                timeline["rss_mb_at_registration"] = _rss_mb()
                timeline["registered_seen_s"] = time.time() - spawned
                stamp = event.get("timestamp")
                if isinstance(stamp, datetime):
                    timeline["registered_s"] = (
                        stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
                    ).timestamp() - spawned

    return watch


def _from_history(history: list[dict[str, Any]], data_dir: Path, spawned: float) -> dict[str, Any]:
    registered = next(
        (
            _stamp(e["timestamp"])
            for e in history
            if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == "Register Model"
        ),
        None,
    )
    jobs = []
    for describe in sorted((data_dir / "sagemaker").glob("*/*/describe.json")):
        job = json.loads(describe.read_text())
        start = _stamp(job.get("TrainingStartTime") or job.get("ProcessingStartTime"))
        end = _stamp(job.get("TrainingEndTime") or job.get("ProcessingEndTime"))
        if start is not None and end is not None and (registered is None or end <= registered):
            jobs.append((describe.parent.name.rsplit("-", 2)[-2], start, end))
    first_job = min((start for _, start, _ in jobs), default=None)
    return {
        "first_job_started_s": first_job - spawned if first_job is not None else None,
        "registered_s": registered - spawned if registered is not None else None,
        "ml_jobs_s": {name: round(end - start, 3) for name, start, end in sorted(jobs, key=lambda j: j[1])},
    }


def _fresh_run() -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--child"],
        check=True,
        capture_output=True,
        text=True,
        cwd=PROJECT,
    )
    run: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    run["load_average_1m"] = os.getloadavg()[0]
    return run


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if isinstance(run.get(key), int | float)]
    return round(statistics.median(values), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes, one after the other")
    parser.add_argument("--json", action="store_true", help="write benchmarks/results/startup.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--until-registered",
        action="store_true",
        help="with --child: end the process once the model is registered (to time it as a whole process)",
    )
    args = parser.parse_args()
    if args.child:
        _child(until_registered=args.until_registered)
        return
    runs = [_fresh_run() for _ in range(args.runs)]
    keys = [
        "interpreter_s",
        "imports_s",
        "runtime_start_s",
        "zygote_ready_s",
        "execution_started_s",
        "first_job_started_s",
        "registered_s",
    ]
    medians = {key: _median(runs, key) for key in keys}
    summary = {"runs": runs, "median_s": medians, "cpu_count": os.cpu_count()}
    for number, run in enumerate(runs):
        line = ", ".join(f"{key.removesuffix('_s')} {run.get(key)}" for key in keys)
        print(f"run {number} (load {run['load_average_1m']:.2f}): {line}")
        print(f"  start-up parts {run['enter_parts_s']}; jobs {run['ml_jobs_s']}")
        print(f"  at registration: RSS {run.get('rss_mb_at_registration')} MB, {run.get('modules_at_registration')}")
    print("median: " + ", ".join(f"{key.removesuffix('_s')} {value}" for key, value in medians.items()))
    if args.json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "startup.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
