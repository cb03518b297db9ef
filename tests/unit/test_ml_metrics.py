"""Quality metrics against scikit-learn and SciPy oracles, edge cases, and the Model Registry document."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score, roc_curve

from governed_mlops.errors import JobInputError
from governed_mlops_ml.metrics import (
    BinaryClassificationMetrics,
    binary_classification_metrics,
    ks_statistic,
    model_quality_statistics,
)

LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 1, 0, 1])
SCORES = np.array([0.9, 0.8, 0.55, 0.4, 0.7, 0.2, 0.1, 0.5, 0.5, 0.95])

# Scores drawn from a few values so that ties between and within the classes are common.
_scored_rows = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 6).map(lambda step: step / 6)), min_size=2, max_size=60
).filter(lambda rows: len({label for label, _ in rows}) == 2)


# Only the statistic is compared; SciPy's p-value computation warns on tiny or tied samples.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@given(_scored_rows)
def test_ks_equals_scipy_two_sample_ks_statistic(rows: list[tuple[int, float]]) -> None:
    labels = np.array([label for label, _ in rows])
    scores = np.array([score for _, score in rows])

    expected = ks_2samp(scores[labels == 1], scores[labels == 0]).statistic

    assert ks_statistic(labels, scores) == pytest.approx(expected, abs=1e-12)


@given(_scored_rows)
def test_ks_equals_largest_gap_between_tpr_and_fpr(rows: list[tuple[int, float]]) -> None:
    labels = np.array([label for label, _ in rows])
    scores = np.array([score for _, score in rows])

    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)

    assert ks_statistic(labels, scores) == pytest.approx(np.max(np.abs(tpr - fpr)), abs=1e-12)


def test_ks_is_one_when_the_classes_are_perfectly_separated() -> None:
    assert ks_statistic([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_ks_is_zero_when_scores_do_not_depend_on_the_class() -> None:
    assert ks_statistic([0, 1, 0, 1], [0.3, 0.3, 0.7, 0.7]) == 0.0


@pytest.fixture
def metrics() -> BinaryClassificationMetrics:
    return binary_classification_metrics(LABELS, SCORES, threshold=0.5)


def test_auc_matches_sklearn(metrics: BinaryClassificationMetrics) -> None:
    assert metrics.auc == pytest.approx(roc_auc_score(LABELS, SCORES), abs=1e-15)


def test_threshold_metrics_match_sklearn_with_scores_at_or_above_threshold_positive(
    metrics: BinaryClassificationMetrics,
) -> None:
    predicted = (SCORES >= 0.5).astype(int)

    assert (metrics.accuracy, metrics.precision, metrics.recall, metrics.f1) == pytest.approx(
        (
            accuracy_score(LABELS, predicted),
            precision_score(LABELS, predicted),
            recall_score(LABELS, predicted),
            f1_score(LABELS, predicted),
        ),
        abs=1e-15,
    )


def test_a_score_equal_to_the_threshold_is_predicted_positive() -> None:
    result = binary_classification_metrics([1, 0], [0.5, 0.2], threshold=0.5)

    assert result.confusion.true_positives == 1


def test_confusion_counts_add_up_to_tpr_and_fpr(metrics: BinaryClassificationMetrics) -> None:
    counts = metrics.confusion

    assert (counts.true_positives, counts.false_negatives, counts.false_positives, counts.true_negatives) == (
        5,
        1,
        2,
        2,
    )
    assert (metrics.true_positive_rate, metrics.false_positive_rate) == (5 / 6, 2 / 4)


def test_precision_and_f1_are_zero_when_nothing_is_predicted_positive() -> None:
    result = binary_classification_metrics([1, 0, 1], [0.1, 0.2, 0.3], threshold=0.9)

    assert (result.precision, result.recall, result.f1) == (0.0, 0.0, 0.0)


def test_roc_curve_matches_sklearn(metrics: BinaryClassificationMetrics) -> None:
    fpr, tpr, _ = roc_curve(LABELS, SCORES, drop_intermediate=True)

    assert metrics.roc_false_positive_rates == tuple(fpr)
    assert metrics.roc_true_positive_rates == tuple(tpr)


def test_single_class_labels_are_refused_with_a_clear_error() -> None:
    with pytest.raises(JobInputError, match="need both classes.*3 positive and 0 negative"):
        binary_classification_metrics([1, 1, 1], [0.2, 0.5, 0.9], threshold=0.5)


def test_ks_refuses_single_class_labels() -> None:
    with pytest.raises(JobInputError, match="need both classes"):
        ks_statistic([0, 0], [0.2, 0.5])


def test_labels_other_than_zero_and_one_are_refused() -> None:
    with pytest.raises(JobInputError, match="0 \\(negative\\) or 1 \\(positive\\)"):
        binary_classification_metrics([0, 2], [0.2, 0.5], threshold=0.5)


def test_non_finite_scores_are_refused() -> None:
    with pytest.raises(JobInputError, match="finite"):
        binary_classification_metrics([0, 1], [0.2, np.nan], threshold=0.5)


def test_labels_and_scores_of_different_lengths_are_refused() -> None:
    with pytest.raises(JobInputError, match="equal length"):
        binary_classification_metrics([0, 1, 1], [0.2, 0.5], threshold=0.5)


def test_statistics_carry_each_metric_with_a_nan_standard_deviation(
    metrics: BinaryClassificationMetrics,
) -> None:
    section = model_quality_statistics(metrics, positive_label="good", negative_label="bad", rows=10)[
        "binary_classification_metrics"
    ]

    for name in (
        "auc",
        "ks",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "true_positive_rate",
        "false_positive_rate",
    ):
        assert section[name] == {"value": getattr(metrics, name), "standard_deviation": "NaN"}


def test_statistics_confusion_matrix_is_keyed_by_actual_then_predicted_label(
    metrics: BinaryClassificationMetrics,
) -> None:
    statistics = model_quality_statistics(metrics, positive_label="good", negative_label="bad", rows=10)

    assert statistics["binary_classification_metrics"]["confusion_matrix"] == {
        "good": {"good": 5, "bad": 1},
        "bad": {"good": 2, "bad": 2},
    }


def test_statistics_record_threshold_rows_and_labels(metrics: BinaryClassificationMetrics) -> None:
    statistics = model_quality_statistics(metrics, positive_label="good", negative_label="bad", rows=10)

    assert {key: statistics[key] for key in ("threshold", "rows", "positive_label", "negative_label")} == {
        "threshold": 0.5,
        "rows": 10,
        "positive_label": "good",
        "negative_label": "bad",
    }


def test_statistics_are_strict_json(metrics: BinaryClassificationMetrics) -> None:
    statistics = model_quality_statistics(metrics, positive_label="good", negative_label="bad", rows=10)

    assert json.loads(json.dumps(statistics, allow_nan=False)) == statistics
