"""Model monitoring that closes the loop: captured traffic -> drift report -> alert, audit record, retraining event.

It does the work of a SageMaker Model Monitor data-quality job in-process, with the functions
``jobs/monitor.py`` uses (``ml.monitoring.baseline`` / ``detect_drift`` / ``read_capture``), so the
documents it writes have the job's shape. Nothing runs it on a schedule yet, locally or in AWS: an
operator runs ``mlops monitor run``.

One run:

1. finds what the endpoint serves: endpoint -> serving endpoint config -> model -> the registered
   model version whose artifact it is (its lineage names the training execution);
2. builds the baseline from that execution's training split (``runs/<execution>/prepared/train/train.csv``)
   and the feature spec inside the model archive;
3. reads the Data Capture records of the serving config captured after the previous run's window;
   fewer captured rows than the model's ``monitoring.min_samples`` (its pinned configuration, from the
   lineage) give the verdict "insufficient data": no drift or completeness judgement, nothing acted on,
   and the window stays open (the next run analyses these requests again, with the newer ones);
4. writes ``baseline/statistics.json``, ``baseline/constraints.json``, ``statistics.json`` (captured data),
   ``constraint_violations.json`` and ``run.json`` under ``s3://<artifacts>/monitoring/<endpoint>/<run id>/``;
5. when ground-truth labels were uploaded (``mlops labels upload``), joins them by inference id with
   every captured answer of the serving config and judges AUC and accuracy against the AUC the model
   was registered with (``monitoring.quality``; :mod:`governed_mlops_ml.quality`), written
   to ``model_quality.json``; a breach is one more violation;
6. on violations: publishes an alert naming the drifted columns, appends ``monitoring.violation`` to the
   audit ledger and puts a ``Model Drift Detected`` event on the bus (the template's rule routes it to
   the Trigger, which starts a ``drift-...`` retraining execution).

``mlops monitor run --aws`` runs the same function on a deployed stack (captured data and baseline read
from S3, reports written to the artifacts bucket) with ``act_on_violations=False``: it reports drift and
does not alert, audit or start a retraining from an operator's machine.

Imports pandas / scipy through ``governed_mlops_ml``: used by the CLI, never by a Lambda handler.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, Field

from governed_mlops.adapters.approvals import Notifier
from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import StoredObject
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.trigger import DRIFT_DETAIL_TYPE, DRIFT_SOURCE
from governed_mlops.errors import ArtifactNotFoundError, ConfigError, JobInputError, PipelineError
from governed_mlops.models import ModelVersion, S3Ref
from governed_mlops.services.audit import AuditSink

MONITOR_PRINCIPAL = "system:model-monitor"
TRAIN_SPLIT_KEY = "runs/{execution}/prepared/train/train.csv"
MONITORING_PREFIX = "monitoring/{endpoint}/"
#: ``MonitoringRun.status`` values (the same words as ``constraint_violations.json``'s ``status``).
MonitoringStatus = Literal["no_violations", "violations", "insufficient_data"]
NO_VIOLATIONS: Final = "no_violations"
VIOLATIONS: Final = "violations"
INSUFFICIENT_DATA: Final = "insufficient_data"


class MonitoringError(PipelineError):
    """The endpoint cannot be monitored (not deployed, no lineage, no training split, no captured data)."""


class InsufficientCaptureData(MonitoringError):
    """No request to the endpoint was captured since the previous run: nothing to compare with the baseline."""


class MonitoringStore(Protocol):
    """The object-store calls a run makes (``LocalObjectStore`` and ``S3ObjectStore`` implement them)."""

    def get(self, ref: S3Ref) -> bytes: ...

    def put(self, bucket: str, key: str, data: bytes, content_type: str = ...) -> StoredObject: ...

    def list_keys(self, bucket: str, prefix: str = ...) -> list[str]: ...


class EndpointHosting(Protocol):
    """What monitoring reads of SageMaker hosting (``local.endpoints.LocalSageMakerHosting`` implements it)."""

    def describe_endpoint(self, name: str) -> dict[str, Any]: ...

    def describe_endpoint_config(self, name: str) -> dict[str, Any]: ...

    def describe_model(self, name: str) -> dict[str, Any]: ...

    def capture_files(self, endpoint_name: str) -> list[Path]: ...


#: Puts one event on the bus; returns, per rule target reached, ``{"rule", "target", "status",
#: "execution_name", "execution_arn", "error"}``.
EventBus = Callable[[dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class MonitoringDeps:
    hosting: EndpointHosting
    store: MonitoringStore
    registry: ModelRegistry
    #: What acts on violations; needed only with ``MonitoringSettings.act_on_violations``.
    notifier: Notifier | None = None
    audit: AuditSink | None = None
    put_event: EventBus | None = None


@dataclass(frozen=True)
class MonitoringSettings:
    artifacts_bucket: str
    account: str
    region: str
    psi: float | None = 0.2
    ks_p_value: float | None = 0.01
    chi2_p_value: float | None = 0.01
    min_rows: int = 30
    #: Captured rows a window needs for a verdict; ``None``: the serving model's ``monitoring.min_samples``.
    min_samples: int | None = None
    #: Alert, audit and put the drift event on violations (False: only write the reports).
    act_on_violations: bool = True


class MonitoringRun(BaseModel):
    """What one monitoring run found and did (also ``run.json`` next to its reports)."""

    run_id: str
    endpoint_name: str
    endpoint_config_name: str
    model_version: str
    training_execution: str
    window_start: str | None
    window_end: str | None
    records: int
    rows: int
    violations: list[dict[str, str]]
    drifted_features: list[str]
    feature_metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    reports: dict[str, str]
    #: ``no_violations``, ``violations`` or ``insufficient_data`` (fewer than ``min_samples`` rows: no verdict).
    status: MonitoringStatus = NO_VIOLATIONS
    #: Captured rows the window needed for a verdict (the model's ``monitoring.min_samples``).
    min_samples: int = 1
    alert_message_id: str | None = None
    retraining: list[dict[str, Any]] = Field(default_factory=list)
    #: Model quality against uploaded ground-truth labels (``model_quality.json``); None: no labels uploaded.
    model_quality: dict[str, Any] | None = None

    @property
    def drift(self) -> bool:
        return bool(self.violations)

    @property
    def insufficient_data(self) -> bool:
        return self.status == INSUFFICIENT_DATA


# -- what is served -------------------------------------------------------------------------------


def serving_model(hosting: EndpointHosting, registry: ModelRegistry, endpoint: str) -> tuple[str, ModelVersion, S3Ref]:
    """The serving endpoint config, the registered model version it serves and its pinned archive.

    Raises:
        MonitoringError: the endpoint does not exist or serves an artifact that is not in the registry.
    """
    try:
        described = hosting.describe_endpoint(endpoint)
    except Exception as exc:
        raise MonitoringError(f"endpoint {endpoint!r} not found: {exc}") from exc
    config_name = str(described["EndpointConfigName"])
    variants = hosting.describe_endpoint_config(config_name)["ProductionVariants"]
    # The baseline is per model; a multi-variant config is judged against its heaviest variant's model.
    variant = max(variants, key=lambda v: float(v.get("InitialVariantWeight", 1.0)))
    model = hosting.describe_model(str(variant["ModelName"]))
    data = model.get("ModelData") or {}
    archive = S3Ref(bucket=data["Bucket"], key=data["Key"], version_id=data.get("VersionId"))
    versions = registry.list_versions()
    by_deployment = [v for v in versions if any(d.get("serving_config") == config_name for d in v.deployments)] or [
        v for v in versions if v.model_artifact.sha256 == data.get("Sha256")
    ]
    if not by_deployment:
        raise MonitoringError(
            f"endpoint {endpoint!r} serves {archive.pinned_uri} (config {config_name}), "
            "which no registered model version has as its artifact: no lineage, no baseline"
        )
    return config_name, max(by_deployment, key=lambda v: v.created_at), archive


# -- the run --------------------------------------------------------------------------------------


def _previous_window_end(store: MonitoringStore, bucket: str, endpoint: str) -> str | None:
    """End of the newest window that got a verdict; windows with insufficient data stay open."""
    ends = []
    for key in store.list_keys(bucket, MONITORING_PREFIX.format(endpoint=endpoint)):
        if key.endswith("/run.json"):
            run = json.loads(store.get(S3Ref(bucket=bucket, key=key)))
            end = run.get("window_end")
            if end and run.get("status") != INSUFFICIENT_DATA:
                ends.append(str(end))
    return max(ends, default=None)


def pinned_config(store: MonitoringStore, version: ModelVersion) -> PipelineConfig:
    """The pipeline configuration the model version was trained with (pinned by its lineage).

    Raises:
        MonitoringError: it cannot be read or parsed.
    """
    try:
        return parse_config(store.get(version.config.ref), source=version.config.ref.pinned_uri)
    except (ArtifactNotFoundError, ConfigError) as exc:
        raise MonitoringError(f"model {version.model_version}: cannot read its configuration: {exc}") from exc


def model_min_samples(store: MonitoringStore, version: ModelVersion) -> int:
    """``monitoring.min_samples`` of the pipeline configuration the model version was trained with (its lineage)."""
    return pinned_config(store, version).monitoring.min_samples


def _window_records(files: Sequence[Path], config_name: str, after: str | None) -> list[dict[str, Any]]:
    """Capture records of ``config_name`` captured strictly after ``after`` (ISO ``inferenceTime``)."""
    kept = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                meta = record["eventMetadata"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a torn last line: the job skips it too
            if meta.get("endpointConfigName", config_name) != config_name:
                continue
            if after is not None and str(meta.get("inferenceTime", "")) <= after:
                continue
            kept.append(record)
    kept.sort(key=lambda r: str(r["eventMetadata"].get("inferenceTime", "")))
    return kept


def monitoring_run_id(endpoint: str, records: Sequence[dict[str, Any]], window_end: str | None) -> str:
    """``mon-<window end, compact>-<8 hex>``: the same window of the same records is the same run."""
    digest = hashlib.sha256(endpoint.encode())
    for record in records:
        digest.update(str(record["eventMetadata"].get("eventId", "")).encode())
    stamp = (window_end or "empty").replace("-", "").replace(":", "").replace(".", "")
    return f"mon-{stamp}-{digest.hexdigest()[:8]}"


def drift_event(run: MonitoringRun, report_uri: str, settings: MonitoringSettings, now: datetime) -> dict[str, Any]:
    """The custom ``Model Drift Detected`` event (``source: governed-mlops.monitoring``)."""
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, report_uri)),
        "detail-type": DRIFT_DETAIL_TYPE,
        "source": DRIFT_SOURCE,
        "account": settings.account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": settings.region,
        "resources": [f"arn:aws:sagemaker:{settings.region}:{settings.account}:endpoint/{run.endpoint_name}"],
        "detail": {
            "endpoint_name": run.endpoint_name,
            "model_version": run.model_version,
            "violations_report": report_uri,
            "drifted_features": run.drifted_features,
            "monitoring_run_id": run.run_id,
        },
    }


def _labels(store: MonitoringStore, bucket: str, endpoint: str) -> tuple[dict[str, str], list[str]]:
    """Every uploaded label of the endpoint (a later upload wins for the same id) and the files read."""
    from governed_mlops_ml.quality import GROUND_TRUTH_PREFIX, parse_label_file  # noqa: PLC0415 - pandas and scipy load in about a second; `mlops --help` must not pay for them

    keys = sorted(
        k for k in store.list_keys(bucket, GROUND_TRUTH_PREFIX.format(endpoint=endpoint)) if k.endswith(".csv")
    )
    merged: dict[str, str] = {}
    for key in keys:
        merged |= parse_label_file(store.get(S3Ref(bucket=bucket, key=key)), f"s3://{bucket}/{key}")
    return merged, keys


def model_quality(
    store: MonitoringStore,
    settings: MonitoringSettings,
    endpoint: str,
    version: ModelVersion,
    records: Sequence[dict[str, Any]],
    positive_label: str,
    negative_label: str,
) -> dict[str, Any] | None:
    """AUC and accuracy of the serving model over its labelled answers, and the gate's verdict (None: no labels).

    ``records`` are every captured record of the serving endpoint config (not only this window's):
    labels arrive after the answers they judge.

    Raises:
        MonitoringError: the model's pinned configuration cannot be read.
        LabelFileError: a stored label file is malformed (upload checks files, so only a file put there by hand).
    """
    from governed_mlops_ml.quality import answers_of_record, judge_quality  # noqa: PLC0415 - pandas and scipy load in about a second; `mlops --help` must not pay for them

    labels, files = _labels(store, settings.artifacts_bucket, endpoint)
    if not files:
        return None
    config = pinned_config(store, version)
    answers: dict[str, float] = {}
    for record in records:
        answers |= answers_of_record(record)
    verdict = judge_quality(
        answers,
        labels,
        positive_label=positive_label,
        negative_labels=[negative_label],
        threshold=config.gates.decision_threshold,
        registered_auc=version.metrics.get("auc"),
        max_auc_drop=config.monitoring.quality.max_auc_drop,
        min_labelled=config.monitoring.quality.min_labelled,
    )
    return verdict.to_json_dict() | {"label_files": [f"s3://{settings.artifacts_bucket}/{k}" for k in files]}


def run_monitoring(
    endpoint: str, settings: MonitoringSettings, deps: MonitoringDeps, *, now: datetime | None = None
) -> MonitoringRun:
    """Analyse the endpoint's newly captured traffic against its model's training baseline; act on violations.

    With fewer captured rows than ``min_samples`` (the model's ``monitoring.min_samples`` unless the settings
    say otherwise) the run's status is ``insufficient_data``: its reports are written, nothing is judged or
    acted on, and its window stays open for the next run.

    Raises:
        MonitoringError: the endpoint, its lineage, its configuration or its training split cannot be found.
        InsufficientCaptureData: no request was captured since the previous run.
    """
    # Imported here: pandas and scipy load in about a second; `mlops --help` must not pay for them.
    from governed_mlops_ml.artifacts import extract_model_archive, load_feature_spec, read_dataset  # noqa: PLC0415 - pandas and scipy load in about a second; `mlops --help` must not pay for them
    from governed_mlops_ml.monitoring import DriftThresholds, baseline, detect_drift, read_capture  # noqa: PLC0415 - pandas and scipy load in about a second; `mlops --help` must not pay for them

    moment = now or datetime.now(UTC)
    config_name, version, archive = serving_model(deps.hosting, deps.registry, endpoint)
    after = _previous_window_end(deps.store, settings.artifacts_bucket, endpoint)
    records = _window_records(deps.hosting.capture_files(endpoint), config_name, after)
    if not records:
        since = f" since {after}" if after else ""
        raise InsufficientCaptureData(
            f"insufficient data: no requests to {endpoint} (config {config_name}) were captured{since}: "
            "nothing to analyse"
        )
    min_samples = settings.min_samples if settings.min_samples is not None else model_min_samples(deps.store, version)
    train_ref = S3Ref(bucket=settings.artifacts_bucket, key=TRAIN_SPLIT_KEY.format(execution=version.execution_name))
    with tempfile.TemporaryDirectory(prefix="monitor-") as scratch:
        work = Path(scratch)
        try:
            (work / "model.tar.gz").write_bytes(deps.store.get(archive))
            (work / "train.csv").write_bytes(deps.store.get(train_ref))
        except ArtifactNotFoundError as exc:
            raise MonitoringError(f"model {version.model_version}: {exc}") from exc
        (work / "capture.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        try:
            spec = load_feature_spec(extract_model_archive(work / "model.tar.gz", work / "model"))
            quality = model_quality(
                deps.store,
                settings,
                endpoint,
                version,
                _window_records(deps.hosting.capture_files(endpoint), config_name, None),
                spec.positive_label,
                spec.negative_label,
            )
            statistics, constraints = baseline(read_dataset(work / "train.csv"), spec)
            captured = read_capture([work / "capture.jsonl"], spec)
            thresholds = DriftThresholds(
                psi=settings.psi,
                ks_p_value=settings.ks_p_value,
                chi2_p_value=settings.chi2_p_value,
                min_rows=settings.min_rows,
                min_samples=min_samples,
            )
            report = detect_drift(statistics, captured, thresholds, constraints)
            current, _ = baseline(captured, spec) if not captured.empty else ({}, {})
        except JobInputError as exc:
            raise MonitoringError(f"monitoring {endpoint}: {exc}") from exc
    window_start = str(records[0]["eventMetadata"].get("inferenceTime"))
    window_end = str(records[-1]["eventMetadata"].get("inferenceTime"))
    run_id = monitoring_run_id(endpoint, records, window_end)
    report["drift_metrics"]["capture"] = {
        "records": len(records),
        "window_start": window_start,
        "window_end": window_end,
    }
    if quality is not None and quality["status"] == VIOLATIONS:
        # The quality gate's breach is a violation like drift: the same alert, audit record and retraining.
        report["violations"].append(
            {
                "feature_name": "model_quality",
                "constraint_check_type": "model_quality",
                "description": quality["reason"],
            }
        )
        report["status"] = VIOLATIONS  # labels judge answers of any window: a verdict even when this one is small
    prefix = f"{MONITORING_PREFIX.format(endpoint=endpoint)}{run_id}/"
    documents = {
        "baseline_statistics": ("baseline/statistics.json", statistics),
        "baseline_constraints": ("baseline/constraints.json", constraints),
        "statistics": ("statistics.json", current),
        "constraint_violations": ("constraint_violations.json", report),
    }
    if quality is not None:
        documents["model_quality"] = ("model_quality.json", quality)
    reports: dict[str, str] = {}
    digests: dict[str, str] = {}
    for name, (key, document) in documents.items():
        stored = deps.store.put(
            settings.artifacts_bucket, prefix + key, json.dumps(document, indent=2).encode(), "application/json"
        )
        reports[name], digests[name] = stored.ref.pinned_uri, stored.sha256
    drift_metrics = report["drift_metrics"]
    run = MonitoringRun(
        run_id=run_id,
        endpoint_name=endpoint,
        endpoint_config_name=config_name,
        model_version=version.model_version,
        training_execution=version.execution_name,
        window_start=window_start,
        window_end=window_end,
        records=len(records),
        rows=len(captured),
        violations=[{k: str(v) for k, v in violation.items()} for violation in report["violations"]],
        drifted_features=list(drift_metrics.get("drifted_features", [])),
        feature_metrics={k: v for k, v in drift_metrics.get("features", {}).items() if isinstance(v, dict)},
        reports=reports,
        status=report["status"],
        min_samples=min_samples,
        model_quality=quality,
    )
    if run.drift and not run.insufficient_data and settings.act_on_violations:
        run = _act_on_violations(run, reports["constraint_violations"], digests, settings, deps, moment)
    deps.store.put(
        settings.artifacts_bucket, prefix + "run.json", run.model_dump_json(indent=2).encode(), "application/json"
    )
    return run


def _violated_features(run: MonitoringRun) -> list[str]:
    return run.drifted_features or sorted({v.get("feature_name", "") for v in run.violations} - {""})


def _act_on_violations(
    run: MonitoringRun,
    report_uri: str,
    digests: dict[str, str],
    settings: MonitoringSettings,
    deps: MonitoringDeps,
    now: datetime,
) -> MonitoringRun:
    if deps.notifier is None or deps.audit is None or deps.put_event is None:
        raise MonitoringError("acting on violations needs a notifier, an audit ledger and an event bus")
    columns = _violated_features(run)
    lines = [
        f"Model Monitor found {len(run.violations)} violation(s) on endpoint {run.endpoint_name} "
        f"(model {run.model_version}, {run.rows} captured rows {run.window_start} .. {run.window_end}).",
        f"Drifted columns: {', '.join(columns) or '-'}",
        "",
        *(
            f"- {v.get('feature_name')}: {v.get('constraint_check_type')}: {v.get('description')}"
            for v in run.violations
        ),
        "",
        f"Report: {report_uri}",
        "A retraining of the current code on the newest dataset is being started (trigger kind 'drift').",
    ]
    finding = "Model quality below its gate" if columns == ["model_quality"] else "Model drift"
    message_id = deps.notifier.publish(
        f"{finding} on {run.endpoint_name}: {', '.join(columns)}"[:100],
        "\n".join(lines),
        {
            "kind": "model-drift",
            "endpoint": run.endpoint_name,
            "model_version": run.model_version,
            "monitoring_run_id": run.run_id,
            "drifted_features": ",".join(columns),
        },
    )
    deps.audit.append(
        MONITOR_PRINCIPAL,
        "monitoring.violation",
        run.model_version,
        {
            "endpoint": run.endpoint_name,
            "endpoint_config": run.endpoint_config_name,
            "monitoring_run_id": run.run_id,
            "violations": len(run.violations),
            "drifted_features": ",".join(columns),
            "rows": run.rows,
            "report": report_uri,
        },
        {"constraint_violations": digests["constraint_violations"]},
    )
    deliveries = deps.put_event(drift_event(run, report_uri, settings, now))
    return run.model_copy(update={"alert_message_id": message_id, "retraining": deliveries})
