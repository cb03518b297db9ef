"""Binary classification quality metrics and the SageMaker Model Registry "ModelQuality" document.

Labels are 0/1 with 1 the positive (favourable) label; scores are P(positive). A row is predicted
positive when its score is at or above the decision threshold. Every metric needs both classes, so a
single-class input is refused with a clear error instead of producing an undefined AUC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from governed_mlops.errors import JobInputError

__all__ = [
    "BinaryClassificationMetrics",
    "ConfusionCounts",
    "binary_classification_metrics",
    "ks_statistic",
    "model_quality_statistics",
]

# The Model Registry statistics shape carries a standard deviation per metric; a single evaluation
# on one test set has none, which SageMaker Model Monitor writes as the string "NaN".
_NO_STANDARD_DEVIATION = "NaN"


@dataclass(frozen=True)
class ConfusionCounts:
    """Confusion matrix counts at the decision threshold."""

    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int


@dataclass(frozen=True)
class BinaryClassificationMetrics:
    """Threshold-free (AUC, KS, ROC curve) and threshold metrics of one scored test set."""

    auc: float
    ks: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    true_positive_rate: float
    false_positive_rate: float
    threshold: float
    confusion: ConfusionCounts
    roc_false_positive_rates: tuple[float, ...]
    roc_true_positive_rates: tuple[float, ...]


def ks_statistic(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the score ECDFs of positives and negatives.

    Equal to ``max |TPR - FPR|`` over all thresholds and to ``scipy.stats.ks_2samp(pos, neg).statistic``.

    Raises:
        JobInputError: labels are not 0/1, both classes are not present, or a score is not finite.
    """
    label_array, score_array = _validated(labels, scores)
    positives = np.sort(score_array[label_array == 1])
    negatives = np.sort(score_array[label_array == 0])
    # Both ECDFs are step functions that only jump at observed scores, so the supremum of their
    # difference is attained at one of the observed scores.
    observed = np.concatenate([positives, negatives])
    ecdf_positives = np.searchsorted(positives, observed, side="right") / positives.size
    ecdf_negatives = np.searchsorted(negatives, observed, side="right") / negatives.size
    return float(np.max(np.abs(ecdf_positives - ecdf_negatives)))


def binary_classification_metrics(
    labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float
) -> BinaryClassificationMetrics:
    """Compute AUC, KS, the ROC curve and accuracy/precision/recall/F1/TPR/FPR at ``threshold``.

    Precision (and so F1) is 0 when nothing is predicted positive.

    Raises:
        JobInputError: labels are not 0/1, both classes are not present, a score is not finite, or
            the threshold is not a finite number.
    """
    label_array, score_array = _validated(labels, scores)
    if not np.isfinite(threshold):
        raise JobInputError(f"decision threshold must be finite, got {threshold!r}")
    predicted = (score_array >= threshold).astype(np.int64)
    tn, fp, fn, tp = (int(count) for count in confusion_matrix(label_array, predicted, labels=[0, 1]).ravel())
    roc_fpr, roc_tpr, _ = roc_curve(label_array, score_array, drop_intermediate=True)
    return BinaryClassificationMetrics(
        auc=float(roc_auc_score(label_array, score_array)),
        ks=ks_statistic(label_array, score_array),
        accuracy=float(accuracy_score(label_array, predicted)),
        precision=float(precision_score(label_array, predicted, zero_division=0.0)),
        recall=float(recall_score(label_array, predicted)),
        f1=float(f1_score(label_array, predicted, zero_division=0.0)),
        true_positive_rate=tp / (tp + fn),
        false_positive_rate=fp / (fp + tn),
        threshold=float(threshold),
        confusion=ConfusionCounts(true_positives=tp, false_positives=fp, true_negatives=tn, false_negatives=fn),
        roc_false_positive_rates=tuple(float(value) for value in roc_fpr),
        roc_true_positive_rates=tuple(float(value) for value in roc_tpr),
    )


def model_quality_statistics(
    metrics: BinaryClassificationMetrics, *, positive_label: str, negative_label: str, rows: int
) -> dict[str, Any]:
    """The evaluation document in the Model Registry "ModelQuality" statistics shape.

    The confusion matrix is keyed by actual label, then predicted label, using the dataset's labels.
    """
    confusion = metrics.confusion
    return {
        "binary_classification_metrics": {
            "auc": _metric(metrics.auc),
            "ks": _metric(metrics.ks),
            "accuracy": _metric(metrics.accuracy),
            "precision": _metric(metrics.precision),
            "recall": _metric(metrics.recall),
            "f1": _metric(metrics.f1),
            "true_positive_rate": _metric(metrics.true_positive_rate),
            "false_positive_rate": _metric(metrics.false_positive_rate),
            "confusion_matrix": {
                positive_label: {
                    positive_label: confusion.true_positives,
                    negative_label: confusion.false_negatives,
                },
                negative_label: {
                    positive_label: confusion.false_positives,
                    negative_label: confusion.true_negatives,
                },
            },
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": list(metrics.roc_false_positive_rates),
                "true_positive_rates": list(metrics.roc_true_positive_rates),
            },
        },
        "threshold": metrics.threshold,
        "rows": rows,
        "positive_label": positive_label,
        "negative_label": negative_label,
    }


def _metric(value: float) -> dict[str, Any]:
    return {"value": value, "standard_deviation": _NO_STANDARD_DEVIATION}


def _validated(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    label_array = np.asarray(labels)
    score_array = np.asarray(scores, dtype=np.float64)
    if label_array.ndim != 1 or score_array.shape != label_array.shape:
        raise JobInputError(
            "labels and scores must be 1-D arrays of equal length, "
            f"got shapes {label_array.shape} and {score_array.shape}"
        )
    if not np.isin(label_array, (0, 1)).all():
        raise JobInputError("labels must be 0 (negative) or 1 (positive)")
    label_array = label_array.astype(np.int64)
    positives = int(label_array.sum())
    if positives in (0, label_array.size):
        raise JobInputError(
            "metrics need both classes (a single-class test set has no AUC), "
            f"got {positives} positive and {label_array.size - positives} negative rows"
        )
    if not np.isfinite(score_array).all():
        raise JobInputError("scores must be finite numbers")
    return label_array, score_array
