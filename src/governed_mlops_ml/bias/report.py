"""Metric sets and Clarify's ``analysis.json`` report of one stage for every configured facet.

The label vector, the group codes and the flip test's scaled feature matrix are prepared once per
report; each facet is counted once (one ``np.bincount`` over its mask) and every metric of the stage
is a formula of those counts. The values equal those of the per-metric functions, which count for
themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt
import pandas as pd

from governed_mlops.domain.bias_names import (
    METRIC_DESCRIPTIONS,
    POST_TRAINING_METRICS,
    PRE_TRAINING_METRICS,
    STAGE_SECTIONS,
)
from governed_mlops.errors import JobInputError
from governed_mlops_ml.bias.config import BiasJobConfig
from governed_mlops_ml.bias.counts import (
    Confusion,
    Labels,
    Mask,
    Matrix,
    UndefinedMetricError,
    binary,
    distributions,
    facet_cells,
    facet_mask,
)
from governed_mlops_ml.bias.facets import binary_labels, facet_d_mask
from governed_mlops_ml.bias.flip_test import feature_matrix, flip_test, unit_range, without_source
from governed_mlops_ml.bias.post_training import ad_of, dar_of, dca_of, dcr_of, di_of, drr_of, rd_of, te_of
from governed_mlops_ml.bias.pre_training import (
    GroupCodes,
    cdd_of,
    ci_of,
    dpl_of,
    group_codes,
    js_of,
    kl_of,
    ks_of,
    lp_of,
    tvd_of,
)

__all__ = ["ANALYSIS_VERSION", "MetricResult", "bias_report", "post_training_metrics", "pre_training_metrics"]

ANALYSIS_VERSION = "1.0"


@dataclass(frozen=True)
class MetricResult:
    """One metric of one facet: its value, or ``None`` and the reason it is undefined."""

    name: str
    value: float | None
    error: str | None = None

    def to_report(self, limit: Mapping[str, float] | None = None) -> dict[str, Any]:
        """Clarify's metric entry ``{name, description, value}``, plus ``error`` and ``limit`` when set."""
        entry: dict[str, Any] = {
            "name": self.name,
            "description": METRIC_DESCRIPTIONS[self.name],
            "value": self.value,
        }
        if self.error is not None:
            entry["error"] = self.error
        if limit:
            entry["limit"] = dict(limit)
        return entry


def _measure(name: str, compute: Callable[[], float]) -> MetricResult:
    try:
        value = float(compute())
    except UndefinedMetricError as exc:
        return MetricResult(name=name, value=None, error=f"{name} is undefined: {exc}")
    return MetricResult(name=name, value=value)


def _in_stage_order(order: Sequence[str], computations: Mapping[str, Callable[[], float]]) -> dict[str, MetricResult]:
    return {name: _measure(name, computations[name]) for name in order if name in computations}


def pre_training_metrics(
    labels: npt.ArrayLike, facet_d: npt.ArrayLike, groups: Sequence[Any] | pd.Series | None = None
) -> dict[str, MetricResult]:
    """CI, DPL, KL, JS, LP, TVD, KS and (when ``groups`` is given) CDDL, keyed by Clarify name.

    Raises:
        JobInputError: labels that are not 0/1, a facet mask that does not fit them or selects no row
            or every row, or a group column of another length.
    """
    label_array = binary(labels, "labels")
    mask = facet_mask(facet_d, label_array.size)
    codes = group_codes(groups, label_array.size) if groups is not None else None
    return _pre_training(label_array, mask, codes)


def _pre_training(labels: Labels, mask: Mask, codes: GroupCodes | None) -> dict[str, MetricResult]:
    cells = facet_cells(mask, labels)
    observed = distributions(cells)
    n_a, n_d = (int(count) for count in cells.sum(axis=1))
    computations: dict[str, Callable[[], float]] = {
        "CI": lambda: ci_of(n_a, n_d),
        "DPL": lambda: dpl_of(observed),
        "KL": lambda: kl_of(observed),
        "JS": lambda: js_of(observed),
        "LP": lambda: lp_of(observed),
        "TVD": lambda: tvd_of(observed),
        "KS": lambda: ks_of(observed),
    }
    if codes is not None:
        computations["CDDL"] = lambda: cdd_of(labels, mask, codes)
    return _in_stage_order(PRE_TRAINING_METRICS, computations)


def post_training_metrics(
    labels: npt.ArrayLike,
    predicted: npt.ArrayLike,
    facet_d: npt.ArrayLike,
    groups: Sequence[Any] | pd.Series | None = None,
    features: npt.ArrayLike | None = None,
) -> dict[str, MetricResult]:
    """DPPL, DI, DCA, DCR, RD, DAR, DRR, AD, TE, FT and (when ``groups`` is given) CDDPL.

    FT needs ``features`` (see :func:`~.flip_test.flip_test_features`); without them it is reported undefined.

    Raises:
        JobInputError: labels or predicted labels that are not 0/1 or differ in length, a facet mask
            that does not fit them or selects no row or every row, or a group column of another length.
    """
    label_array = binary(labels, "labels")
    predicted_array = binary(predicted, "predicted labels")
    if predicted_array.shape != label_array.shape:
        raise JobInputError(
            f"labels and predicted labels differ in length: {label_array.size} != {predicted_array.size}"
        )
    mask = facet_mask(facet_d, label_array.size)
    codes = group_codes(groups, label_array.size) if groups is not None else None
    return _post_training(label_array, predicted_array, mask, codes, features)


def _post_training(
    labels: Labels, predicted: Labels, mask: Mask, codes: GroupCodes | None, features: npt.ArrayLike | None
) -> dict[str, MetricResult]:
    cells = facet_cells(mask, labels, predicted)
    a, d = Confusion.of(cells[0]), Confusion.of(cells[1])
    predictions = (a.predicted_distribution(), d.predicted_distribution())
    computations: dict[str, Callable[[], float]] = {
        "DPPL": lambda: dpl_of(predictions),
        "DI": lambda: di_of(predictions),
        "DCA": lambda: dca_of(a, d),
        "DCR": lambda: dcr_of(a, d),
        "RD": lambda: rd_of(a, d),
        "DAR": lambda: dar_of(a, d),
        "DRR": lambda: drr_of(a, d),
        "AD": lambda: ad_of(a, d),
        "TE": lambda: te_of(a, d),
        "FT": lambda: _flip_test_or_undefined(predicted, mask, features),
    }
    if codes is not None:
        computations["CDDPL"] = lambda: cdd_of(predicted, mask, codes)
    return _in_stage_order(POST_TRAINING_METRICS, computations)


def _flip_test_or_undefined(predicted: Labels, mask: Mask, features: npt.ArrayLike | None) -> float:
    if features is None:
        raise UndefinedMetricError("no feature matrix was given for the nearest-neighbour search")
    return flip_test(predicted, mask, features)


def bias_report(
    frame: pd.DataFrame,
    config: BiasJobConfig,
    *,
    stage: str,
    predicted: npt.ArrayLike | None = None,
    features: npt.ArrayLike | None = None,
    feature_sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Clarify's ``analysis.json`` for one stage (``"pre"`` or ``"post"``) of every configured facet.

    Shape: ``{"version": "1.0", "<stage section>": {"label", "facets": {facet name: [{"value_or_threshold",
    "metrics": [{name, description, value[, error][, limit]}]}]}, "label_value_or_threshold"[,
    "not_assessed_reason"]}}``; with no configured facet, ``facets`` is empty and the reason says why.
    The configured limits are copied next to their metrics; they are not enforced here.

    ``predicted`` (0/1 per row) is required for ``"post"``; ``features`` with ``feature_sources``
    (the model's input matrix and the raw column of each of its columns) enable the flip test.

    Raises:
        JobInputError: the stage is unknown, the label, a facet or the group column is missing or
            unusable, or the post-training inputs do not fit the data.
    """
    if stage not in STAGE_SECTIONS:
        raise JobInputError(f"unknown stage {stage!r}; expected one of {sorted(STAGE_SECTIONS)}")
    if config.label not in frame.columns:
        raise JobInputError(f"label column {config.label!r} is not in the data")
    labels = binary_labels(frame[config.label], config.positive_label)
    codes = _group_codes(frame, config.group_column)
    predicted_array = _post_training_inputs(stage, predicted, features, feature_sources, labels.size)
    # Scaled once for every facet; each facet then drops its own column (see unit_range).
    scaled = (
        unit_range(feature_matrix(features, feature_sources))
        if predicted_array is not None and features is not None and feature_sources is not None
        else None
    )
    facets: dict[str, list[dict[str, Any]]] = {}
    for facet in config.facets:
        mask = facet_d_mask(frame, facet)
        if predicted_array is None:
            results = _pre_training(labels, mask, codes)
        else:
            flip_features = _flip_features(scaled, feature_sources, facet.column)
            results = _post_training(labels, predicted_array, mask, codes, flip_features)
        limits = config.thresholds.get(facet.name, {})
        metrics = [result.to_report(limits.get(name)) for name, result in results.items()]
        facets[facet.name] = [{"value_or_threshold": facet.value_or_threshold, "metrics": metrics}]
    section: dict[str, Any] = {
        "label": config.label,
        "facets": facets,
        "label_value_or_threshold": config.positive_label,
    }
    if config.not_assessed_reason is not None:
        # Clarify's shape has no word for "nothing to analyse"; the reason travels with the (empty) facets.
        section["not_assessed_reason"] = config.not_assessed_reason
    return {"version": ANALYSIS_VERSION, STAGE_SECTIONS[stage]: section}


def _flip_features(scaled: Matrix | None, sources: Sequence[str] | None, facet_column: str) -> Matrix | None:
    if scaled is None or sources is None:
        return None
    return without_source(scaled, sources, facet_column)


def _group_codes(frame: pd.DataFrame, group_column: str | None) -> GroupCodes | None:
    if group_column is None:
        return None
    if group_column not in frame.columns:
        raise JobInputError(f"group column {group_column!r} is not in the data")
    return group_codes(frame[group_column], len(frame))


def _post_training_inputs(
    stage: str,
    predicted: npt.ArrayLike | None,
    features: npt.ArrayLike | None,
    feature_sources: Sequence[str] | None,
    rows: int,
) -> Labels | None:
    if stage == "pre":
        return None
    if predicted is None:
        raise JobInputError("post-training bias metrics need predicted labels")
    predicted_array = binary(predicted, "predicted labels")
    if predicted_array.size != rows:
        raise JobInputError(f"{predicted_array.size} predicted labels for {rows} rows")
    if (features is None) != (feature_sources is None):
        raise JobInputError("the flip test needs both the feature matrix and the source column of each feature")
    return predicted_array
