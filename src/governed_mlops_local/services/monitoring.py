"""Model monitoring that closes the loop: captured traffic -> drift report -> alert, audit record, retraining event.

It runs the analysis of the scheduled monitoring job in-process: ``jobs/monitor.py run`` and this module
both call :func:`governed_mlops_ml.monitoring.window.analyse_window`, so the documents have the job's
shape. In AWS the stack's schedule (``MonitorSchedule``, :mod:`governed_mlops.services.monitoring`) runs
that job per endpoint in service; locally an operator runs ``mlops monitor run``.

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
   to ``model_quality.json``, and computes the post-training bias metrics per facet of the model's
   configuration against its limits (``bias_drift.json``); a breach of either is one more violation.
   New label files are judged even when no new request was captured;
6. on violations: publishes an alert naming the drifted columns, appends ``monitoring.violation`` to the
   audit ledger and puts a ``Model Drift Detected`` event on the bus (the template's rule routes it to
   the Trigger, which starts a ``drift-...`` retraining execution).

``mlops monitor run --aws`` runs the same function on a deployed stack (captured data and baseline read
from S3, reports written to the artifacts bucket) with ``act_on_violations=False``: it reports drift and
does not alert, audit or start a retraining from an operator's machine.

Imports pandas / scipy through ``governed_mlops_ml``: used by the CLI, never by a Lambda handler.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, Field

from governed_mlops.adapters.approvals import Notifier
from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import StoredObject
from governed_mlops.errors import ArtifactNotFoundError, JobInputError
from governed_mlops.models import S3Ref
from governed_mlops.services.audit import AuditSink
from governed_mlops.services.monitoring import (
    GROUND_TRUTH_PREFIX,
    MONITORING_PREFIX,
    TRAIN_SPLIT_KEY,
    DriftSettings,
    MonitoringError,
    act_on_violations,
    monitor_job_config,
    pinned_config,
    previous_runs,
    serving_model,
)
from governed_mlops.services.monitoring import drift_event as layer_drift_event

#: Report file (as the job writes it) -> its name in ``MonitoringRun.reports``.
REPORT_NAMES: Final = {
    "baseline/statistics.json": "baseline_statistics",
    "baseline/constraints.json": "baseline_constraints",
    "statistics.json": "statistics",
    "constraint_violations.json": "constraint_violations",
    "model_quality.json": "model_quality",
    "bias_drift.json": "bias_drift",
}
#: ``MonitoringRun.status`` values (the same words as ``constraint_violations.json``'s ``status``).
MonitoringStatus = Literal["no_violations", "violations", "insufficient_data"]
NO_VIOLATIONS: Final = "no_violations"
VIOLATIONS: Final = "violations"
INSUFFICIENT_DATA: Final = "insufficient_data"


class InsufficientCaptureData(MonitoringError):
    """No request to the endpoint was captured since the previous run: nothing to compare with the baseline."""


class MonitoringStore(Protocol):
    """The object-store calls a run makes (``LocalObjectStore`` and ``S3ObjectStore`` implement them)."""

    def get(self, ref: S3Ref) -> bytes: ...

    def put(self, bucket: str, key: str, data: bytes, content_type: str = ...) -> StoredObject: ...

    def list_keys(self, bucket: str, prefix: str = ...) -> list[str]: ...


class CapturingHosting(Protocol):
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
    hosting: CapturingHosting
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
    #: Post-training bias metrics over the labelled answers against the model's limits (``bias_drift.json``).
    bias_drift: dict[str, Any] | None = None
    #: The label files this run judged (a later run with no new request judges only new ones).
    label_files: list[str] = Field(default_factory=list)

    @property
    def drift(self) -> bool:
        return bool(self.violations)

    @property
    def insufficient_data(self) -> bool:
        return self.status == INSUFFICIENT_DATA


def _labels(store: MonitoringStore, bucket: str, endpoint: str) -> dict[str, bytes]:
    """Every uploaded label file of the endpoint: ``s3://`` URI -> bytes."""
    keys = sorted(
        k for k in store.list_keys(bucket, GROUND_TRUTH_PREFIX.format(endpoint=endpoint)) if k.endswith(".csv")
    )
    return {f"s3://{bucket}/{key}": store.get(S3Ref(bucket=bucket, key=key)) for key in keys}


def drift_event(run: MonitoringRun, report_uri: str, settings: MonitoringSettings, now: datetime) -> dict[str, Any]:
    """The custom ``Model Drift Detected`` event (``source: governed-mlops.monitoring``)."""
    return layer_drift_event(run.model_dump(mode="json"), report_uri, settings.account, settings.region, now)


def run_monitoring(
    endpoint: str, settings: MonitoringSettings, deps: MonitoringDeps, *, now: datetime | None = None
) -> MonitoringRun:
    """Analyse the endpoint's newly captured traffic against its model's training baseline; act on violations.

    The analysis is :func:`governed_mlops_ml.monitoring.window.analyse_window`, the code of the scheduled
    processing job (``jobs/monitor.py run``). With fewer captured rows than ``min_samples`` (the model's
    ``monitoring.min_samples`` unless the settings say otherwise) drift and completeness get no verdict
    and the window stays open; uploaded labels are judged (model quality, bias drift) whenever a
    request or a label file is new.

    Raises:
        MonitoringError: the endpoint, its lineage, its configuration or its training split cannot be found.
        InsufficientCaptureData: no request was captured and no label file uploaded since the previous run.
    """
    # Imported here: pandas and scipy load in about a second; `mlops --help` must not pay for them.
    from governed_mlops_ml.monitoring.window import MonitorJobConfig, analyse_window  # noqa: PLC0415

    moment = now or datetime.now(UTC)
    config_name, version, archive = serving_model(deps.hosting, deps.registry, endpoint)
    runs = previous_runs(deps.store, settings.artifacts_bucket, endpoint)
    labels_uri = f"s3://{settings.artifacts_bucket}/{GROUND_TRUTH_PREFIX.format(endpoint=endpoint)}"
    drift = DriftSettings(
        psi=settings.psi,
        ks_p_value=settings.ks_p_value,
        chi2_p_value=settings.chi2_p_value,
        min_rows=settings.min_rows,
        min_samples=settings.min_samples,
    )
    job_config = MonitorJobConfig.from_json(
        monitor_job_config(
            pinned_config(deps.store, version),
            version,
            endpoint,
            config_name,
            runs=runs,
            labels_uri=labels_uri,
            drift=drift,
        )
    )
    train_ref = S3Ref(bucket=settings.artifacts_bucket, key=TRAIN_SPLIT_KEY.format(execution=version.execution_name))
    with tempfile.TemporaryDirectory(prefix="monitor-") as scratch:
        work = Path(scratch)
        try:
            (work / "model.tar.gz").write_bytes(deps.store.get(archive))
            (work / "train.csv").write_bytes(deps.store.get(train_ref))
        except ArtifactNotFoundError as exc:
            raise MonitoringError(f"model {version.model_version}: {exc}") from exc
        try:
            analysis = analyse_window(
                job_config,
                model_archive=work / "model.tar.gz",
                train_csv=work / "train.csv",
                capture_files=deps.hosting.capture_files(endpoint),
                label_files=_labels(deps.store, settings.artifacts_bucket, endpoint),
                work=work,
            )
        except JobInputError as exc:
            raise MonitoringError(f"monitoring {endpoint}: {exc}") from exc
    if analysis.nothing_new:
        raise InsufficientCaptureData(
            analysis.documents["constraint_violations.json"]["drift_metrics"]["insufficient_data"]
        )
    summary = analysis.summary
    prefix = f"{MONITORING_PREFIX.format(endpoint=endpoint)}{summary['run_id']}/"
    reports: dict[str, str] = {}
    digests: dict[str, str] = {}
    for key, document in analysis.documents.items():
        stored = deps.store.put(
            settings.artifacts_bucket, prefix + key, json.dumps(document, indent=2).encode(), "application/json"
        )
        name = REPORT_NAMES[key]
        reports[name], digests[name] = stored.ref.pinned_uri, stored.sha256
    run = MonitoringRun.model_validate({k: v for k, v in summary.items() if k != "nothing_new"} | {"reports": reports})
    if run.drift and not run.insufficient_data and settings.act_on_violations:
        run = _act_on_violations(
            run, reports["constraint_violations"], digests, settings=settings, deps=deps, now=moment
        )
    deps.store.put(
        settings.artifacts_bucket, prefix + "run.json", run.model_dump_json(indent=2).encode(), "application/json"
    )
    return run


def _act_on_violations(
    run: MonitoringRun,
    report_uri: str,
    digests: dict[str, str],
    *,
    settings: MonitoringSettings,
    deps: MonitoringDeps,
    now: datetime,
) -> MonitoringRun:
    if deps.notifier is None or deps.audit is None or deps.put_event is None:
        raise MonitoringError("acting on violations needs a notifier, an audit ledger and an event bus")
    message_id, deliveries = act_on_violations(
        run.model_dump(mode="json"),
        report_uri,
        digests["constraint_violations"],
        notifier=deps.notifier,
        audit=deps.audit,
        put_event=deps.put_event,
        account=settings.account,
        region=settings.region,
        now=now,
    )
    return run.model_copy(update={"alert_message_id": message_id, "retraining": deliveries})
