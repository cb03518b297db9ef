"""Bias drift: the post-training bias metrics of the serving model over its labelled, captured answers.

Ground truth arrives after the answers it judges (``mlops labels upload``; see
:mod:`governed_mlops_ml.quality`). Every captured request row that carries an inference id and has a
label is one sample: its raw features (as the endpoint read them), its observed label and the model's
predicted label (score at or above the decision threshold). Over those samples the Clarify
post-training metrics of :mod:`governed_mlops_ml.bias` are computed per facet the model was
registered with (its ``bias`` configuration, as ``bias_config.json``) and compared with the model's
registered limits for them. A metric outside its limit, or undefined while a limit is set on it (the
bias gate's rule), is a breach.

Fewer labelled samples than ``min_labelled`` give ``insufficient_data`` (no verdict, nothing acted on).
A facet whose column the requests do not carry (a non-feature column such as a protected attribute
kept out of the model), or whose rule selects no sample or every sample in this set, is reported
``insufficient_data`` for that facet with the reason: it cannot be judged from captured traffic.

numpy / pandas only: runs in the monitoring processing job and in ``mlops monitor run``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from governed_mlops.domain.bias_names import POST_TRAINING_METRICS
from governed_mlops.errors import JobInputError
from governed_mlops_ml.bias import BiasJobConfig, Facet, binary_labels, facet_d_mask, post_training_metrics
from governed_mlops_ml.features import FeatureSpec
from governed_mlops_ml.monitoring.payloads import parse_payload

__all__ = ["BIAS_DRIFT_FILE", "bias_drift", "labelled_samples"]

BIAS_DRIFT_FILE = "bias_drift.json"
_SCORE = "__score__"


def _scores(output: Mapping[str, Any]) -> list[float]:
    text = str(output.get("data", ""))
    if output.get("encoding") == "BASE64":
        text = base64.b64decode(text, validate=True).decode("utf-8")
    if text.lstrip().startswith("{"):
        return [float(p["score"]) for p in json.loads(text).get("predictions", [])]
    return [float(line) for line in text.splitlines() if line.strip()]


def _record_rows(record: Mapping[str, Any], spec: FeatureSpec) -> tuple[list[str], pd.DataFrame, list[float]] | None:
    """Ids, raw feature rows and scores of one captured record (None: no id, no output or unreadable)."""
    meta = record.get("eventMetadata") or {}
    capture = record.get("captureData") or {}
    inference_id, request, output = meta.get("inferenceId"), capture.get("endpointInput"), capture.get("endpointOutput")
    if not inference_id or not request or not output:
        return None
    try:
        encoding = request.get("encoding", "BASE64")
        body = base64.b64decode(request["data"]) if encoding == "BASE64" else str(request["data"]).encode()
        frame = parse_payload(body, request.get("observedContentType"), spec).frame(spec)
        scores = _scores(output)
    except (ValueError, KeyError, TypeError):
        return None
    if len(scores) != len(frame):
        return None
    ids = [str(inference_id)] if len(scores) == 1 else [f"{inference_id}:{row}" for row in range(1, len(scores) + 1)]
    return ids, frame, scores


def labelled_samples(
    records: Iterable[Mapping[str, Any]], spec: FeatureSpec, labels: Mapping[str, str], label_column: str
) -> pd.DataFrame:
    """One row per captured request row with a label: raw features, ``label_column`` and the model's score.

    Ids are joined as :func:`governed_mlops_ml.quality.answers_of_record` names them (``<id>`` for a
    one-row request, ``<id>:<row from 1>`` otherwise); a later record with the same id wins.
    """
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        found = _record_rows(record, spec)
        if found is None:
            continue
        ids, frame, scores = found
        for position, (inference_id, score) in enumerate(zip(ids, scores, strict=True)):
            label = labels.get(inference_id)
            if label is not None:
                rows[inference_id] = frame.iloc[position].to_dict() | {label_column: label, _SCORE: score}
    columns = [*spec.raw_features, label_column, _SCORE]
    return pd.DataFrame(list(rows.values()), columns=columns)


def bias_drift(
    samples: pd.DataFrame, config: BiasJobConfig, *, negative_label: str, min_labelled: int
) -> dict[str, Any]:
    """``bias_drift.json``: per facet the post-training metrics, their registered limits, and breaches.

    ``samples`` come from :func:`labelled_samples` with ``config.label`` as the label column. Labels
    that are neither ``config.positive_label`` nor ``negative_label`` are not counted (reported in
    ``unknown_labels``), as model quality does.

    Raises:
        JobInputError: the configuration has no decision threshold (post-training metrics need one).
    """
    if config.decision_threshold is None:
        raise JobInputError("bias drift needs the model's decision_threshold in bias_config.json")
    known = (
        samples[config.label].isin([config.positive_label, negative_label]) if len(samples) else samples[config.label]
    )
    unknown = sorted(set(samples.loc[~known, config.label].astype(str))) if len(samples) else []
    counted = samples[known].reset_index(drop=True) if len(samples) else samples
    document: dict[str, Any] = {
        "labelled": len(counted),
        "min_labelled": min_labelled,
        "decision_threshold": config.decision_threshold,
        "unknown_labels": unknown,
        "facets": {},
        "breaches": [],
    }
    if not config.facets and config.not_assessed_reason:
        return document | {"status": "not_assessed", "reason": f"not assessed: {config.not_assessed_reason}"}
    if len(counted) < min_labelled:
        return document | {
            "status": "insufficient_data",
            "reason": f"insufficient data: {len(counted)} labelled answers, {min_labelled} needed for a verdict",
        }
    labels = binary_labels(counted[config.label].astype(str), config.positive_label)
    predicted = (counted[_SCORE].astype(float).to_numpy() >= config.decision_threshold).astype(np.int64)
    judged = 0
    for facet in config.facets:
        limits = {m: v for m, v in config.thresholds.get(facet.name, {}).items() if m in POST_TRAINING_METRICS}
        entry: dict[str, Any] = {"value_or_threshold": facet.value_or_threshold, "column": facet.column}
        try:
            mask = facet_d_mask(counted, facet)
        except JobInputError as exc:
            document["facets"][facet.name] = entry | {"status": "insufficient_data", "reason": str(exc)}
            continue
        metrics = _judged_metrics(post_training_metrics(labels, predicted, mask), limits, facet, document["breaches"])
        judged += 1
        entry |= {
            "status": "violations" if any(m.get("breach") for m in metrics) else "no_violations",
            "members": int(mask.sum()),
            "metrics": metrics,
        }
        document["facets"][facet.name] = entry
    if document["breaches"]:
        status, reason = "violations", f"{len(document['breaches'])} bias metric(s) outside the model's limits"
    elif judged == 0:
        status, reason = "insufficient_data", "insufficient data: no facet could be judged on the labelled answers"
    else:
        status, reason = "no_violations", f"every limited post-training metric within limits on {len(counted)} answers"
    return document | {"status": status, "reason": reason}


def _judged_metrics(
    results: Mapping[str, Any], limits: Mapping[str, Mapping[str, float]], facet: Facet, breaches: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each metric of one facet with its limit and verdict; a breach is also appended to ``breaches``."""
    metrics = []
    for name, result in results.items():
        if name == "FT":
            continue  # the flip test needs the model's feature matrix: the post-training bias job reports it
        limit = limits.get(name)
        metric: dict[str, Any] = {"name": name, "value": result.value}
        if result.error:
            metric["error"] = result.error
        if limit:
            metric["limit"] = dict(limit)
            metric["breach"] = not _within(result.value, limit)
            if metric["breach"]:
                breaches.append(_breach(facet.name, facet.value_or_threshold, name, result, limit))
        metrics.append(metric)
    return metrics


def _within(value: float | None, limit: Mapping[str, float]) -> bool:
    if value is None:
        return False  # an unverifiable limit is not a met one (the bias gate's rule)
    return limit.get("min", value) <= value <= limit.get("max", value)


def _breach(facet: str, selector: str, metric: str, result: Any, limit: Mapping[str, float]) -> dict[str, Any]:
    value = "undefined" if result.value is None else f"{result.value:.6g}"
    bounds = ", ".join(f"{k} {v:g}" for k, v in limit.items())
    return {
        "facet": facet,
        "metric": metric,
        "value": result.value,
        "limit": dict(limit),
        "description": f"facet {facet!r} ({selector}) {metric} = {value} outside limit [{bounds}] on captured traffic",
    }
