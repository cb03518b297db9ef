"""Model quality against ground truth that arrives later.

A client that wants its answers judged sends an inference id with each request
(``InvokeEndpoint``'s ``InferenceId``; Data Capture records it as ``eventMetadata.inferenceId``).
When the outcomes are known, a label file is uploaded for the endpoint: CSV with the header
``inference_id,label``, one row per answered applicant, ``label`` written as the training data
writes the target (``good`` / ``bad`` for German credit). A request of several rows is labelled per
row as ``<inference id>:<row number from 1>``.

Monitoring joins the captured answers of the serving model with the labels and computes AUC and
accuracy (at the model's decision threshold) over every labelled answer. The gate: AUC may drop at
most ``monitoring.quality.max_auc_drop`` below the AUC the model was registered with. Fewer labelled
answers than ``monitoring.quality.min_labelled`` give "insufficient data", not a verdict.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from governed_mlops.errors import PipelineError

#: A label row is ``<inference id>,<label>``.
_LABEL_FIELDS = 2
#: AUC needs both outcomes among the labels.
_BOTH_OUTCOMES = 2

__all__ = [
    "GROUND_TRUTH_PREFIX",
    "INFERENCE_ID_PATTERN",
    "LABEL_HEADER",
    "LabelFileError",
    "QualityVerdict",
    "answers_of_record",
    "judge_quality",
    "parse_label_file",
]

LABEL_HEADER = ("inference_id", "label")
#: Where an endpoint's label files are stored in the artifacts bucket (``mlops labels upload``).
GROUND_TRUTH_PREFIX = "ground-truth/{endpoint}/"
#: SageMaker's InferenceId: 1 to 64 printable characters, no leading whitespace.
INFERENCE_ID_PATTERN = re.compile(r"\A[!-~][ -~]{0,63}\Z")
MAX_LABEL_FILE_BYTES = 50 * 1024 * 1024

QualityStatus = Literal["no_violations", "violations", "insufficient_data"]


class LabelFileError(PipelineError):
    """A ground-truth label file that cannot be used; the message names the line and what to fix."""


def parse_label_file(data: bytes, source: str) -> dict[str, str]:
    """``inference id -> label`` from a label file.

    Raises:
        LabelFileError: the file is empty, too large, not UTF-8 CSV, its header is not
            ``inference_id,label``, or a row has an invalid id, an empty label, or repeats an id.
    """
    if len(data) > MAX_LABEL_FILE_BYTES:
        raise LabelFileError(f"{source}: {len(data)} bytes; split it into files of at most {MAX_LABEL_FILE_BYTES}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"{source}: not UTF-8 text ({exc}); save it as UTF-8 CSV") from exc
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise LabelFileError(f"{source}: empty; the first line must be the header inference_id,label")
    header = tuple(cell.strip() for cell in rows[0])
    if header != LABEL_HEADER:
        raise LabelFileError(f"{source}: the header is {','.join(header)!r}; it must be exactly inference_id,label")
    labels: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != _LABEL_FIELDS:
            raise LabelFileError(f"{source} line {line}: {len(row)} fields; each row is inference_id,label")
        inference_id, label = row[0].strip(), row[1].strip()
        if not INFERENCE_ID_PATTERN.match(inference_id):
            raise LabelFileError(
                f"{source} line {line}: inference id {inference_id!r} is not 1-64 printable characters"
            )
        if not label:
            raise LabelFileError(f"{source} line {line}: the label of {inference_id!r} is empty")
        if inference_id in labels:
            raise LabelFileError(f"{source} line {line}: inference id {inference_id!r} appears twice")
        labels[inference_id] = label
    if not labels:
        raise LabelFileError(f"{source}: no label rows after the header")
    return labels


def _scores_of_output(output: Mapping[str, Any]) -> list[float]:
    """The scores of one captured answer: JSON ``predictions`` or one CSV score per line."""
    text = str(output.get("data", ""))
    if output.get("encoding") == "BASE64":
        text = base64.b64decode(text, validate=True).decode("utf-8")
    if text.lstrip().startswith("{"):
        document = json.loads(text)
        return [float(p["score"]) for p in document.get("predictions", [])]
    return [float(line) for line in text.splitlines() if line.strip()]


def answers_of_record(record: Mapping[str, Any]) -> dict[str, float]:
    """``inference id -> score`` of a Data Capture record that carries an inference id (else empty).

    One row: the request's id. Several rows: ``<id>:<row number from 1>``. A record whose output was
    not captured or cannot be read gives nothing (it cannot be judged).
    """
    inference_id = (record.get("eventMetadata") or {}).get("inferenceId")
    output = (record.get("captureData") or {}).get("endpointOutput")
    if not inference_id or not output:
        return {}
    try:
        scores = _scores_of_output(output)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return {}
    if len(scores) == 1:
        return {str(inference_id): scores[0]}
    return {f"{inference_id}:{row}": score for row, score in enumerate(scores, start=1)}


@dataclass(frozen=True)
class QualityVerdict:
    """Model quality over the labelled answers: counts, AUC, accuracy, the gate and its verdict."""

    status: QualityStatus
    labelled: int
    min_labelled: int
    positives: int
    auc: float | None
    accuracy: float | None
    registered_auc: float | None
    max_auc_drop: float
    threshold: float
    unknown_labels: tuple[str, ...]
    reason: str

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self) | {"unknown_labels": list(self.unknown_labels)}


def judge_quality(
    answers: Mapping[str, float],
    labels: Mapping[str, str],
    *,
    positive_label: str,
    negative_labels: Iterable[str],
    threshold: float,
    registered_auc: float | None,
    max_auc_drop: float,
    min_labelled: int,
) -> QualityVerdict:
    """Join answers and labels by inference id and judge the model's quality.

    A label that is neither the positive label nor one of ``negative_labels`` is not counted and is
    reported (``unknown_labels``): a typo must not silently flip an outcome.
    """
    negatives = set(negative_labels)
    pairs: list[tuple[bool, float]] = []
    unknown: set[str] = set()
    for inference_id, score in answers.items():
        label = labels.get(inference_id)
        if label is None:
            continue
        if label == positive_label:
            pairs.append((True, score))
        elif label in negatives:
            pairs.append((False, score))
        else:
            unknown.add(label)
    truth: Sequence[bool] = [actual for actual, _ in pairs]
    scores: Sequence[float] = [score for _, score in pairs]

    def verdict(status: QualityStatus, auc: float | None, accuracy: float | None, reason: str) -> QualityVerdict:
        return QualityVerdict(
            status=status,
            labelled=len(pairs),
            min_labelled=min_labelled,
            positives=sum(truth),
            auc=auc,
            accuracy=accuracy,
            registered_auc=registered_auc,
            max_auc_drop=max_auc_drop,
            threshold=threshold,
            unknown_labels=tuple(sorted(unknown)),
            reason=reason,
        )

    if len(pairs) < min_labelled:
        return verdict(
            "insufficient_data",
            None,
            None,
            f"insufficient data: {len(pairs)} labelled answers, {min_labelled} needed for a verdict",
        )
    accuracy = sum((score >= threshold) == actual for actual, score in pairs) / len(pairs)
    if len(set(truth)) < _BOTH_OUTCOMES:
        return verdict(
            "insufficient_data",
            None,
            accuracy,
            f"insufficient data: all {len(pairs)} labelled answers have the same outcome; AUC needs both",
        )
    # scikit-learn is imported here, on the first analysis: the local runtime imports this module's
    # constants at start-up, where scikit-learn would cost it a tenth of a second or more.
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - see above

    auc = float(roc_auc_score(truth, scores))  # as the evaluation job computes the registered AUC
    if registered_auc is not None and math.isfinite(registered_auc) and auc < registered_auc - max_auc_drop:
        return verdict(
            "violations",
            auc,
            accuracy,
            f"AUC {auc:.4f} on {len(pairs)} labelled answers is {registered_auc - auc:.4f} below the registered "
            f"{registered_auc:.4f} (allowed drop {max_auc_drop:g})",
        )
    return verdict(
        "no_violations", auc, accuracy, f"AUC {auc:.4f} and accuracy {accuracy:.4f} on {len(pairs)} labelled answers"
    )
