"""Monitoring sample size: a window with fewer captured rows than the model's ``monitoring.min_samples`` gets
the verdict "insufficient data" (neither drift nor a completeness failure; nothing acted on), in the analysis,
the local monitoring service, ``mlops monitor run`` and the processing job.

The service runs on the local adapters (object store, registry on disk) with a stand-in for hosting that
serves one model version whose lineage pins its configuration; no pipeline run is needed.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.adapters.object_store import LocalObjectStore, StoredObject
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.models import CodeRef, ModelVersion, ObjectDigest, TriggerInfo
from governed_mlops.services.stages import job_config_document
from governed_mlops_local.cli import monitor as monitor_cli
from governed_mlops_local.services.monitoring import (
    INSUFFICIENT_DATA,
    MonitoringDeps,
    MonitoringRun,
    MonitoringSettings,
    run_monitoring,
)
from governed_mlops_ml.artifacts import read_dataset, save_feature_spec, write_model_archive
from governed_mlops_ml.features import fit_feature_spec
from governed_mlops_ml.job_config import DecisionLabels, parse_job_config
from governed_mlops_ml.monitoring import DriftThresholds, baseline, detect_drift
from governed_mlops_ml.serving import write_inference_settings
from tests.conftest import GERMAN_CONFIG, GERMAN_CREDIT, PROJECT_DIR

ENDPOINT = "credit-risk"
SERVING_CONFIG = "credit-risk-config-1"
ARTIFACTS = "artifacts"
EXECUTION = "data-0123456789abcdef"
TARGET = "creditability"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

#: What the German credit model is configured to answer (models/credit-risk/config.yaml).
CREDIT_DECISIONS = DecisionLabels(favourable="approve", unfavourable="deny")


def config_with_min_samples(min_samples: int) -> bytes:
    return GERMAN_CONFIG.read_bytes() + f"\nmonitoring:\n  min_samples: {min_samples}\n".encode()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return read_dataset(GERMAN_CREDIT)


def drifted(frame: pd.DataFrame, count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` applicants whose amount is four times and age 25 years above the data's, one with no housing."""
    rows = frame.drop(columns=[TARGET]).iloc[start : start + count].to_dict("records")
    for row in rows:
        row["credit_amount"] = int(row["credit_amount"]) * 4
        row["age_in_years"] = int(row["age_in_years"]) + 25
    rows[0]["housing"] = None
    return rows


# -- the analysis ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def documents(frame: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    config = parse_config(GERMAN_CONFIG.read_bytes())
    spec = fit_feature_spec(frame, parse_job_config(job_config_document(config)))
    return baseline(frame, spec)


def test_fewer_rows_than_min_samples_give_no_verdict(
    frame: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    # Given 75 clearly drifted rows, one with a missing value
    captured = pd.DataFrame(drifted(frame, 75))

    # When they are analysed with a minimum of 100 samples
    report = detect_drift(documents[0], captured, DriftThresholds(min_samples=100), documents[1])

    # Then the verdict is insufficient data: no drift, no completeness failure
    assert report["status"] == "insufficient_data"
    assert report["violations"] == []
    assert report["drift_metrics"]["drifted_features"] == []
    assert "75 captured rows, fewer than min_samples=100" in report["drift_metrics"]["insufficient_data"]


def test_the_same_rows_get_a_verdict_once_they_reach_min_samples(
    frame: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    captured = pd.DataFrame(drifted(frame, 75))

    report = detect_drift(documents[0], captured, DriftThresholds(min_samples=75), documents[1])

    assert report["status"] == "violations"
    assert {"age_in_years", "credit_amount"} <= set(report["drift_metrics"]["drifted_features"])
    # And the one missing housing (1.3%, policy allow, limit 5%) is no completeness failure
    assert not [v for v in report["violations"] if v["constraint_check_type"] == "completeness_check"]


# -- the monitoring service and the CLI -----------------------------------------------------------


class Hosting:
    """What monitoring reads of SageMaker hosting: one endpoint serving one model; capture files on disk."""

    def __init__(self, archive: StoredObject, capture_dir: Path) -> None:
        self.archive = archive
        self.capture_dir = capture_dir
        self.sent = 0

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        if name != ENDPOINT:
            raise KeyError(name)
        return {"EndpointConfigName": SERVING_CONFIG}

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        return {"ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "model-1"}]}

    def describe_model(self, name: str) -> dict[str, Any]:
        ref = self.archive.ref
        data = {"Bucket": ref.bucket, "Key": ref.key, "VersionId": ref.version_id, "Sha256": self.archive.sha256}
        return {"ModelData": data}

    def capture_files(self, endpoint_name: str) -> list[Path]:
        return sorted(self.capture_dir.glob("*.jsonl"))

    def capture(self, rows: list[dict[str, Any]]) -> None:
        """One Data Capture record per row, one request each, in time order after those captured before."""
        lines = []
        for row in rows:
            self.sent += 1
            when = NOW + timedelta(seconds=self.sent)
            body = json.dumps({"instances": [row]})
            record = {
                "captureData": {
                    "endpointInput": {"observedContentType": "application/json", "encoding": "JSON", "data": body}
                },
                "eventMetadata": {
                    "eventId": f"event-{self.sent}",
                    "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "endpointConfigName": SERVING_CONFIG,
                },
                "eventVersion": "0",
            }
            lines.append(json.dumps(record) + "\n")
        with (self.capture_dir / "capture.jsonl").open("a", encoding="utf-8") as handle:
            handle.writelines(lines)


@dataclass
class World:
    data_dir: Path
    store: LocalObjectStore
    registry: LocalModelRegistry
    hosting: Hosting
    events: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[tuple[Any, ...]] = field(default_factory=list)

    def deps(self) -> MonitoringDeps:
        return MonitoringDeps(
            hosting=self.hosting,
            store=self.store,
            registry=self.registry,
            notifier=SimpleNamespace(publish=lambda *args: self.alerts.append(args) or "message-1"),
            audit=SimpleNamespace(append=lambda *args: None),
            put_event=self.put_event,
        )

    def put_event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        self.events.append(event)
        return []

    def monitor(self) -> MonitoringRun:
        settings = MonitoringSettings(artifacts_bucket=ARTIFACTS, account="123456789012", region="us-east-1")
        return run_monitoring(ENDPOINT, settings, self.deps(), now=NOW)


def digest(stored: StoredObject) -> ObjectDigest:
    return ObjectDigest(ref=stored.ref, sha256=stored.sha256, size=stored.size)


def make_world(root: Path, frame: pd.DataFrame, min_samples: int, *, source: ObjectDigest | None = None) -> World:
    """A registered model serving at ``credit-risk`` whose pinned configuration sets ``min_samples``.

    ``source``: the job code its lineage names (None: a lineage from before it was recorded).
    """
    data_dir = root / "mlops-data"
    data_dir.mkdir(parents=True)
    store = LocalObjectStore(data_dir)
    config_bytes = config_with_min_samples(min_samples)
    config: PipelineConfig = parse_config(config_bytes)
    spec = fit_feature_spec(frame, parse_job_config(job_config_document(config)))
    save_feature_spec(spec, root / "model")
    write_inference_settings(root / "model", 0.5, decisions=CREDIT_DECISIONS)
    archive = write_model_archive(root / "model", root / "model.tar.gz")
    stored_config = store.put("data", "config/credit-risk.yaml", config_bytes)
    stored_data = store.put("data", "datasets/credit-risk/german_credit.csv", GERMAN_CREDIT.read_bytes())
    store.put(ARTIFACTS, f"runs/{EXECUTION}/prepared/train/train.csv", GERMAN_CREDIT.read_bytes())
    stored_model = store.put(ARTIFACTS, f"training-jobs/{EXECUTION}/output/model.tar.gz", archive.read_bytes())
    registry = LocalModelRegistry(data_dir)
    registry.register(
        ModelVersion(
            model_version="pending",
            model_package_group=ENDPOINT,
            status="Approved",
            created_at=NOW - timedelta(days=1),
            execution_name=EXECUTION,
            trigger=TriggerInfo(
                kind="data-arrival",
                event_id="e",
                event_time=NOW,
                principal="p",
                source="aws.s3",
                detail_type="Object Created",
            ),
            data=digest(stored_data),
            code=CodeRef(repository="r", branch="main", commit_id="0123456"),
            config=digest(stored_config),
            model_artifact=digest(stored_model),
            training_job_name=f"{EXECUTION}-train",
            training_image="image:1",
            source_sha256="0" * 64,
            source=source,
            hyperparameters={},
            seed=7,
            library_versions={},
            metrics={},
            reports={},
        )
    )
    capture_dir = root / "capture"
    capture_dir.mkdir()
    return World(data_dir, store, registry, Hosting(stored_model, capture_dir))


def test_a_window_below_the_models_min_samples_is_insufficient_data_and_acts_on_nothing(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    # Given a model whose configuration asks for 100 samples, and 75 drifted requests captured
    world = make_world(tmp_path, frame, min_samples=100)
    world.hosting.capture(drifted(frame, 75))

    # When the monitor runs
    run = world.monitor()

    # Then the verdict is insufficient data, with the count and the minimum, and nothing was acted on
    assert (run.status, run.rows, run.min_samples) == (INSUFFICIENT_DATA, 75, 100)
    assert (run.violations, run.drifted_features, run.drift) == ([], [], False)
    assert (world.events, world.alerts, run.retraining) == ([], [], [])
    report = json.loads(world.store.mirror_path(ARTIFACTS, f"monitoring/{ENDPOINT}/{run.run_id}/run.json").read_text())
    assert report["status"] == "insufficient_data"


def test_the_window_stays_open_until_it_has_enough_samples(tmp_path: Path, frame: pd.DataFrame) -> None:
    # Given a first run that found 75 of the 100 samples it needs
    world = make_world(tmp_path, frame, min_samples=100)
    world.hosting.capture(drifted(frame, 75))
    assert world.monitor().status == INSUFFICIENT_DATA

    # When 60 more requests arrive and the monitor runs again
    world.hosting.capture(drifted(frame, 60, start=75))
    run = world.monitor()

    # Then it judges all 135 together: the drift is found and the drift event goes out once
    assert (run.status, run.rows) == ("violations", 135)
    assert {"age_in_years", "credit_amount"} <= set(run.drifted_features)
    assert [event["detail-type"] for event in world.events] == ["Model Drift Detected"]


def test_min_samples_comes_from_the_models_configuration(tmp_path: Path, frame: pd.DataFrame) -> None:
    world = make_world(tmp_path, frame, min_samples=50)
    world.hosting.capture(drifted(frame, 75))

    run = world.monitor()

    assert (run.status, run.min_samples) == ("violations", 50)
    assert len(world.events) == 1


def serve_locally(world: World, monkeypatch: pytest.MonkeyPatch, deliveries: list[Any] | None = None) -> None:
    """Make `mlops monitor run` find ``world`` where it would start the local runtime; the bus answers
    ``deliveries`` (``runtime.send_event``'s shape)."""
    runtime = SimpleNamespace(
        data_dir=world.data_dir,
        hosting=world.hosting,
        store=world.store,
        template=SimpleNamespace(buckets={"ArtifactsBucket": SimpleNamespace(name=ARTIFACTS)}),
        send_event=lambda event: world.events.append(event) or deliveries or [],
    )

    @contextmanager
    def local_runtime(obj: Any, *, serve_http: bool = True) -> Iterator[Any]:
        yield runtime

    monkeypatch.setattr(monitor_cli, "_runtime", local_runtime)


def test_cli_prints_insufficient_data_with_count_and_minimum_and_exits_0(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the local runtime's endpoint with 75 drifted requests and a model asking for 100
    world = make_world(tmp_path, frame, min_samples=100)
    world.hosting.capture(drifted(frame, 75))
    serve_locally(world, monkeypatch)

    # When `mlops monitor run` runs
    result = CliRunner().invoke(monitor_cli.monitor, ["run", ENDPOINT], obj=SimpleNamespace(project_dir=PROJECT_DIR))

    # Then it says insufficient data with the count and the minimum, exits 0 and puts no drift event
    assert result.exit_code == 0, result.output
    assert "Insufficient data: 75 captured rows in the window, fewer than the minimum of 100" in result.output
    assert "violation(s)" not in result.output
    assert "Alert sent" not in result.output
    assert world.events == []


def test_cli_json_output_carries_the_status(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, frame, min_samples=100)
    world.hosting.capture(drifted(frame, 75))
    serve_locally(world, monkeypatch)

    result = CliRunner().invoke(monitor_cli.monitor, ["run", ENDPOINT, "--json"], obj=SimpleNamespace())

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["status"], document["rows"], document["min_samples"]) == ("insufficient_data", 75, 100)


# -- the processing job -----------------------------------------------------------------------------


def test_monitor_job_reports_insufficient_data_below_min_samples(
    tmp_path: Path, frame: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]], capsys: Any
) -> None:
    module_spec = importlib.util.spec_from_file_location("monitor_job", PROJECT_DIR / "jobs" / "monitor.py")
    assert module_spec is not None
    assert module_spec.loader is not None
    job = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(job)
    baseline_dir, capture_dir = tmp_path / "baseline", tmp_path / "capture"
    baseline_dir.mkdir()
    (baseline_dir / "statistics.json").write_text(json.dumps(documents[0]), encoding="utf-8")
    (baseline_dir / "constraints.json").write_text(json.dumps(documents[1]), encoding="utf-8")
    capture_dir.mkdir()
    hosting = Hosting(None, capture_dir)
    hosting.capture(drifted(frame, 75))

    job.main(
        [
            "analyze",
            "--baseline-dir",
            str(baseline_dir),
            "--capture-dir",
            str(capture_dir),
            "--output-dir",
            str(tmp_path / "report"),
            "--min-samples",
            "100",
        ]
    )

    report = json.loads((tmp_path / "report" / "constraint_violations.json").read_text())
    assert (report["status"], report["violations"]) == ("insufficient_data", [])
    assert "status=insufficient_data rows=75 violations=0" in capsys.readouterr().out


def test_cli_with_enough_samples_reports_drift_and_the_retraining_the_trigger_started(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 75 drifted requests, a model asking for 50, and a Trigger that starts one retraining
    world = make_world(tmp_path, frame, min_samples=50)
    world.hosting.capture(drifted(frame, 75))
    started = {"model": ENDPOINT, "status": "started", "execution_name": "drift-1", "execution_arn": "arn:drift-1"}
    delivery = SimpleNamespace(
        rule="retrain-on-drift",
        target="trigger",
        result={"kind": "drift", "runs": [started], "skipped": []},
        error=None,
        error_type=None,
    )
    serve_locally(world, monkeypatch, [delivery])

    result = CliRunner().invoke(monitor_cli.monitor, ["run", ENDPOINT], obj=SimpleNamespace())

    assert result.exit_code == 3, result.output
    assert "rule retrain-on-drift -> trigger: started drift-1" in result.output
    assert [event["detail-type"] for event in world.events] == ["Model Drift Detected"]
