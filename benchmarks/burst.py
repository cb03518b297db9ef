"""Benchmark: a burst of 50 distinct data events plus 50 duplicates, sent at once into one runtime.

First one execution in a fresh runtime (the reference wall time), then, in another fresh runtime:
50 uploads of German credit under distinct keys (datasets/credit-risk/burst-NN.csv, so 50 executions) and, for
each, the exact Object Created event its upload produced sent again (a duplicate, which must start
nothing), all from a thread pool; then every execution is waited for, with unattended approval.

All 50 executions deploy to the ONE endpoint of the stack. An UpdateEndpoint on an endpoint that is
already Updating fails with a ValidationException, as in SageMaker; the state machine waits for a
busy endpoint (and retries an update refused because another got there first), and does not deploy
a version when a newer approved version exists (recorded as Superseded in its lineage). The figures
count each outcome (deployed, superseded, waited), check that the endpoint ends up serving the newest
approved version, and report any failure with its state and error rather than hiding it.

While waiting, this script looks at the executions every ``--poll`` seconds (0.25): it runs in the
runtime's process, and polling 50 executions every 20 ms (with the approver reading the outbox on
each tick) would take the interpreter lock from the runtime it measures.

Prints (and writes to benchmarks/results/burst.json): executions started, duplicates detected,
finished, by status (and why the failures failed), wall time, peak RSS (this process and the job
subprocesses, plus the peak of the whole process tree, sampled by benchmarks/tree_memory.py) and
the ratio of the burst's wall time to the single run's. The children's peak RSS is at least this
process's RSS (a child started with fork or vfork reports its parent's pages until it execs) and
the tree's RSS counts the pages a forked job shares with the zygote once per process: the tree's
PSS is the memory really in use.

Usage: .venv/bin/python benchmarks/burst.py [--executions 50] [--threads 8] [--timeout 900] [--poll 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local.approval_client import auto_approver
from governed_mlops_local.runtime import Delivery, LocalRuntime, find_project_dir, s3_object_created_event

PROJECT = find_project_dir(Path(__file__).parent)
RESULTS = PROJECT / "benchmarks" / "results"
DATA = PROJECT / "data" / "german_credit" / "german_credit.csv"
TREE_MEMORY = Path(__file__).with_name("tree_memory.py")
REQUESTER = "burst-benchmark"
APPROVER = "carol.approver"
#: The endpoint the credit-risk model serves from (one per model: models/credit-risk/config.yaml).
ENDPOINT = "credit-risk"


class TreeRss:
    """The peak summed memory of this process and all its descendants, sampled by benchmarks/tree_memory.py.

    The sampler runs in a process of its own (see there why, and what ``peak_kb`` and ``peak_pss_kb`` count).
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak_kb = 0
        self.peak_pss_kb = 0
        self._sampler: subprocess.Popen[str] | None = None

    def __enter__(self) -> TreeRss:
        self._sampler = subprocess.Popen(
            [sys.executable, str(TREE_MEMORY), str(os.getpid()), str(self.interval)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sampler is None:
            return
        out, _ = self._sampler.communicate(timeout=60)  # closing its input ends the sampling
        peaks = json.loads(out)
        self.peak_kb, self.peak_pss_kb = int(peaks["peak_kb"]), int(peaks["peak_pss_kb"])


def _started(deliveries: list[Delivery]) -> dict[str, Any] | None:
    """The model run the trigger started (or found a duplicate of) for a delivered event, if any."""
    runs = [run for d in deliveries if d.result is not None for run in d.result.get("runs", [])]
    return runs[0] if runs else None


def _failure(runtime: LocalRuntime, result: dict[str, Any]) -> dict[str, str]:
    """The state an execution failed in (the one before its Fail state), and the error it failed with."""
    entered = [
        event["stateEnteredEventDetails"]["name"]
        for event in runtime.executions.history(result["name"])
        if event["type"].endswith("StateEntered")
    ]
    failing = [name for name in entered if name != "Pipeline Failed"]
    return {
        "state": failing[-1] if failing else "-",
        "error": str(result.get("error") or "-"),
        "cause": str(result.get("cause") or "")[:300],
    }


def _seconds(result: dict[str, Any]) -> float:
    start, stop = result["startDate"], result.get("stopDate") or result["startDate"]
    if isinstance(start, str):
        start, stop = datetime.fromisoformat(start), datetime.fromisoformat(stop)
    return float((stop - start).total_seconds())


def single_run(timeout: float) -> dict[str, Any]:
    """One execution in a fresh runtime: the reference for the burst's ratio."""
    data = DATA.read_bytes()
    with tempfile.TemporaryDirectory(prefix="burst-single-") as tmp:
        data_dir = Path(tmp)
        begin = time.perf_counter()
        with LocalRuntime(PROJECT, data_dir) as runtime:
            startup = time.perf_counter() - begin
            begin = time.perf_counter()
            _, deliveries = runtime.upload(data, "datasets/credit-risk/single.csv", requester=REQUESTER)
            started = _started(deliveries)
            if started is None:
                raise SystemExit(f"the single upload started nothing: {deliveries}")
            (result,) = runtime.wait(
                [started["execution_arn"]], on_tick=auto_approver(data_dir, APPROVER), timeout=timeout
            )
            wall = time.perf_counter() - begin
            return {
                "runtime_startup_s": round(startup, 3),
                "event_to_final_state_s": round(wall, 3),
                "status": result["status"],
            }


def _deployment_outcomes(runtime: LocalRuntime, results: list[dict[str, Any]]) -> dict[str, Any]:
    """How each execution left the deployment states, and whether the newest approved version serves."""
    outcomes: Counter[str] = Counter()
    waits = 0
    for result in results:
        entered = [
            event["stateEnteredEventDetails"]["name"]
            for event in runtime.executions.history(result["name"])
            if event["type"].endswith("StateEntered")
        ]
        waits += entered.count("Wait for Free Endpoint")
        if "Record Superseded Deployment" in entered:
            outcomes["superseded"] += 1
        elif "Update Endpoint" in entered or "Create Endpoint" in entered:
            outcomes["deployed"] += 1
        else:
            outcomes["not deployed"] += 1
    approved = [v for v in LocalModelRegistry(runtime.data_dir).list_versions() if v.status == "Approved"]
    newest = max(approved, key=lambda v: int(v.model_version.rsplit("/", 1)[-1]), default=None)
    serving = runtime.hosting.describe_endpoint(ENDPOINT)
    return {
        **dict(outcomes),
        "waits_for_busy_endpoint": waits,
        "serving_config": serving["EndpointConfigName"],
        "serving_newest_approved_version": newest is not None
        and serving["EndpointConfigName"] == f"{newest.execution_name}-config",
    }


def burst(executions: int, threads: int, timeout: float, poll: float) -> dict[str, Any]:
    data = DATA.read_bytes()
    with tempfile.TemporaryDirectory(prefix="burst-") as tmp, TreeRss() as tree:
        data_dir = Path(tmp)
        with LocalRuntime(PROJECT, data_dir) as runtime:

            def upload_then_duplicate(index: int) -> tuple[list[Delivery], list[Delivery]]:
                key = f"datasets/credit-risk/burst-{index:02d}.csv"
                stored, deliveries = runtime.upload(data, key, requester=REQUESTER)
                # The exact event S3 sent for that upload, delivered a second time (at-least-once delivery).
                return deliveries, runtime.send_event(s3_object_created_event(stored, REQUESTER))

            # Before the first event: the approver approves what is published from now on, and a fast run
            # can ask for approval while the last events are still being sent (one run then waited 900 s for
            # its approval to expire, 2026-12-06).
            approve = auto_approver(data_dir, APPROVER)
            begin = time.perf_counter()
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="burst") as pool:
                pairs = list(pool.map(upload_then_duplicate, range(executions)))
            sent = time.perf_counter() - begin
            originals = [_started(first) for first, _ in pairs]
            duplicates = [_started(second) for _, second in pairs]
            errors = [d.error for first, second in pairs for d in (*first, *second) if d.error]
            arns = sorted({r["execution_arn"] for r in (*originals, *duplicates) if r and r["status"] == "started"})
            duplicate_count = sum(1 for r in (*originals, *duplicates) if r and r["status"] == "duplicate")
            print(
                f"burst: {len(arns)} executions started, {duplicate_count} duplicates detected, "
                f"{len(errors)} delivery errors, in {sent:.2f} s; waiting..."
            )
            results = runtime.wait(arns, on_tick=approve, timeout=timeout, poll=poll)
            wall = time.perf_counter() - begin
            failures = [_failure(runtime, r) for r in results if r["status"] != "SUCCEEDED"]
            durations = sorted(_seconds(r) for r in results)
            deployments = _deployment_outcomes(runtime, results)
    return {
        "executions_requested": executions,
        "threads": threads,
        "executions_started": len(arns),
        "duplicates_detected": duplicate_count,
        "delivery_errors": errors,
        "finished": len(results),
        "by_status": dict(Counter(r["status"] for r in results)),
        "failures_by_state_and_error": dict(Counter(f"{f['state']}: {f['error']}" for f in failures)),
        "failure_causes": dict(Counter(f"{f['error']}: {f['cause']}" for f in failures)),
        "deployments": deployments,
        "events_sent_s": round(sent, 3),
        "wall_s": round(wall, 3),
        "execution_duration_s": {
            "min": round(durations[0], 3) if durations else None,
            "median": round(durations[len(durations) // 2], 3) if durations else None,
            "max": round(durations[-1], 3) if durations else None,
        },
        "peak_rss_mb_tree_sampled": round(tree.peak_kb / 1024, 1),
        "peak_pss_mb_tree_sampled": round(tree.peak_pss_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the burst's executions")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between looks at the burst's executions")
    args = parser.parse_args()
    single = single_run(args.timeout)
    print(
        f"single run (fresh runtime): {single['status']} event->final {single['event_to_final_state_s']:.2f} s "
        f"(runtime start-up {single['runtime_startup_s']:.2f} s)"
    )
    figures = burst(args.executions, args.threads, args.timeout, args.poll)
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ratio = figures["wall_s"] / single["event_to_final_state_s"]
    summary = {
        "single": single,
        "burst": figures,
        "burst_to_single_wall_ratio": round(ratio, 2),
        "peak_rss_mb_self": round(self_mb, 1),
        "peak_rss_mb_children": round(children_mb, 1),
        "peak_rss_mb_self_plus_children": round(self_mb + children_mb, 1),
        "cpu_count": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "burst.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(
        f"burst: {figures['executions_started']} executions started, {figures['duplicates_detected']} duplicates "
        f"detected, {figures['finished']} finished, by status {figures['by_status']}"
    )
    for reason, count in figures["failures_by_state_and_error"].items():
        print(f"   {count} failed at {reason}")
    print(f"   deployments: {figures['deployments']}")
    durations = figures["execution_duration_s"]
    print(
        f"wall {figures['wall_s']:.2f} s (events sent in {figures['events_sent_s']:.2f} s; per execution "
        f"min {durations['min']} s, median {durations['median']} s, max {durations['max']} s), "
        f"{ratio:.1f} x the single run's {single['event_to_final_state_s']:.2f} s"
    )
    print(
        f"peak RSS: runtime process {summary['peak_rss_mb_self']} MB + job subprocesses "
        f"{summary['peak_rss_mb_children']} MB = {summary['peak_rss_mb_self_plus_children']} MB; "
        f"process tree (sampled) {figures['peak_rss_mb_tree_sampled']} MB RSS, "
        f"{figures['peak_pss_mb_tree_sampled']} MB PSS"
    )
    print(f"written to {RESULTS / 'burst.json'}")


if __name__ == "__main__":
    main()
