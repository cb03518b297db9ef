"""Scheduled model monitoring in AWS: one processing job per endpoint in service, then act on its report.

EventBridge Scheduler invokes **Start Monitoring**
(:func:`governed_mlops.services.monitoring_schedule.start_monitoring`) on the stack's schedule.
For every SageMaker endpoint ``InService`` that serves a registered model version (many models: the
endpoints are listed, nothing is keyed to one), it plans the window (the previous runs' ``run.json``
under ``monitoring/<endpoint>/``), writes ``monitor_config.json`` (the model's pinned monitoring
settings, registered AUC, bias facets and limits) and starts a SageMaker processing job that runs
``jobs/monitor.py run`` - the same analysis as ``mlops monitor run`` - with the job code, the model
archive, the training split, the endpoint's Data Capture objects and its label files as inputs and
``monitoring/<endpoint>/<run id>/`` as output, in the stack's VPC with network isolation and the
stack's KMS key, as the training pipeline's jobs run.

When the job ends SageMaker emits ``SageMaker Processing Job State Change``; the stack's rule delivers
it to **Monitoring Result** (:func:`handle_job_state_change`): on a completed job whose
``run.json`` reports violations it publishes the alert, appends ``monitoring.violation`` to the audit
ledger and puts ``Model Drift Detected`` on the default bus, which the Trigger's rule turns into a
``drift-...`` retraining execution; a failed job is alerted as a fault.

Pure logic plus the calls passed in (SageMaker client, object store, registry, notifier, ledger, events).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from governed_mlops.adapters.approvals import Notifier
from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import CatalogueStore
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.trigger import DRIFT_DETAIL_TYPE, DRIFT_SOURCE
from governed_mlops.errors import ArtifactNotFoundError, ConfigError, PipelineError
from governed_mlops.models import ModelVersion, S3Ref
from governed_mlops.services.audit import AuditSink

MONITOR_PRINCIPAL: Final = "system:model-monitor"
MONITORING_PREFIX: Final = "monitoring/{endpoint}/"
TRAIN_SPLIT_KEY: Final = "runs/{execution}/prepared/train/train.csv"
#: Where an endpoint's label files are stored in the artifacts bucket (``mlops labels upload``).
GROUND_TRUTH_PREFIX: Final = "ground-truth/{endpoint}/"
#: Where the endpoints' Data Capture objects are written (the deploy stage's DestinationS3Uri).
CAPTURE_PREFIX: Final = "data-capture/{endpoint}/"
#: Processing jobs of the monitor are named ``mon-<endpoint>-<UTC stamp>`` (the result rule's filter).
JOB_PREFIX: Final = "mon-"
INSUFFICIENT_DATA: Final = "insufficient_data"
PROCESSING_ROOT: Final = "/opt/ml/processing"
MONITOR_CONFIG_FILE: Final = "monitor_config.json"


class MonitoringError(PipelineError):
    """The endpoint cannot be monitored (not deployed, no lineage, no training split, no captured data)."""


class ReportStore(Protocol):
    """The reads monitoring bookkeeping needs (every object store implements them)."""

    def get(self, ref: S3Ref) -> bytes: ...

    def list_keys(self, bucket: str, prefix: str = ...) -> list[str]: ...


class EndpointHosting(Protocol):
    def describe_endpoint(self, name: str) -> dict[str, Any]: ...

    def describe_endpoint_config(self, name: str) -> dict[str, Any]: ...

    def describe_model(self, name: str) -> dict[str, Any]: ...


class SageMakerHosting:
    """:class:`EndpointHosting` on a boto3 SageMaker client (``ModelData`` added from ``ModelDataUrl``)."""

    def __init__(self, sagemaker: Any) -> None:
        self._sm = sagemaker

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        return dict(self._sm.describe_endpoint(EndpointName=name))

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        return dict(self._sm.describe_endpoint_config(EndpointConfigName=name))

    def describe_model(self, name: str) -> dict[str, Any]:
        described = dict(self._sm.describe_model(ModelName=name))
        ref = S3Ref.from_uri(described.get("PrimaryContainer", {}).get("ModelDataUrl", ""))
        return described | {"ModelData": {"Bucket": ref.bucket, "Key": ref.key, "VersionId": ref.version_id}}


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


def pinned_config(store: ReportStore, version: ModelVersion) -> PipelineConfig:
    """The pipeline configuration the model version was trained with (pinned by its lineage).

    Raises:
        MonitoringError: it cannot be read or parsed.
    """
    try:
        return parse_config(store.get(version.config.ref), source=version.config.ref.pinned_uri)
    except (ArtifactNotFoundError, ConfigError) as exc:
        raise MonitoringError(f"model {version.model_version}: cannot read its configuration: {exc}") from exc


def previous_runs(store: ReportStore, bucket: str, endpoint: str) -> list[dict[str, Any]]:
    """Every earlier run's ``run.json`` of the endpoint (in key order)."""
    return [
        json.loads(store.get(S3Ref(bucket=bucket, key=key)))
        for key in sorted(store.list_keys(bucket, MONITORING_PREFIX.format(endpoint=endpoint)))
        if key.endswith("/run.json")
    ]


def window_after(runs: Sequence[dict[str, Any]]) -> str | None:
    """End of the newest window that got a verdict; windows with insufficient data stay open."""
    ends = [str(r["window_end"]) for r in runs if r.get("window_end") and r.get("status") != INSUFFICIENT_DATA]
    return max(ends, default=None)


def seen_label_files(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Label files an earlier run judged (only new ones make a window without new requests worth judging)."""
    return sorted({str(name) for run in runs for name in run.get("label_files") or []})


@dataclass(frozen=True)
class DriftSettings:
    """The drift tests' thresholds (``mlops monitor run`` and the schedule use the same defaults)."""

    psi: float | None = 0.2
    ks_p_value: float | None = 0.01
    chi2_p_value: float | None = 0.01
    min_rows: int = 30
    #: Captured rows a window needs for a verdict; ``None``: the serving model's ``monitoring.min_samples``.
    min_samples: int | None = None


def monitor_job_config(
    config: PipelineConfig,
    version: ModelVersion,
    endpoint: str,
    config_name: str,
    *,
    runs: Sequence[dict[str, Any]],
    labels_uri: str,
    drift: DriftSettings,
) -> dict[str, Any]:
    """``monitor_config.json`` of one run: the window, the model's pinned monitoring settings, AUC and bias limits."""
    bias = None
    if config.bias is not None:
        bias = config.bias.job_document(
            label=config.dataset.target,
            positive_label=config.dataset.positive_label,
            decision_threshold=config.gates.decision_threshold,
        )
    return {
        "endpoint_name": endpoint,
        "endpoint_config_name": config_name,
        "model_version": version.model_version,
        "training_execution": version.execution_name,
        "min_samples": drift.min_samples if drift.min_samples is not None else config.monitoring.min_samples,
        "decision_threshold": config.gates.decision_threshold,
        "max_auc_drop": config.monitoring.quality.max_auc_drop,
        "min_labelled": config.monitoring.quality.min_labelled,
        "registered_auc": version.metrics.get("auc"),
        "window_after": window_after(runs),
        "seen_label_files": seen_label_files(runs),
        "labels_uri": labels_uri,
        "bias": bias,
        "psi": drift.psi,
        "ks_p_value": drift.ks_p_value,
        "chi2_p_value": drift.chi2_p_value,
        "min_rows": drift.min_rows,
    }


# -- acting on a report (the CLI and the Monitoring Result function) ---------------------------------


#: Puts one event on the bus; returns what the bus reports per target (the CLI) or per entry (AWS).
EventBus = Callable[[dict[str, Any]], list[dict[str, Any]]]


def drift_event(run: dict[str, Any], report_uri: str, account: str, region: str, now: datetime) -> dict[str, Any]:
    """The custom ``Model Drift Detected`` event (``source: governed-mlops.monitoring``) of a run summary."""
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, report_uri)),
        "detail-type": DRIFT_DETAIL_TYPE,
        "source": DRIFT_SOURCE,
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:sagemaker:{region}:{account}:endpoint/{run['endpoint_name']}"],
        "detail": {
            "endpoint_name": run["endpoint_name"],
            "model_version": run["model_version"],
            "violations_report": report_uri,
            "drifted_features": list(run.get("drifted_features") or []),
            "monitoring_run_id": run["run_id"],
        },
    }


def violated_features(run: dict[str, Any]) -> list[str]:
    """The drifted columns, else the names the violations carry (``model_quality``, ``bias_drift``)."""
    drifted = list(run.get("drifted_features") or [])
    return drifted or sorted({str(v.get("feature_name", "")) for v in run.get("violations") or []} - {""})


def act_on_violations(  # noqa: PLR0913 - keyword-only: the run, its report and each collaborator the caller injects
    run: dict[str, Any],
    report_uri: str,
    report_sha256: str,
    *,
    notifier: Notifier,
    audit: AuditSink,
    put_event: EventBus,
    account: str,
    region: str,
    now: datetime,
) -> tuple[str, list[dict[str, Any]]]:
    """Alert, audit ``monitoring.violation`` and put ``Model Drift Detected``; the alert's id and the bus's answer."""
    columns = violated_features(run)
    violations = run.get("violations") or []
    lines = [
        f"Model Monitor found {len(violations)} violation(s) on endpoint {run['endpoint_name']} "
        f"(model {run['model_version']}, {run.get('rows', 0)} captured rows "
        f"{run.get('window_start')} .. {run.get('window_end')}).",
        f"Drifted columns: {', '.join(columns) or '-'}",
        "",
        *(f"- {v.get('feature_name')}: {v.get('constraint_check_type')}: {v.get('description')}" for v in violations),
        "",
        f"Report: {report_uri}",
        "A retraining of the current code on the newest dataset is being started (trigger kind 'drift').",
    ]
    kinds = {"model_quality": "model quality below its gate", "bias_drift": "bias drift"}
    named = [kinds[column] for column in columns if column in kinds]
    finding = " and ".join(named) if columns and len(named) == len(columns) else "model drift"
    finding = finding[0].upper() + finding[1:]
    message_id = notifier.publish(
        f"{finding} on {run['endpoint_name']}: {', '.join(columns)}"[:100],
        "\n".join(lines),
        {
            "kind": "model-drift",
            "endpoint": run["endpoint_name"],
            "model_version": run["model_version"],
            "monitoring_run_id": run["run_id"],
            "drifted_features": ",".join(columns),
        },
    )
    audit.append(
        MONITOR_PRINCIPAL,
        "monitoring.violation",
        run["model_version"],
        {
            "endpoint": run["endpoint_name"],
            "endpoint_config": run["endpoint_config_name"],
            "monitoring_run_id": run["run_id"],
            "violations": len(violations),
            "drifted_features": ",".join(columns),
            "rows": run.get("rows", 0),
            "report": report_uri,
        },
        {"constraint_violations": report_sha256},
    )
    return message_id, put_event(drift_event(run, report_uri, account, region, now))


# -- the job's end ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultDeps:
    store: CatalogueStore
    notifier: Notifier
    audit: AuditSink
    events: Any


_JOB_NAME = re.compile(rf"^{JOB_PREFIX}[A-Za-z0-9-]+$")


def handle_job_state_change(
    detail: dict[str, Any],
    deps: ResultDeps,
    *,
    artifacts_bucket: str,
    account: str,
    region: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Act on a monitoring job that ended: alert + audit + ``Model Drift Detected`` on violations, alert on failure.

    A job that is not the monitor's (another name, or output outside the artifacts bucket) is ignored.
    """
    name = str(detail.get("ProcessingJobName", ""))
    status = str(detail.get("ProcessingJobStatus", ""))
    outputs = (detail.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    uri = str(outputs[0]["S3Output"]["S3Uri"]) if outputs else ""
    if not _JOB_NAME.match(name) or not uri.startswith(f"s3://{artifacts_bucket}/monitoring/"):
        return {"processing_job": name, "action": "ignored", "reason": "not a monitoring job of this stack"}
    prefix = S3Ref.from_uri(uri.rstrip("/") + "/run.json")
    endpoint = {t["Key"]: t["Value"] for t in detail.get("Tags") or []}.get("governed-mlops:endpoint", "")
    if status in {"Failed", "Stopped"}:
        reason = str(detail.get("FailureReason", status))
        message_id = deps.notifier.publish(
            f"Monitoring job {name} {status.lower()}"[:100],
            f"The monitoring job {name} ({endpoint or 'endpoint unknown'}) ended {status}: {reason}\n"
            "No verdict on drift, model quality or bias for this window; the next scheduled run analyses it again.",
            {"kind": "alert", "outcome": "fault", "monitoring_job": name},
        )
        return {"processing_job": name, "action": "alerted", "status": status, "alert_message_id": message_id}
    if status != "Completed":
        return {"processing_job": name, "action": "ignored", "reason": f"status {status}"}
    run = json.loads(deps.store.get(prefix))
    report_key = prefix.key.rsplit("/", 1)[0] + "/constraint_violations.json"
    if not run.get("violations") or run.get("status") == INSUFFICIENT_DATA:
        return {"processing_job": name, "action": "none", "status": run.get("status"), "run_id": run.get("run_id")}
    report_data = deps.store.get(S3Ref(bucket=artifacts_bucket, key=report_key))
    report_uri = f"s3://{artifacts_bucket}/{report_key}"

    def put_event(event: dict[str, Any]) -> list[dict[str, Any]]:
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event["resources"],
            "EventBusName": "default",
        }
        answer = deps.events.put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            raise MonitoringError(f"EventBridge refused the Model Drift Detected event: {answer['Entries']}")
        return [{"event_id": e.get("EventId")} for e in answer.get("Entries", [])]

    message_id, deliveries = act_on_violations(
        run,
        report_uri,
        hashlib.sha256(report_data).hexdigest(),
        notifier=deps.notifier,
        audit=deps.audit,
        put_event=put_event,
        account=account,
        region=region,
        now=now or datetime.now(UTC),
    )
    return {
        "processing_job": name,
        "action": "drift",
        "run_id": run["run_id"],
        "endpoint": run["endpoint_name"],
        "violations": len(run["violations"]),
        "alert_message_id": message_id,
        "events": deliveries,
    }
