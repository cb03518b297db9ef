"""Load generator for a local SageMaker endpoint: open-loop requests, latency percentiles, per-variant counts.

Without ``--url`` it hosts its own endpoint: it trains the German credit model (and a retrained or a
label-flipped second model) into a temporary object store, creates the endpoint with data capture,
serves it over HTTP on 127.0.0.1, and part-way through the run starts a CANARY update to the second
model, so the figures include a traffic shift (and, with ``--canary flipped``, the rollback the
behaviour alarm triggers). With ``--url`` it only sends load to an existing local server.

Requests are scheduled open-loop (request i is due at start + i / rate, whatever earlier requests are
doing) and sent by a thread pool over keep-alive connections; latency is measured from the due time
(so queueing counts) and, separately, as the service time of the HTTP exchange. Only loopback URLs
are accepted and the run is bounded (rate <= 2,000/s, seconds <= 300, 100,000 requests).

Self-hosted, the load comes from a child process by default (``--client process``), as an
application's requests do: its HTTP work then does not compete with the server for this process's
GIL. ``--client thread`` sends it from threads of the serving process (how figures were measured
before 2026-12-06). The figures include the load average before and after the run (other work on the
machine shows up in the tail) and the latency per phase of the deployment (before the update, while
the new fleet is provisioned, the canary, the termination bake, after).

Usage:
  .venv/bin/python benchmarks/endpoint_load.py [--endpoint NAME] [--rate N] [--seconds T] [--drift]
      [--url http://127.0.0.1:PORT] [--canary good|flipped|none] [--time-scale X] [--workers N]
      [--client process|thread]

Prints the figures and writes benchmarks/results/endpoint_load.json.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import http.client
import io
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.config import parse_config
from governed_mlops.domain.hyperparameters import parse_hyperparameters
from governed_mlops_local.endpoints import AlarmRule, LocalSageMakerHosting
from governed_mlops_local.model_server import CONFIG_HEADER, VARIANT_HEADER, serve
from governed_mlops_local.runtime import find_project_dir
from governed_mlops_ml.artifacts import read_dataset, save_feature_spec, write_model_archive
from governed_mlops_ml.features import FeatureSpec, encode_frame, encode_target
from governed_mlops_ml.job_config import DecisionLabels, JobConfig
from governed_mlops_ml.model import predict_scores, save_booster, train_booster
from governed_mlops_ml.monitoring import baseline, detect_drift, read_capture
from governed_mlops_ml.serving import write_inference_settings
from governed_mlops_ml.training import train_model

#: The score at which the load test's model approves (the pipeline's default decision threshold).
DECISION_THRESHOLD = 0.5

PROJECT = find_project_dir(Path(__file__).parent)
RESULTS = PROJECT / "benchmarks" / "results"
DATA = PROJECT / "data" / "german_credit" / "german_credit.csv"
CONFIG = PROJECT / "models" / "credit-risk" / "config.yaml"
MAX_RATE, MAX_SECONDS, MAX_REQUESTS = 2000, 300, 100_000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MODELS_BUCKET = "benchmark-models"

#: What the German credit model is configured to answer (models/credit-risk/config.yaml).
CREDIT_DECISIONS = DecisionLabels(favourable="approve", unfavourable="deny")


@dataclass(frozen=True)
class Sample:
    due: float
    started: float
    finished: float
    status: int
    variant: str
    endpoint_config: str
    error: str = ""


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default="credit-risk")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--drift", action="store_true", help="send drifted rows (amount x3, age +20, purpose)")
    parser.add_argument("--url", help="an existing local model server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--canary", choices=["good", "flipped", "none"], default="good", help="self-hosted only")
    parser.add_argument("--time-scale", type=float, default=0.05, help="self-hosted only: scales the update's waits")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument(
        "--client",
        choices=["process", "thread"],
        default="process",
        help="self-hosted only: send the load from a child process (default) or from threads of the server's process",
    )
    parser.add_argument("--samples-out", type=Path, help=argparse.SUPPRESS)  # the child's answer to its parent
    arguments = parser.parse_args()
    if not 0 < arguments.rate <= MAX_RATE or not 0 < arguments.seconds <= MAX_SECONDS:
        parser.error(f"--rate must be in (0, {MAX_RATE}] and --seconds in (0, {MAX_SECONDS}]")
    if arguments.rate * arguments.seconds > MAX_REQUESTS:
        parser.error(f"at most {MAX_REQUESTS} requests per run")
    if arguments.url and urlsplit(arguments.url).hostname not in LOOPBACK:
        parser.error("--url must point at this machine (127.0.0.1, localhost or ::1)")
    return arguments


# -- request bodies -----------------------------------------------------------------------------


def drifted(frame: pd.DataFrame) -> pd.DataFrame:
    """Applicants three times the amount, twenty years older, half of them buying a new car."""
    changed = frame.copy()
    changed["credit_amount"] = (pd.to_numeric(changed["credit_amount"]) * 3).astype(int).astype(str)
    changed["age_in_years"] = (pd.to_numeric(changed["age_in_years"]) + 20).astype(int).astype(str)
    changed.loc[changed.index % 2 == 0, "purpose"] = "car (new)"
    return changed


def csv_bodies(frame: pd.DataFrame, features: tuple[str, ...]) -> list[bytes]:
    bodies = []
    for _, row in frame.iterrows():
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([row[name] for name in features])
        bodies.append(buffer.getvalue().encode())
    return bodies


# -- the self-hosted endpoint -------------------------------------------------------------------


@dataclass
class Hosted:
    hosting: LocalSageMakerHosting
    url: str
    frame: pd.DataFrame
    spec: FeatureSpec
    data_dir: Path


def _archive(directory: Path, booster: Any, spec: FeatureSpec) -> bytes:
    save_booster(booster, directory / "model")
    save_feature_spec(spec, directory / "model")
    write_inference_settings(directory / "model", 0.5, decisions=CREDIT_DECISIONS)
    return write_model_archive(directory / "model", directory / "model.tar.gz").read_bytes()


def _endpoint_config(hosting: LocalSageMakerHosting, name: str, variant: str) -> str:
    hosting.create_model(
        {"ModelName": name, "PrimaryContainer": {"ModelDataUrl": f"s3://{MODELS_BUCKET}/{name}/model.tar.gz"}}
    )
    hosting.create_endpoint_config(
        {
            "EndpointConfigName": f"{name}-config",
            "ProductionVariants": [
                {"VariantName": variant, "ModelName": name, "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}
            ],
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": "s3://benchmark-monitoring/datacapture",
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            },
        }
    )
    return f"{name}-config"


@contextlib.contextmanager
def hosted_endpoint(endpoint: str, time_scale: float) -> Iterator[Hosted]:
    config = parse_config(CONFIG.read_text(encoding="utf-8"))
    dataset = config.dataset
    job_config = JobConfig(
        target=dataset.target,
        positive_label=dataset.positive_label,
        numeric_features=tuple(dataset.numeric_features),
        categorical_features=tuple(dataset.categorical_features),
        seed=config.training.seed,
        decision_threshold=config.gates.decision_threshold,
    )
    hyperparameters = parse_hyperparameters(config.training.hyperparameters)
    frame = read_dataset(DATA)
    trained = train_model(frame, job_config, hyperparameters)
    features, labels = encode_frame(frame, trained.spec), encode_target(frame, trained.spec)
    with tempfile.TemporaryDirectory(prefix="endpoint-load-") as tmp:
        data_dir = Path(tmp)
        store = LocalObjectStore(data_dir)
        models = {
            "model-v1": trained.booster,
            "model-v2": train_booster(features, labels, hyperparameters, job_config.seed + 1),
            "model-flipped": train_booster(features, 1 - labels, hyperparameters, job_config.seed),
        }
        for name, booster in models.items():
            store.put(MODELS_BUCKET, f"{name}/model.tar.gz", _archive(data_dir / name, booster, trained.spec))
        baseline_rate = float((predict_scores(trained.booster, trained.spec, frame) >= DECISION_THRESHOLD).mean())
        with LocalSageMakerHosting(data_dir, store, time_scale=time_scale, rng_seed=1) as hosting:
            configs = {name: _endpoint_config(hosting, name, name.removeprefix("model-")) for name in models}
            hosting.create_endpoint({"EndpointName": endpoint, "EndpointConfigName": configs["model-v1"]})
            hosting.wait_for_status(endpoint, ["InService", "Failed"], timeout=60)
            hosting.register_alarms(
                endpoint,
                [
                    AlarmRule(f"{endpoint}-5xx", "Invocation5XXErrors rate", 0.01),
                    AlarmRule(f"{endpoint}-latency-p99", "ModelLatency p99", 250.0),
                    AlarmRule(
                        f"{endpoint}-approval-rate",
                        "PositivePredictionRate delta vs baseline",
                        0.15,
                        baseline_rate=baseline_rate,
                        min_samples=50,
                        # No scored canary rows is no evidence: the update must not proceed on it.
                        treat_missing_data="breaching",
                    ),
                ],
            )
            server, _ = serve(hosting)
            try:
                yield Hosted(hosting, f"http://127.0.0.1:{server.server_address[1]}", frame, trained.spec, data_dir)
            finally:
                server.shutdown()
                server.server_close()


def canary_request(endpoint: str, model: str) -> dict[str, Any]:
    return {
        "EndpointName": endpoint,
        "EndpointConfigName": f"{model}-config",
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "WaitIntervalInSeconds": 60,
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
                },
                "TerminationWaitInSeconds": 30,
                "MaximumExecutionTimeoutInSeconds": 600,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [
                    {"AlarmName": f"{endpoint}-5xx"},
                    {"AlarmName": f"{endpoint}-latency-p99"},
                    {"AlarmName": f"{endpoint}-approval-rate"},
                ]
            },
        },
    }


# -- load ---------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection per worker thread."""

    def __init__(self, url: str, endpoint: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = f"/endpoints/{endpoint}/invocations"
        self._local = threading.local()

    def send(self, due: float, body: bytes) -> Sample:
        started = time.perf_counter()
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        try:
            if connection is None:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
                self._local.connection = connection
            connection.request("POST", self._path, body, {"Content-Type": "text/csv", "Accept": "text/csv"})
            response = connection.getresponse()
            response.read()
            status = response.status
            variant = response.getheader(VARIANT_HEADER) or "-"
            config = response.getheader(CONFIG_HEADER) or "-"
        except (OSError, http.client.HTTPException) as exc:
            self._local.connection = None
            return Sample(due, started, time.perf_counter(), 599, "-", "-", type(exc).__name__)
        return Sample(due, started, time.perf_counter(), status, variant, config)


def run_load(
    url: str, endpoint: str, bodies: list[bytes], *, rate: float, seconds: float, workers: int
) -> list[Sample]:
    client = Client(url, endpoint)
    order = random.Random(7)  # request order, not cryptography
    total = math.floor(rate * seconds)
    futures = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="load") as pool:
        start = time.perf_counter() + 0.05
        for index in range(total):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(client.send, due, bodies[order.randrange(len(bodies))]))
    return [future.result() for future in futures]


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    array = np.asarray(values) * 1000.0
    return {
        "p50": round(float(np.percentile(array, 50)), 3),
        "p95": round(float(np.percentile(array, 95)), 3),
        "p99": round(float(np.percentile(array, 99)), 3),
        "max": round(float(array.max()), 3),
    }


def summarise(samples: list[Sample], window: tuple[float, float] | None) -> dict[str, Any]:
    ok = [s for s in samples if s.status == HTTPStatus.OK]
    summary: dict[str, Any] = {
        "requests": len(samples),
        "errors": len(samples) - len(ok),
        "errors_by_status": dict(
            Counter(f"{s.status} {s.error}".strip() for s in samples if s.status != HTTPStatus.OK)
        ),
        "latency_ms_from_due_time": percentiles([s.finished - s.due for s in ok]),
        "service_time_ms": percentiles([s.finished - s.started for s in ok]),
        "achieved_rate_per_s": round(len(samples) / max(samples[-1].finished - samples[0].due, 1e-9), 1)
        if samples
        else 0.0,
        "per_variant": dict(Counter(f"{s.variant} ({s.endpoint_config})" for s in samples)),
    }
    if window is not None:
        inside = [s for s in samples if window[0] <= s.started <= window[1]]
        summary["canary_window_s"] = round(window[1] - window[0], 3)
        summary["per_variant_during_canary"] = dict(Counter(f"{s.variant} ({s.endpoint_config})" for s in inside))
        summary["latency_ms_during_canary"] = percentiles(
            [s.finished - s.due for s in inside if s.status == HTTPStatus.OK]
        )
    return summary


def canary_window(events: list[dict[str, Any]], clock_offset: float) -> tuple[float, float] | None:
    """The canary bake (first traffic shift to the next event) on the perf_counter clock."""
    stamps = [(datetime.fromisoformat(e["Time"]).timestamp(), e) for e in events]
    for position, (stamp, event) in enumerate(stamps):
        if 0 < event.get("GreenTraffic", 0) < 1 and position + 1 < len(stamps):
            return stamp - clock_offset, stamps[position + 1][0] - clock_offset
    return None


def by_phase(samples: list[Sample], events: list[dict[str, Any]], clock_offset: float) -> dict[str, Any]:
    """Requests, errors and latency from due time per phase of the deployment, named by the event that began it.

    A phase is the endpoint's status and, during an update, the new fleet's share of the traffic
    (``Updating`` alone: the new fleet is being provisioned, the old one serves everything).
    """
    marks = []
    for number, event in enumerate(events, start=1):
        share = event.get("GreenTraffic")
        label = event["EndpointStatus"] + (f", new fleet {share:.0%}" if share is not None else "")
        marks.append((datetime.fromisoformat(event["Time"]).timestamp() - clock_offset, f"{number}. {label}"))
    phases: dict[str, list[Sample]] = {}
    for sample in samples:
        label = next((name for stamp, name in reversed(marks) if stamp <= sample.started), "0. before the events")
        phases.setdefault(label, []).append(sample)
    return {
        label: {
            "requests": len(inside),
            "errors": sum(1 for s in inside if s.status != HTTPStatus.OK),
            "latency_ms_from_due_time": percentiles([s.finished - s.due for s in inside if s.status == HTTPStatus.OK]),
        }
        for label, inside in phases.items()
    }


#: The line a load child prints when its first request is about to be due.
LOAD_STARTS = "load starts"


def send_load(arguments: argparse.Namespace, url: str, bodies: list[bytes]) -> list[Sample]:
    """The load of ``--url`` mode; a child (``--samples-out``) announces its start and writes its samples."""
    if arguments.url:
        # A client process's own full garbage collections (pandas and numpy are loaded) are no latency of the
        # endpoint's. Not with --client thread: that would freeze the server's objects too, which the server must do.
        gc.collect()
        gc.freeze()
    if arguments.samples_out is not None:
        print(LOAD_STARTS, flush=True)
    samples = run_load(
        url, arguments.endpoint, bodies, rate=arguments.rate, seconds=arguments.seconds, workers=arguments.workers
    )
    if arguments.samples_out is not None:
        # Wall-clock seconds: the parent's perf_counter is not this process's.
        offset = time.time() - time.perf_counter()
        rows = [
            [s.due + offset, s.started + offset, s.finished + offset, s.status, s.variant, s.endpoint_config, s.error]
            for s in samples
        ]
        arguments.samples_out.write_text(json.dumps(rows), encoding="utf-8")
    return samples


def load_from_child(arguments: argparse.Namespace, url: str, on_start: Any) -> list[Sample]:
    """Run the load in a child process (``--url`` mode); ``on_start()`` when its first request is due."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        *("--url", url, "--endpoint", arguments.endpoint, "--rate", str(arguments.rate)),
        *("--seconds", str(arguments.seconds), "--workers", str(arguments.workers)),
        *(["--drift"] if arguments.drift else []),
    ]
    with tempfile.TemporaryDirectory(prefix="endpoint-load-client-") as tmp:
        out = Path(tmp) / "samples.json"
        with subprocess.Popen([*command, "--samples-out", str(out)], stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None
            for line in child.stdout:
                if line.strip() == LOAD_STARTS:
                    on_start()
                    break
            child.stdout.read()
            code = child.wait()
        if not out.exists():
            raise SystemExit(f"the load process failed (exit status {code}) before writing its samples")
        rows = json.loads(out.read_text(encoding="utf-8"))
    offset = time.time() - time.perf_counter()
    return [
        Sample(due - offset, started - offset, finished - offset, int(status), str(variant), str(config), str(error))
        for due, started, finished, status, variant, config, error in rows
    ]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work on the machine shows up in the tail)."""
    return [round(value, 2) for value in os.getloadavg()]


def url_mode(arguments: argparse.Namespace) -> dict[str, Any]:
    frame = read_dataset(DATA)
    dataset = parse_config(CONFIG.read_text(encoding="utf-8")).dataset
    # The model's raw feature order (numeric, then categorical), not the data file's column order.
    features = (*dataset.numeric_features, *dataset.categorical_features)
    rows = drifted(frame) if arguments.drift else frame
    samples = send_load(arguments, arguments.url, csv_bodies(rows, features))
    return {"url": arguments.url, "load": summarise(samples, None)}


class ServerProbe:
    """What stops the serving process while the load runs: garbage collections, and stalls of a thread that
    sleeps 5 ms at a time (woken late: the GIL was held, or the machine gave the process no CPU).

    ``--client thread`` probes the client too (same process); with the default child client the figures are
    the server's alone.
    """

    TICK_S = 0.005
    STALL_S = 0.010

    def __init__(self) -> None:
        self._started: dict[int, float] = {}
        self.collections: list[tuple[int, float]] = []
        self.stalls: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="server-probe", daemon=True)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started[info["generation"]] = time.perf_counter()
        else:
            self.collections.append((info["generation"], time.perf_counter() - self._started[info["generation"]]))

    def _tick(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            time.sleep(self.TICK_S)
            late = time.perf_counter() - before - self.TICK_S
            if late > self.STALL_S:
                self.stalls.append(late)

    def __enter__(self) -> ServerProbe:
        gc.callbacks.append(self._on_gc)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        gc.callbacks.remove(self._on_gc)

    def figures(self) -> dict[str, Any]:
        full = [seconds * 1000.0 for generation, seconds in self.collections if generation == 2]  # noqa: PLR2004
        return {
            "collections": len(self.collections),
            "full_collections": len(full),
            "full_collection_ms_max": round(max(full), 3) if full else None,
            "collection_ms_total": round(sum(seconds for _, seconds in self.collections) * 1000.0, 3),
            "stalls_over_10ms": len(self.stalls),
            "stall_ms_max": round(max(self.stalls) * 1000.0, 3) if self.stalls else None,
        }


def hosted_mode(arguments: argparse.Namespace) -> dict[str, Any]:
    with hosted_endpoint(arguments.endpoint, arguments.time_scale) as hosted, ServerProbe() as probe:
        rows = drifted(hosted.frame) if arguments.drift else hosted.frame
        bodies = csv_bodies(rows, hosted.spec.raw_features)
        clock_offset = time.time() - time.perf_counter()
        timers: list[threading.Timer] = []

        def start_canary() -> None:
            if arguments.canary != "none":
                model = "model-v2" if arguments.canary == "good" else "model-flipped"
                request = canary_request(arguments.endpoint, model)
                timers.append(threading.Timer(arguments.seconds * 0.2, hosted.hosting.update_endpoint, [request]))
                timers[-1].start()

        if arguments.client == "process":
            samples = load_from_child(arguments, hosted.url, start_canary)
        else:
            start_canary()
            samples = send_load(arguments, hosted.url, bodies)
        for timer in timers:
            timer.join()
        probe_figures = probe.figures()
        final = hosted.hosting.wait_for_status(arguments.endpoint, ["InService", "Failed"], timeout=120)
        events = hosted.hosting.deployment_events(arguments.endpoint)
        captured = read_capture(hosted.hosting.capture_files(arguments.endpoint), hosted.spec)
        statistics, constraints = baseline(hosted.frame, hosted.spec)
        report = detect_drift(statistics, captured, constraints=constraints)
        return {
            "time_scale": arguments.time_scale,
            "canary": arguments.canary,
            "client": arguments.client,
            "load": summarise(samples, canary_window(events, clock_offset))
            | {"by_phase": by_phase(samples, events, clock_offset)},
            "endpoint_after": {
                "EndpointStatus": final["EndpointStatus"],
                "EndpointConfigName": final["EndpointConfigName"],
                "FailureReason": final.get("FailureReason"),
            },
            "deployment_events": [{k: e[k] for k in ("Time", "EndpointStatus", "Message") if k in e} for e in events],
            "server_side": hosted.hosting.invocation_stats(arguments.endpoint)["Variants"],
            "server_process": probe_figures,
            "drift_check": {
                "captured_rows": len(captured),
                "drifted_features": report["drift_metrics"]["drifted_features"],
                "violations": len(report["violations"]),
            },
        }


def main() -> int:
    arguments = parse_arguments()
    if arguments.samples_out is not None:  # a load child: its parent reports
        if not arguments.url:
            raise SystemExit("--samples-out goes with --url")
        url_mode(arguments)
        return 0
    results: dict[str, Any] = {
        "endpoint": arguments.endpoint,
        "rate_per_s": arguments.rate,
        "seconds": arguments.seconds,
        "drift": arguments.drift,
        "workers": arguments.workers,
        "load_average_before": load_average(),
    }
    results |= url_mode(arguments) if arguments.url else hosted_mode(arguments)
    results["load_average_after"] = load_average()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "endpoint_load.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_summary(results)
    return 0 if results["load"]["errors"] == 0 else 1


def print_summary(results: dict[str, Any]) -> None:
    load = results["load"]
    due, service = load["latency_ms_from_due_time"], load["service_time_ms"]
    print(
        f"endpoint {results['endpoint']}: {load['requests']} requests at {results['rate_per_s']:g}/s "
        f"for {results['seconds']:g} s (achieved {load['achieved_rate_per_s']}/s), errors {load['errors']}"
    )
    print(
        f"load average (1, 5, 15 min): before {results['load_average_before']}, after {results['load_average_after']}"
    )
    print(f"latency from due time: p50 {due['p50']} ms, p95 {due['p95']} ms, p99 {due['p99']} ms, max {due['max']} ms")
    print(f"service time:          p50 {service['p50']} ms, p99 {service['p99']} ms")
    print("per variant:", ", ".join(f"{k}: {v}" for k, v in sorted(load["per_variant"].items())))
    if "per_variant_during_canary" in load:
        during = ", ".join(f"{k}: {v}" for k, v in sorted(load["per_variant_during_canary"].items()))
        print(
            f"during the canary ({load['canary_window_s']} s): {during}; "
            f"p99 {load['latency_ms_during_canary']['p99']} ms"
        )
    for phase, figures in load.get("by_phase", {}).items():
        latency = figures["latency_ms_from_due_time"]
        print(
            f"  {phase}: {figures['requests']} requests, errors {figures['errors']}, "
            f"p50 {latency['p50']} ms, p99 {latency['p99']} ms, max {latency['max']} ms"
        )
    if "server_process" in results:
        probe = results["server_process"]
        print(
            f"server process during the load: {probe['collections']} garbage collections "
            f"({probe['collection_ms_total']} ms), {probe['full_collections']} full "
            f"(max {probe['full_collection_ms_max']} ms); {probe['stalls_over_10ms']} stalls over 10 ms "
            f"(max {probe['stall_ms_max']} ms)"
        )
    if "endpoint_after" in results:
        after = results["endpoint_after"]
        print(
            f"after: {after['EndpointStatus']} on {after['EndpointConfigName']}"
            + (f" ({after['FailureReason']})" if after["FailureReason"] else "")
        )
        for variant in results["server_side"]:
            print(
                f"  server {variant['EndpointConfigName']}/{variant['VariantName']}: {variant['Invocations']} "
                f"invocations, 5xx {variant['Invocation5XXErrors']}, model latency p50 "
                f"{variant['ModelLatencyP50Ms']:.3f} ms p99 {variant['ModelLatencyP99Ms']:.3f} ms"
            )
        drift = results["drift_check"]
        print(f"drift on {drift['captured_rows']} captured rows: {', '.join(drift['drifted_features']) or 'none'}")
    print(f"written to {RESULTS / 'endpoint_load.json'}")


if __name__ == "__main__":
    sys.exit(main())
