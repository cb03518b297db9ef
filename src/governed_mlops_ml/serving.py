"""The inference contract: one code path for the local endpoint and the SageMaker container.

A client sends applicants as raw JSON (``{"instances": [{feature: value, ...}, ...]}``; encoded rows
and CSV are accepted too, see :func:`~governed_mlops_ml.monitoring.parse_payload`) and, asking for
``application/json``, gets back per row::

    {"score": 0.83, "decision": "approve", "threshold": 0.5, "model_version": "credit-risk/3",
     "reasons": [{"feature": ..., "value": ..., "contribution": -0.41, "text": ...}, ...]}

``score`` is P(target == positive label); ``decision`` is the favourable outcome (``approve`` for a
credit model configured so, otherwise the dataset's positive label) when the score reaches the
threshold the model was gated with, the unfavourable one (``deny``, or the dataset's other label)
below it; ``reasons`` are the adverse-action reason codes: the features whose exact TreeSHAP
contribution pushed the score toward the unfavourable outcome, most negative first (at most
:data:`TOP_REASONS`). Asking for ``text/csv`` gives one score per line, as the SageMaker XGBoost
container answers, for batch clients.

The model directory is what training writes (``xgboost-model``, ``feature_spec.json``,
``inference.json`` with the decision threshold); the model version and the endpoint name come from
the container's environment (:data:`MODEL_VERSION_ENV`, :data:`ENDPOINT_NAME_ENV`, set by the
pipeline's CreateModel).

Every scored request also yields one behaviour metric line (:func:`prediction_metric_line`): the
SageMaker container prints it to stdout, which SageMaker ships to the endpoint's log group, where the
pipeline's metric filters (:func:`prediction_metric_filters`) turn it into the CloudWatch metrics the
canary's rollback alarm reads. ``jobs/inference.py``
wraps :class:`ServingModel` in SageMaker's script-mode handler functions; the local hosting emulator
calls the same class.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import load_feature_spec
from governed_mlops_ml.explain import adverse_reasons, dataset_decisions, explain_matrix, raw_value_text
from governed_mlops_ml.features import FeatureSpec
from governed_mlops_ml.job_config import DecisionLabels, parse_decision_labels
from governed_mlops_ml.metric_contract import (
    METRIC_EVENT,
    METRIC_NAMESPACE,
    POSITIVE_PREDICTIONS_METRIC,
    PREDICTED_ROWS_METRIC,
    prediction_metric_filters,
)
from governed_mlops_ml.model import load_booster
from governed_mlops_ml.monitoring import (
    CSV_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    InferencePayload,
    negotiate_accept,
    parse_payload,
)

_MATRIX = 2  # rows x columns

__all__ = [
    "ENDPOINT_NAME_ENV",
    "INFERENCE_FILE",
    "METRIC_EVENT",
    "METRIC_NAMESPACE",
    "MODEL_VERSION_ENV",
    "POSITIVE_PREDICTIONS_METRIC",
    "PREDICTED_ROWS_METRIC",
    "SERVING_CODE_DIR",
    "SERVING_PROGRAM",
    "TOP_REASONS",
    "Answer",
    "ServingModel",
    "copy_serving_code",
    "prediction_metric_filters",
    "prediction_metric_line",
    "render",
    "render_scores",
    "write_inference_settings",
]

INFERENCE_FILE = "inference.json"
"""In the model directory: ``{"decision_threshold": t, "decisions": {...}}``, written by training."""
SERVING_CODE_DIR = "code"
"""In the model directory: the job code that serves the model (SageMaker's network-isolation layout)."""
SERVING_PROGRAM = "inference.py"
"""The script-mode entry point the container runs (``SAGEMAKER_PROGRAM``)."""
MODEL_VERSION_ENV = "MLOPS_MODEL_VERSION"
"""Container environment variable naming the registered model version the endpoint serves."""
ENDPOINT_NAME_ENV = "MLOPS_ENDPOINT_NAME"
"""Container environment variable naming the endpoint the model was created for (the metric dimension)."""
TOP_REASONS = 4
"""Adverse-action notices customarily give up to four principal reasons."""
_UNKNOWN = "unknown"


def write_inference_settings(model_dir: Path, decision_threshold: float, *, decisions: DecisionLabels) -> Path:
    """Write ``inference.json`` next to the booster: how the served model turns a score into a decision."""
    if not 0.0 < decision_threshold < 1.0:
        raise JobInputError(f"decision threshold must lie strictly between 0 and 1, got {decision_threshold!r}")
    path = model_dir / INFERENCE_FILE
    document = {"decision_threshold": decision_threshold, "decisions": decisions.to_json_dict()}
    path.write_text(json.dumps(document, sort_keys=True) + "\n", encoding="utf-8")
    return path


def copy_serving_code(source: Path, destination: Path) -> list[Path]:
    """Copy the job code (every ``.py`` file under ``source``, no caches) into ``destination``.

    Training runs from the extracted ``sourcedir.tar.gz``; the copy makes the model archive carry the
    exact code that serves it. Returns the files written, relative to ``destination``.

    Raises:
        JobInputError: ``source`` holds no ``inference.py``.
    """
    if not (source / SERVING_PROGRAM).is_file():
        raise JobInputError(f"{SERVING_PROGRAM} not found in {source}: the job code cannot serve the model")
    written = []
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source)
        if "__pycache__" in relative.parts:
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(relative)
    return written


def _read_inference_settings(model_dir: Path) -> tuple[float, DecisionLabels | None]:
    """The decision threshold and the decisions' names (None in a model trained before they were written)."""
    path = model_dir / INFERENCE_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobInputError(
            f"{INFERENCE_FILE} not found in {model_dir}: the model was trained before the inference contract; "
            "retrain it (mlops upload, or push a commit)"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JobInputError(f"cannot read {path}: {exc}") from exc
    threshold = document.get("decision_threshold") if isinstance(document, dict) else None
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 < threshold < 1.0:
        raise JobInputError(f"{path}: decision_threshold must be a number strictly between 0 and 1, got {threshold!r}")
    decisions = document.get("decisions")
    return float(threshold), None if decisions is None else parse_decision_labels(decisions, str(path))


@dataclass(frozen=True)
class Answer:
    """One response: its body and content type, and the scores (for the endpoint's metrics)."""

    body: bytes
    content_type: str
    scores: npt.NDArray[np.float64]


@dataclass
class ServingModel:
    """A trained model ready to answer requests: booster, feature spec, threshold and version."""

    booster: Any  # xgboost.Booster (xgboost ships no type information)
    spec: FeatureSpec
    threshold: float
    model_version: str | None
    top_reasons: int = TOP_REASONS
    endpoint_name: str | None = None
    #: The decisions' names from ``inference.json``; None (a model trained before they were written): the labels.
    decisions: DecisionLabels | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, model_dir: Path, environ: Mapping[str, str] | None = None) -> ServingModel:
        """Load the model directory training wrote; ``environ`` is the container's environment.

        Raises:
            JobInputError: a file is missing or unreadable.
        """
        spec = load_feature_spec(model_dir)
        booster = load_booster(model_dir)
        # A spec that does not fit the booster loads (as in the container) and fails every request with 500.
        booster.set_param({"nthread": 1})
        version = (environ or {}).get(MODEL_VERSION_ENV) or None
        endpoint = (environ or {}).get(ENDPOINT_NAME_ENV) or None
        threshold, decisions = _read_inference_settings(model_dir)
        return cls(
            booster=booster,
            spec=spec,
            threshold=threshold,
            decisions=decisions,
            model_version=version,
            endpoint_name=endpoint,
        )

    @property
    def labels(self) -> DecisionLabels:
        """What the model answers: its configured decisions, else its dataset's positive and other label."""
        return self.decisions or dataset_decisions(self.spec)

    def scores(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P(positive) per row. In-place prediction: a one-row request does not pay for a DMatrix.

        Raises:
            JobInputError: the matrix width differs from what the booster was trained on.
        """
        if matrix.ndim != _MATRIX or matrix.shape[1] != self.booster.num_features():
            raise JobInputError(
                f"encoded matrix has shape {matrix.shape}, the model expects {self.booster.num_features()} columns"
            )
        with self.lock:
            return np.asarray(self.booster.inplace_predict(matrix, missing=np.nan), dtype=np.float64)

    def predictions(self, payload: InferencePayload) -> list[dict[str, Any]]:
        """Score, decision, threshold, model version and reason codes for every row of ``payload``.

        Raises:
            PayloadError: 400 for a row the model cannot score (see :meth:`InferencePayload.matrix`).
        """
        matrix = payload.matrix(self.spec)
        scores = self.scores(matrix)
        with self.lock:
            table = explain_matrix(self.booster, self.spec, matrix)
        values = payload.frame(self.spec)
        answers = []
        for row, score in enumerate(scores):
            raw = {name: raw_value_text(values.iat[row, column]) for column, name in enumerate(self.spec.raw_features)}
            reasons = adverse_reasons(self.spec, table.row(row), raw, self.top_reasons)
            answers.append(
                {
                    "score": float(score),
                    "decision": self.labels.of(float(score), self.threshold),
                    "threshold": self.threshold,
                    "model_version": self.model_version,
                    "reasons": [
                        {"feature": r.feature, "value": r.value, "contribution": r.contribution, "text": r.text}
                        for r in reasons
                    ],
                }
            )
        return answers

    def respond(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """Answer one request as the endpoint does.

        Raises:
            PayloadError: 406 for an accept header naming neither CSV nor JSON (checked before the body
                is read), 413/415/400 for a body the model cannot serve.
        """
        chosen = negotiate_accept(accept)
        payload = parse_payload(body, content_type, self.spec)
        if chosen == CSV_CONTENT_TYPE:  # scores only: no reason codes to compute
            scores = self.scores(payload.matrix(self.spec))
            return Answer(render_scores(scores), CSV_CONTENT_TYPE, scores)
        answers = self.predictions(payload)
        body_out, _ = render(answers, JSON_CONTENT_TYPE)
        scores = np.asarray([a["score"] for a in answers], dtype=np.float64)
        return Answer(body_out, JSON_CONTENT_TYPE, scores)


def render_scores(scores: Sequence[float] | npt.NDArray[np.float64]) -> bytes:
    """One score per line: the SageMaker XGBoost container's CSV answer."""
    return "".join(f"{float(score)!r}\n" for score in scores).encode()


def render(answers: Sequence[Mapping[str, Any]], accept: str | None) -> tuple[bytes, str]:
    """The body and content type of :meth:`ServingModel.predictions`' answers for ``accept``.

    Raises:
        PayloadError: 406 when the accept header names neither CSV, JSON nor a wildcard.
    """
    chosen = negotiate_accept(accept)
    if chosen == CSV_CONTENT_TYPE:
        return render_scores([a["score"] for a in answers]), CSV_CONTENT_TYPE
    return json.dumps({"predictions": list(answers)}).encode(), JSON_CONTENT_TYPE


def prediction_metric_line(answers: Sequence[Mapping[str, Any]], model: ServingModel) -> str:
    """One JSON line for the endpoint's log: rows predicted and how many the model approved.

    ``{"mlops_metric": "predictions", "EndpointName": ..., "ModelVersion": ..., "PredictedRows": n,
    "PositivePredictions": k}`` - a positive prediction is a row whose decision is the favourable one (score
    at or above the model's gated threshold), the rate ``min_positive_rate``/``max_positive_rate`` bound. The
    container cannot know its production variant, so the line names the model version it serves: during
    a blue/green update the old and new fleets serve different versions, which keeps the canary's metric
    apart from the old fleet's. A missing environment value is written as ``unknown`` (the metric filter
    needs every dimension field present).
    """
    positives = sum(1 for answer in answers if float(answer["score"]) >= float(answer["threshold"]))
    return json.dumps(
        {
            "mlops_metric": METRIC_EVENT,
            "EndpointName": model.endpoint_name or _UNKNOWN,
            "ModelVersion": model.model_version or _UNKNOWN,
            PREDICTED_ROWS_METRIC: len(answers),
            POSITIVE_PREDICTIONS_METRIC: positives,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
