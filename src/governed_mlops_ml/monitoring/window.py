"""One monitoring window, from files on disk to its reports: what ``jobs/monitor.py run`` (the scheduled
processing job in AWS) and ``mlops monitor run`` (in the CLI process) both execute.

Inputs: the serving model's archive (feature spec), its training split (the baseline), the Data
Capture files of the endpoint, the uploaded label files and ``monitor_config.json``
(:class:`MonitorJobConfig`: which endpoint config to read, where the previous window ended, the
model's pinned monitoring settings, registered AUC and bias facets and limits).

Outputs (:class:`WindowAnalysis`): ``baseline/statistics.json``, ``baseline/constraints.json``,
``statistics.json``, ``constraint_violations.json``, ``model_quality.json`` (when labels exist),
``bias_drift.json`` (when labels exist and the model has a bias configuration) and ``run.json``.

Verdicts: data drift and completeness need ``min_samples`` captured rows in the window; model quality
and bias drift need their ``min_labelled`` labelled answers over every captured answer of the serving
config (labels arrive later than the answers they judge, so a window with no new request is still
judged when new label files arrived). A window with no new request and no new label file has nothing
to analyse: status ``insufficient_data`` with ``nothing_new`` set.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any

from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import FEATURE_SPEC_FILE, extract_model_archive, load_feature_spec, read_dataset
from governed_mlops_ml.bias import parse_bias_config
from governed_mlops_ml.monitoring.baseline_statistics import baseline
from governed_mlops_ml.monitoring.bias_drift import bias_drift, labelled_samples
from governed_mlops_ml.monitoring.capture import read_capture
from governed_mlops_ml.monitoring.drift import INSUFFICIENT_DATA, VIOLATIONS, DriftThresholds, detect_drift
from governed_mlops_ml.quality import LabelFileError, answers_of_record, judge_quality, parse_label_file

__all__ = ["MONITOR_CONFIG_FILE", "MonitorJobConfig", "WindowAnalysis", "analyse_window", "window_records"]

MONITOR_CONFIG_FILE = "monitor_config.json"


@dataclass(frozen=True)
class MonitorJobConfig:
    """``monitor_config.json``: what one monitoring run of one endpoint needs besides the data files."""

    endpoint_name: str
    endpoint_config_name: str
    model_version: str
    training_execution: str
    min_samples: int
    decision_threshold: float
    max_auc_drop: float
    min_labelled: int
    registered_auc: float | None = None
    #: ``inferenceTime`` of the newest record of the previous window with a verdict (None: first run).
    window_after: str | None = None
    #: Label files (``s3://`` URIs) earlier runs judged; others are new.
    seen_label_files: tuple[str, ...] = ()
    #: ``s3://`` prefix the label files were read from (names them in the reports).
    labels_uri: str = ""
    #: ``bias_config.json`` of the model (facets, limits, label); None: no bias drift.
    bias: dict[str, Any] | None = None
    psi: float | None = 0.2
    ks_p_value: float | None = 0.01
    chi2_p_value: float | None = 0.01
    min_rows: int = 30

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"seen_label_files": list(self.seen_label_files)}

    @classmethod
    def from_json(cls, raw: Any) -> MonitorJobConfig:
        """Raises JobInputError naming the missing or unknown keys, or a value of the wrong type."""
        if not isinstance(raw, Mapping):
            raise JobInputError(f"{MONITOR_CONFIG_FILE} must hold a JSON object, got {type(raw).__name__}")
        known = set(cls.__dataclass_fields__)
        required = {
            n for n, f in cls.__dataclass_fields__.items() if f.default is MISSING and f.default_factory is MISSING
        }
        unknown, missing = sorted(set(raw) - known), sorted(required - set(raw))
        if unknown or missing:
            raise JobInputError(f"{MONITOR_CONFIG_FILE}: missing keys {missing}, unknown keys {unknown}")
        values = dict(raw)
        values["seen_label_files"] = tuple(values.get("seen_label_files") or ())
        try:
            config = cls(**values)
        except TypeError as exc:
            raise JobInputError(f"{MONITOR_CONFIG_FILE}: {exc}") from exc
        for name in ("min_samples", "min_labelled", "min_rows"):
            if not isinstance(getattr(config, name), int) or getattr(config, name) < 1:
                raise JobInputError(f"{MONITOR_CONFIG_FILE}: {name} must be a positive integer")
        if not 0.0 < float(config.decision_threshold) < 1.0:
            raise JobInputError(f"{MONITOR_CONFIG_FILE}: decision_threshold must be strictly between 0 and 1")
        return config

    @property
    def thresholds(self) -> DriftThresholds:
        return DriftThresholds(
            psi=self.psi,
            ks_p_value=self.ks_p_value,
            chi2_p_value=self.chi2_p_value,
            min_rows=self.min_rows,
            min_samples=self.min_samples,
        )


@dataclass
class WindowAnalysis:
    """The reports of one window (file name -> JSON document) and the run summary (``run.json``)."""

    documents: dict[str, Any]
    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def nothing_new(self) -> bool:
        return bool(self.summary.get("nothing_new"))


def window_records(files: Sequence[Path], config_name: str, after: str | None) -> list[dict[str, Any]]:
    """Capture records of ``config_name`` captured strictly after ``after`` (ISO ``inferenceTime``), oldest first."""
    kept = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                meta = record["eventMetadata"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a torn last line: read_capture skips it too
            if meta.get("endpointConfigName", config_name) != config_name:
                continue
            if after is not None and str(meta.get("inferenceTime", "")) <= after:
                continue
            kept.append(record)
    kept.sort(key=lambda r: str(r["eventMetadata"].get("inferenceTime", "")))
    return kept


def run_id_of(
    endpoint: str, records: Sequence[Mapping[str, Any]], window_end: str | None, labels: Sequence[str]
) -> str:
    """``mon-<window end, compact>-<8 hex>``: the same window of the same records (and labels) is the same run."""
    digest = hashlib.sha256(endpoint.encode())
    for record in records:
        digest.update(str(record["eventMetadata"].get("eventId", "")).encode())
    for label_file in labels:
        digest.update(label_file.encode())
    stamp = (window_end or "labels").replace("-", "").replace(":", "").replace(".", "")
    return f"mon-{stamp}-{digest.hexdigest()[:8]}"


def _label_files(label_files: Mapping[str, bytes]) -> tuple[dict[str, str], list[str]]:
    merged: dict[str, str] = {}
    for name in sorted(label_files):
        try:
            merged |= parse_label_file(label_files[name], name)
        except LabelFileError as exc:
            # Only a file put there by hand gets here (mlops labels upload checks files before storing them).
            raise JobInputError(f"{exc}; fix or remove the file") from exc
    return merged, sorted(label_files)


def analyse_window(
    config: MonitorJobConfig,
    *,
    model_archive: Path,
    train_csv: Path,
    capture_files: Sequence[Path],
    label_files: Mapping[str, bytes],
    work: Path,
) -> WindowAnalysis:
    """Judge one window: data drift and completeness, model quality and bias drift (see the module docstring).

    ``label_files`` maps each label file's ``s3://`` URI to its bytes.

    Raises:
        JobInputError: the model archive, training split, a label file or ``bias`` configuration is unusable.
    """
    every = window_records(capture_files, config.endpoint_config_name, None)
    records = [
        r
        for r in every
        if config.window_after is None or str(r["eventMetadata"].get("inferenceTime", "")) > config.window_after
    ]
    labels, label_names = _label_files(label_files)
    new_labels = sorted(set(label_names) - set(config.seen_label_files))
    spec = load_feature_spec(extract_model_archive(model_archive, work / "model", files={FEATURE_SPEC_FILE}))
    statistics, constraints = baseline(read_dataset(train_csv), spec)
    capture = work / "window.jsonl"
    capture.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    captured = read_capture([capture], spec)
    report = detect_drift(statistics, captured, config.thresholds, constraints)
    current, _ = baseline(captured, spec) if not captured.empty else ({}, {})
    window_start = str(records[0]["eventMetadata"].get("inferenceTime")) if records else None
    window_end = str(records[-1]["eventMetadata"].get("inferenceTime")) if records else None
    report["drift_metrics"]["capture"] = {
        "records": len(records),
        "window_start": window_start,
        "window_end": window_end,
    }
    documents: dict[str, Any] = {
        "baseline/statistics.json": statistics,
        "baseline/constraints.json": constraints,
        "statistics.json": current,
    }
    quality: dict[str, Any] | None = None
    drift_of_bias: dict[str, Any] | None = None
    if label_names and (records or new_labels):
        answers: dict[str, float] = {}
        for record in every:
            answers |= answers_of_record(record)
        verdict = judge_quality(
            answers,
            labels,
            positive_label=spec.positive_label,
            negative_labels=[spec.negative_label],
            threshold=config.decision_threshold,
            registered_auc=config.registered_auc
            if config.registered_auc is None or math.isfinite(config.registered_auc)
            else None,
            max_auc_drop=config.max_auc_drop,
            min_labelled=config.min_labelled,
        )
        quality = verdict.to_json_dict() | {"label_files": label_names}
        documents["model_quality.json"] = quality
        if quality["status"] == VIOLATIONS:
            # The quality gate's breach is a violation like drift: the same alert, audit record and retraining.
            report["violations"].append(
                {
                    "feature_name": "model_quality",
                    "constraint_check_type": "model_quality",
                    "description": quality["reason"],
                }
            )
        if config.bias is not None:
            bias_config = parse_bias_config(config.bias)
            samples = labelled_samples(every, spec, labels, bias_config.label)
            drift_of_bias = bias_drift(
                samples, bias_config, negative_label=spec.negative_label, min_labelled=config.min_labelled
            ) | {"label_files": label_names}
            documents["bias_drift.json"] = drift_of_bias
            for breach in drift_of_bias["breaches"]:
                report["violations"].append(
                    {
                        "feature_name": "bias_drift",
                        "constraint_check_type": "bias_drift",
                        "description": breach["description"],
                    }
                )
        if report["violations"]:
            report["status"] = VIOLATIONS  # labels judge answers of any window: a verdict even when this one is small
        elif report["status"] == INSUFFICIENT_DATA and not records:
            judged = [d for d in (quality, drift_of_bias) if d is not None and d["status"] != INSUFFICIENT_DATA]
            if judged:
                report["status"] = "no_violations"
    nothing_new = not records and not new_labels
    if nothing_new:
        since = f" since {config.window_after}" if config.window_after else ""
        report["drift_metrics"]["insufficient_data"] = (
            f"insufficient data: no requests to {config.endpoint_name} (config {config.endpoint_config_name}) were "
            f"captured{since} and no new label file arrived: nothing to analyse"
        )
        report["status"] = INSUFFICIENT_DATA
    documents["constraint_violations.json"] = report
    drift_metrics = report["drift_metrics"]
    run_id = run_id_of(config.endpoint_name, records, window_end, new_labels)
    summary = {
        "run_id": run_id,
        "endpoint_name": config.endpoint_name,
        "endpoint_config_name": config.endpoint_config_name,
        "model_version": config.model_version,
        "training_execution": config.training_execution,
        "window_start": window_start,
        "window_end": window_end,
        "records": len(records),
        "rows": len(captured),
        "violations": [{k: str(v) for k, v in violation.items()} for violation in report["violations"]],
        "drifted_features": list(drift_metrics.get("drifted_features", [])),
        "feature_metrics": {k: v for k, v in drift_metrics.get("features", {}).items() if isinstance(v, dict)},
        "status": report["status"],
        "min_samples": config.min_samples,
        "model_quality": quality,
        "bias_drift": _bias_summary(drift_of_bias),
        "label_files": label_names if (quality is not None) else [],
        "nothing_new": nothing_new,
    }
    return WindowAnalysis(documents=documents, summary=summary, records=records)


def _bias_summary(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None:
        return None
    return {key: document[key] for key in ("status", "reason", "labelled", "min_labelled", "breaches")}
