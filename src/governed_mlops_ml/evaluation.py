"""The evaluation job's logic, free of I/O: score a labelled test set and build its quality documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import xgboost as xgb

from governed_mlops_ml.features import FeatureSpec, encode_target
from governed_mlops_ml.metrics import binary_classification_metrics, model_quality_statistics
from governed_mlops_ml.model import predict_scores

__all__ = ["PREDICTION_COLUMNS", "Evaluation", "evaluate_model"]

PREDICTION_COLUMNS = ("row_index", "actual", "score")
"""Columns of ``predictions.csv``: 0-based row of the test CSV, actual label, P(positive label)."""


@dataclass(frozen=True)
class Evaluation:
    """The ``evaluation.json`` document and the per-row predictions behind it."""

    statistics: dict[str, Any]
    predictions: pd.DataFrame


def evaluate_model(booster: xgb.Booster, spec: FeatureSpec, frame: pd.DataFrame, threshold: float) -> Evaluation:
    """Score ``frame`` and compute the Model Registry quality statistics at ``threshold``.

    Raises:
        JobInputError: a feature or the target column is missing or malformed, the target holds a
            label unseen in training, or the test set does not contain both labels.
    """
    labels = encode_target(frame, spec)
    scores = predict_scores(booster, spec, frame)
    metrics = binary_classification_metrics(labels, scores, threshold)
    statistics = model_quality_statistics(
        metrics, positive_label=spec.positive_label, negative_label=spec.negative_label, rows=int(labels.size)
    )
    predictions = pd.DataFrame(
        {
            "row_index": range(len(frame)),
            "actual": frame[spec.target].astype(str).to_numpy(dtype=object),
            "score": scores,
        },
        columns=list(PREDICTION_COLUMNS),
    )
    return Evaluation(statistics=statistics, predictions=predictions)
