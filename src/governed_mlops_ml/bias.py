"""SageMaker Clarify bias metrics, under Clarify's names and with the definitions of its developer guide.

Notation (the developer guide's): facet *d* is the disadvantaged group a facet spec selects, facet *a*
every other row; label 1 is the favourable outcome (the configured positive label, credit granted),
label 0 every other label value. For facet *x*:

- ``n_x`` rows, ``n_x^(1)`` / ``n_x^(0)`` observed labels 1 / 0, ``q_x = n_x^(1) / n_x``;
- ``n̂_x^(1)`` / ``n̂_x^(0)`` predicted labels 1 / 0, ``q'_x = n̂_x^(1) / n_x``;
- ``TP_x, FP_x, TN_x, FN_x`` the confusion counts of predicted against observed labels;
- ``P_x(y)`` the distribution of observed labels, ``P_x = (1 - q_x, q_x)``.

A metric whose formula is undefined for the data (a zero denominator, the logarithm of zero) is
reported with ``"value": null`` and an ``"error"`` saying why, the way Clarify's ``analysis.json``
reports a metric it could not compute; it is never silently replaced by a number.

Pure functions of numpy arrays and pandas frames (numpy, pandas only): this module runs inside the
SageMaker processing container of the bias job. Invalid input raises :class:`JobInputError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from governed_mlops.domain.bias_names import (
    GROUP_METRICS,
    METRIC_DESCRIPTIONS,
    POST_TRAINING_METRICS,
    PRE_TRAINING_METRICS,
    STAGE_SECTIONS,
    metric_stage,
)
from governed_mlops.errors import JobInputError

__all__ = [
    "ANALYSIS_VERSION",
    "BIAS_CONFIG_FILE",
    "FLIP_TEST_NEIGHBOURS",
    "BiasJobConfig",
    "Facet",
    "MetricResult",
    "UndefinedMetricError",
    "accuracy_difference",
    "bias_report",
    "binary_labels",
    "class_imbalance",
    "conditional_demographic_disparity",
    "difference_in_acceptance_rates",
    "difference_in_conditional_acceptance",
    "difference_in_conditional_rejection",
    "difference_in_positive_proportions",
    "difference_in_rejection_rates",
    "disparate_impact",
    "facet_d_mask",
    "flip_test",
    "flip_test_features",
    "jensen_shannon_divergence",
    "kl_divergence",
    "kolmogorov_smirnov",
    "lp_norm",
    "parse_bias_config",
    "post_training_metrics",
    "pre_training_metrics",
    "recall_difference",
    "total_variation_distance",
    "treatment_equality",
]

BIAS_CONFIG_FILE = "bias_config.json"
ANALYSIS_VERSION = "1.0"
FLIP_TEST_NEIGHBOURS = 5
"""k of the flip test's k-nearest-neighbour vote (odd, so a binary vote never ties)."""

Labels = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Matrix = npt.NDArray[np.float64]

_CONFIG_KEYS = frozenset({"label", "positive_label", "facets", "group_column", "thresholds", "decision_threshold"})
_FACET_KEYS = frozenset({"name", "column", "values", "prefix", "threshold"})
_FACET_SELECTORS = ("values", "prefix", "threshold")
_LIMIT_KEYS = frozenset({"min", "max"})
_FLIP_TEST_CHUNK_ROWS = 128


class UndefinedMetricError(ArithmeticError):
    """The metric's formula is undefined for this data (e.g. a zero denominator); the message says why."""


# --------------------------------------------------------------------------------------------------
# Configuration of the bias job (bias_config.json), parsed without pydantic
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facet:
    """A sensitive attribute and the rule selecting its disadvantaged group (facet d).

    Exactly one selector is set: ``values`` (the column's value is one of them), ``prefix`` (the
    value starts with it) or ``threshold`` (the value, as a number, is at most the threshold).
    Every other row, including rows with a missing value under ``values``/``prefix``, is facet a.
    """

    name: str
    column: str
    values: tuple[str, ...] | None = None
    prefix: str | None = None
    threshold: float | None = None

    @property
    def value_or_threshold(self) -> str:
        """How the report names facet d: ``a,b`` (values), ``female*`` (prefix), ``(-inf, 25]`` (threshold)."""
        if self.values is not None:
            return ",".join(self.values)
        if self.prefix is not None:
            return f"{self.prefix}*"
        return f"(-inf, {self.threshold:g}]"


@dataclass(frozen=True)
class BiasJobConfig:
    """The decoded ``bias_config.json``: label, facets, optional group column, limits, decision threshold."""

    label: str
    positive_label: str
    facets: tuple[Facet, ...]
    group_column: str | None
    thresholds: dict[str, dict[str, dict[str, float]]]
    decision_threshold: float | None


def parse_bias_config(raw: Any) -> BiasJobConfig:
    """Validate a decoded ``bias_config.json`` document.

    Keys: ``label``, ``positive_label``, ``facets`` (list of ``{name, column, values | prefix |
    threshold}``), optional ``group_column``, optional ``thresholds`` (facet name -> Clarify metric
    name -> ``{min, max}``), optional ``decision_threshold`` (needed for post-training metrics).

    Raises:
        JobInputError: naming the offending key (unknown or missing keys, wrong types, a facet with
            zero or several selectors, duplicate facet names, limits for an unknown facet or metric).
    """
    if not isinstance(raw, Mapping):
        raise JobInputError(f"{BIAS_CONFIG_FILE} must hold a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _CONFIG_KEYS)
    missing = sorted({"label", "positive_label", "facets"} - set(raw))
    if unknown or missing:
        raise JobInputError(f"{BIAS_CONFIG_FILE}: missing keys {missing}, unknown keys {unknown}")
    facets_raw = raw["facets"]
    if not isinstance(facets_raw, list) or not facets_raw:
        raise JobInputError(f"{BIAS_CONFIG_FILE}: 'facets' must be a non-empty list, got {facets_raw!r}")
    facets = tuple(_parse_facet(entry, position) for position, entry in enumerate(facets_raw))
    names = [facet.name for facet in facets]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise JobInputError(f"{BIAS_CONFIG_FILE}: facet names used more than once: {duplicated}")
    group_column = raw.get("group_column")
    if group_column is not None and (not isinstance(group_column, str) or not group_column):
        raise JobInputError(f"{BIAS_CONFIG_FILE}: 'group_column' must be a non-empty string, got {group_column!r}")
    decision_threshold = raw.get("decision_threshold")
    if decision_threshold is not None:
        if not _is_number(decision_threshold) or not 0.0 < decision_threshold < 1.0:
            raise JobInputError(
                f"{BIAS_CONFIG_FILE}: 'decision_threshold' must be a number strictly between 0 and 1, "
                f"got {decision_threshold!r}"
            )
        decision_threshold = float(decision_threshold)
    return BiasJobConfig(
        label=_text(raw, "label", BIAS_CONFIG_FILE),
        positive_label=_text(raw, "positive_label", BIAS_CONFIG_FILE),
        facets=facets,
        group_column=group_column,
        thresholds=_parse_thresholds(raw.get("thresholds") or {}, set(names), group_column is not None),
        decision_threshold=decision_threshold,
    )


def _parse_facet(entry: Any, position: int) -> Facet:
    where = f"{BIAS_CONFIG_FILE}: facets[{position}]"
    if not isinstance(entry, Mapping):
        raise JobInputError(f"{where} must be an object, got {entry!r}")
    unknown = sorted(set(entry) - _FACET_KEYS)
    if unknown:
        raise JobInputError(f"{where}: unknown keys {unknown}")
    name, column = _text(entry, "name", where), _text(entry, "column", where)
    selectors = [key for key in _FACET_SELECTORS if entry.get(key) is not None]
    if len(selectors) != 1:
        raise JobInputError(f"{where} ({name!r}) needs exactly one of {list(_FACET_SELECTORS)}, got {selectors}")
    selector = selectors[0]
    value = entry[selector]
    if selector == "values":
        if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
            raise JobInputError(f"{where} ({name!r}): 'values' must be a non-empty list of strings, got {value!r}")
        return Facet(name=name, column=column, values=tuple(value))
    if selector == "prefix":
        if not isinstance(value, str) or not value:
            raise JobInputError(f"{where} ({name!r}): 'prefix' must be a non-empty string, got {value!r}")
        return Facet(name=name, column=column, prefix=value)
    if not _is_number(value):
        raise JobInputError(f"{where} ({name!r}): 'threshold' must be a finite number, got {value!r}")
    return Facet(name=name, column=column, threshold=float(value))


def _parse_thresholds(raw: Any, facet_names: set[str], has_group: bool) -> dict[str, dict[str, dict[str, float]]]:
    where = f"{BIAS_CONFIG_FILE}: thresholds"
    if not isinstance(raw, Mapping):
        raise JobInputError(f"{where} must be an object, got {raw!r}")
    parsed: dict[str, dict[str, dict[str, float]]] = {}
    for facet_name, limits in raw.items():
        if facet_name not in facet_names:
            raise JobInputError(f"{where}: unknown facet {facet_name!r} (facets: {sorted(facet_names)})")
        if not isinstance(limits, Mapping):
            raise JobInputError(f"{where}.{facet_name} must be an object, got {limits!r}")
        parsed[facet_name] = {}
        for metric, limit in limits.items():
            if metric_stage(metric) is None:
                raise JobInputError(f"{where}.{facet_name}: unknown Clarify metric {metric!r}")
            if metric in GROUP_METRICS and not has_group:
                raise JobInputError(f"{where}.{facet_name}: {metric} needs a 'group_column'")
            parsed[facet_name][metric] = _parse_limit(limit, f"{where}.{facet_name}.{metric}")
    return parsed


def _parse_limit(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, Mapping) or set(raw) - _LIMIT_KEYS:
        raise JobInputError(f"{where} must be an object with 'min' and/or 'max', got {raw!r}")
    limit = {key: raw[key] for key in ("min", "max") if raw.get(key) is not None}
    if not limit or not all(_is_number(value) for value in limit.values()):
        raise JobInputError(f"{where} needs a numeric 'min' and/or 'max', got {raw!r}")
    if "min" in limit and "max" in limit and limit["min"] > limit["max"]:
        raise JobInputError(f"{where}: min {limit['min']} is greater than max {limit['max']}")
    return {key: float(value) for key, value in limit.items()}


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise JobInputError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    # bool is an int subclass; a JSON true is not a threshold.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------------------------------
# From a data frame to label vectors and facet masks
# --------------------------------------------------------------------------------------------------


def binary_labels(column: pd.Series, positive_label: str) -> Labels:
    """1 where ``column`` equals the positive (favourable) label, 0 for every other value.

    Raises:
        JobInputError: the column has missing values, or the positive label never occurs in it (a
            misspelt positive label would otherwise make every row unfavourable and every metric 0).
    """
    name = column.name
    if column.isna().any():
        raise JobInputError(f"label column {name!r} has {int(column.isna().sum())} missing values")
    # Each distinct value is turned into text once, then the rows take their value's answer.
    codes, distinct = pd.factorize(column)
    text = pd.Series(distinct).astype(str)
    favourable = (text == positive_label).to_numpy(dtype=bool)
    if not favourable.any():
        seen = sorted(set(text.tolist()))[:5]
        raise JobInputError(f"positive label {positive_label!r} never occurs in label column {name!r} (values: {seen})")
    return np.asarray(favourable[codes], dtype=np.int64)


def facet_d_mask(frame: pd.DataFrame, facet: Facet) -> Mask:
    """True for the rows of facet d (the disadvantaged group), False for facet a.

    Raises:
        JobInputError: the facet's column is missing; a threshold facet's column holds missing or
            non-numeric values; or the facet selects no row or every row (no comparison is possible).
    """
    if facet.column not in frame.columns:
        raise JobInputError(f"facet {facet.name!r}: column {facet.column!r} is not in the data")
    column = frame[facet.column]
    if facet.values is not None:
        mask = column.isin(facet.values).to_numpy(dtype=bool)
    elif facet.prefix is not None:
        # The prefix is tested once per distinct value; a missing value (code -1) is facet a.
        codes, distinct = pd.factorize(column)
        selected = pd.Series(distinct).astype("string").str.startswith(facet.prefix).to_numpy(dtype=bool)
        mask = np.append(selected, False)[codes]
    else:
        numbers = pd.to_numeric(column, errors="coerce")
        bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            examples = column[bad].astype(str).unique().tolist()[:5]
            raise JobInputError(
                f"facet {facet.name!r}: column {facet.column!r} has {int(bad.sum())} missing or non-numeric "
                f"values, e.g. {examples}"
            )
        mask = (numbers <= facet.threshold).to_numpy(dtype=bool)
    members = int(mask.sum())
    if members in (0, mask.size):
        side = "no rows" if members == 0 else "every row"
        raise JobInputError(
            f"facet {facet.name!r}: {facet.value_or_threshold!r} on column {facet.column!r} selects {side} "
            f"({members} of {mask.size}); facet d and facet a both need members"
        )
    return np.asarray(mask, dtype=np.bool_)


# --------------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------------


def _binary(values: npt.ArrayLike, what: str) -> Labels:
    array = np.asarray(values)
    if array.ndim != 1:
        raise JobInputError(f"{what} must be a 1-D array, got shape {array.shape}")
    if not ((array == 0) | (array == 1)).all():
        raise JobInputError(f"{what} must hold only 0 and 1")
    return array.astype(np.int64)


def _facet(facet_d: npt.ArrayLike, size: int) -> Mask:
    mask = np.asarray(facet_d)
    if mask.shape != (size,) or mask.dtype != np.bool_:
        raise JobInputError(f"facet mask must be a boolean array of length {size}, got {mask.dtype} {mask.shape}")
    members = int(mask.sum())
    if members in (0, size):
        raise JobInputError(f"facet d has {members} of {size} rows; facet d and facet a both need members")
    return mask


def _ratio(numerator: float, denominator: float, what: str) -> float:
    if denominator == 0:
        raise UndefinedMetricError(f"{what} is 0")
    return numerator / denominator


@dataclass(frozen=True)
class _Confusion:
    """Counts of one facet: observed labels, predicted labels and their confusion matrix."""

    n: int
    observed_1: int
    observed_0: int
    predicted_1: int
    predicted_0: int
    tp: int
    fp: int
    tn: int
    fn: int

    @classmethod
    def of(cls, cells: npt.NDArray[np.int64]) -> _Confusion:
        """From a facet's 2×2 counts, ``cells[observed label, predicted label]``."""
        tn, fp, fn, tp = (int(count) for count in cells.ravel())
        return cls(
            n=tn + fp + fn + tp,
            observed_1=fn + tp,
            observed_0=tn + fp,
            predicted_1=fp + tp,
            predicted_0=tn + fn,
            tp=tp,
            fp=fp,
            tn=tn,
            fn=fn,
        )


def _facet_cells(mask: Mask, *codes: Labels) -> npt.NDArray[np.int64]:
    """Rows per (facet, code, ...): one ``np.bincount`` over the facet mask and 0/1 codes.

    Index 0 of the first axis is facet a, 1 facet d; each further axis is one of ``codes``.
    """
    cell = mask.astype(np.int64)
    for code in codes:
        cell = cell * 2 + code
    return np.bincount(cell, minlength=2 ** (len(codes) + 1)).reshape((2,) * (len(codes) + 1))


def _confusions(
    labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike
) -> tuple[_Confusion, _Confusion]:
    """Counts of facet a and facet d."""
    label_array = _binary(labels, "labels")
    predicted_array = _binary(predicted, "predicted labels")
    if predicted_array.shape != label_array.shape:
        raise JobInputError(
            f"labels and predicted labels differ in length: {label_array.size} != {predicted_array.size}"
        )
    mask = _facet(facet_d, label_array.size)
    cells = _facet_cells(mask, label_array, predicted_array)
    return _Confusion.of(cells[0]), _Confusion.of(cells[1])


def _label_distributions(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> tuple[Matrix, Matrix]:
    """``P_a`` and ``P_d`` over the label values (0, 1)."""
    label_array = _binary(labels, "labels")
    mask = _facet(facet_d, label_array.size)
    (a_0, a_1), (d_0, d_1) = _facet_cells(mask, label_array).tolist()
    q_a, q_d = a_1 / (a_0 + a_1), d_1 / (d_0 + d_1)
    return np.array([1.0 - q_a, q_a], dtype=np.float64), np.array([1.0 - q_d, q_d], dtype=np.float64)


def _kl(p: Matrix, q: Matrix) -> float:
    """Σ_y p(y)·ln(p(y)/q(y)), with 0·ln(0/x) = 0; infinite (undefined) where q(y) = 0 < p(y)."""
    total = 0.0
    for p_y, q_y in zip(p.tolist(), q.tolist(), strict=True):
        if p_y == 0.0:
            continue
        if q_y == 0.0:
            raise UndefinedMetricError("a label value occurs in facet a but never in facet d (infinite divergence)")
        total += p_y * math.log(p_y / q_y)
    return total


# --------------------------------------------------------------------------------------------------
# Pre-training metrics (observed labels)
# --------------------------------------------------------------------------------------------------


def class_imbalance(facet_d: npt.ArrayLike) -> float:
    """CI = (n_a − n_d) / (n_a + n_d). In [−1, 1]; positive when facet d is the smaller group."""
    mask = np.asarray(facet_d)
    mask = _facet(mask, mask.size)
    n_d = int(mask.sum())
    n_a = mask.size - n_d
    return (n_a - n_d) / (n_a + n_d)


def difference_in_positive_proportions(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """DPL = q_a − q_d, q_x = n_x^(1) / n_x (on predicted labels the same formula is DPPL = q'_a − q'_d)."""
    p_a, p_d = _label_distributions(labels, facet_d)
    return float(p_a[1] - p_d[1])


def kl_divergence(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """KL = Σ_y P_a(y) · ln(P_a(y) / P_d(y)) — natural logarithm; 0·ln 0 = 0.

    Raises:
        UndefinedMetricError: a label value occurs in facet a but never in facet d.
    """
    p_a, p_d = _label_distributions(labels, facet_d)
    return _kl(p_a, p_d)


def jensen_shannon_divergence(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """JS = ½ [KL(P_a ‖ P) + KL(P_d ‖ P)], with P = ½ (P_a + P_d). Always defined; in [0, ln 2]."""
    p_a, p_d = _label_distributions(labels, facet_d)
    mixture = 0.5 * (p_a + p_d)
    return 0.5 * (_kl(p_a, mixture) + _kl(p_d, mixture))


def lp_norm(labels: npt.ArrayLike, facet_d: npt.ArrayLike, p: int = 2) -> float:
    """LP = (Σ_y |P_a(y) − P_d(y)|^p)^(1/p); Clarify's default and this report's p = 2 (Euclidean)."""
    p_a, p_d = _label_distributions(labels, facet_d)
    return float(np.sum(np.abs(p_a - p_d) ** p) ** (1.0 / p))


def total_variation_distance(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """TVD = ½ Σ_y |P_a(y) − P_d(y)| (half the L1 norm)."""
    p_a, p_d = _label_distributions(labels, facet_d)
    return 0.5 * float(np.sum(np.abs(p_a - p_d)))


def kolmogorov_smirnov(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """KS = max_y |P_a(y) − P_d(y)|.

    For a binary label this equals the two-sample Kolmogorov-Smirnov statistic of the facets' labels
    (the largest gap between their empirical CDFs), |q_a − q_d|.
    """
    p_a, p_d = _label_distributions(labels, facet_d)
    return float(np.max(np.abs(p_a - p_d)))


def conditional_demographic_disparity(
    labels: npt.ArrayLike, facet_d: npt.ArrayLike, groups: Sequence[Any] | pd.Series
) -> float:
    """CDD = (1/n) Σ_i n_i · DD_i, with DD_i = n_d,i^(0) / n_i^(0) − n_d,i^(1) / n_i^(1).

    ``i`` runs over the subgroups of the group column, ``n_i`` is the subgroup's size and ``n`` the
    number of rows; ``DD_i`` is facet d's share of the rejected rows (label 0) minus its share of the
    accepted rows (label 1) within subgroup ``i``. Positive: facet d is rejected more than accepted.
    On observed labels this is CDDL, on predicted labels CDDPL. A missing group value is a group of
    its own. A subgroup without rejected (or accepted) rows contributes 0 for that share: the
    developer guide leaves this case open, and a share of nothing is taken as none.

    Raises:
        UndefinedMetricError: the whole data set has no rejected or no accepted rows.
    """
    label_array = _binary(labels, "labels")
    mask = _facet(facet_d, label_array.size)
    group_series = groups if isinstance(groups, pd.Series) else pd.Series(list(groups), dtype=object)
    group_codes, _ = pd.factorize(group_series, use_na_sentinel=False)
    if group_codes.shape != label_array.shape:
        raise JobInputError(f"group column has {group_codes.size} values for {label_array.size} labels")
    if label_array.sum() in (0, label_array.size):
        raise UndefinedMetricError("demographic disparity needs both accepted and rejected rows")
    # counts[group, label, facet]: one bincount over the combined codes instead of a pass per group.
    groups_seen = int(group_codes.max()) + 1
    combined = (group_codes.astype(np.int64) * 2 + label_array) * 2 + mask.astype(np.int64)
    counts = np.bincount(combined, minlength=groups_seen * 4).reshape(groups_seen, 2, 2)
    per_label = counts.sum(axis=2)
    shares = np.divide(counts[:, :, 1], per_label, out=np.zeros(per_label.shape, dtype=np.float64), where=per_label > 0)
    weighted = per_label.sum(axis=1) * (shares[:, 0] - shares[:, 1])
    # Added in group order, one at a time, so the value does not depend on numpy's pairwise summation.
    return sum(weighted.tolist(), 0.0) / label_array.size


# --------------------------------------------------------------------------------------------------
# Post-training metrics (observed and predicted labels)
# --------------------------------------------------------------------------------------------------


def disparate_impact(predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """DI = q'_d / q'_a, q'_x = n̂_x^(1) / n_x. 1 is parity; below 1 facet d is accepted less often.

    Raises:
        UndefinedMetricError: facet a has no predicted acceptance (q'_a = 0).
    """
    predicted_array = _binary(predicted, "predicted labels")
    p_a, p_d = _label_distributions(predicted_array, facet_d)
    return _ratio(float(p_d[1]), float(p_a[1]), "q'_a (facet a's predicted acceptance rate)")


def difference_in_conditional_acceptance(
    labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike
) -> float:
    """DCA = c_a − c_d, c_x = n_x^(1) / n̂_x^(1) (observed over predicted acceptances).

    Raises:
        UndefinedMetricError: a facet has no predicted acceptance (n̂_x^(1) = 0).
    """
    a, d = _confusions(labels, predicted, facet_d)
    c_a = _ratio(a.observed_1, a.predicted_1, "n̂_a^(1) (facet a's predicted acceptances)")
    c_d = _ratio(d.observed_1, d.predicted_1, "n̂_d^(1) (facet d's predicted acceptances)")
    return c_a - c_d


def difference_in_conditional_rejection(
    labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike
) -> float:
    """DCR = r_d − r_a, r_x = n_x^(0) / n̂_x^(0) (observed over predicted rejections).

    Raises:
        UndefinedMetricError: a facet has no predicted rejection (n̂_x^(0) = 0).
    """
    a, d = _confusions(labels, predicted, facet_d)
    r_d = _ratio(d.observed_0, d.predicted_0, "n̂_d^(0) (facet d's predicted rejections)")
    r_a = _ratio(a.observed_0, a.predicted_0, "n̂_a^(0) (facet a's predicted rejections)")
    return r_d - r_a


def recall_difference(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """RD = TP_a / (TP_a + FN_a) − TP_d / (TP_d + FN_d) (true positive rates).

    Raises:
        UndefinedMetricError: a facet has no observed acceptance (TP_x + FN_x = 0).
    """
    a, d = _confusions(labels, predicted, facet_d)
    recall_a = _ratio(a.tp, a.tp + a.fn, "TP_a + FN_a (facet a's observed acceptances)")
    recall_d = _ratio(d.tp, d.tp + d.fn, "TP_d + FN_d (facet d's observed acceptances)")
    return recall_a - recall_d


def difference_in_acceptance_rates(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """DAR = TP_a / n̂_a^(1) − TP_d / n̂_d^(1) (precisions, n̂_x^(1) = TP_x + FP_x).

    Raises:
        UndefinedMetricError: a facet has no predicted acceptance.
    """
    a, d = _confusions(labels, predicted, facet_d)
    precision_a = _ratio(a.tp, a.predicted_1, "n̂_a^(1) (facet a's predicted acceptances)")
    precision_d = _ratio(d.tp, d.predicted_1, "n̂_d^(1) (facet d's predicted acceptances)")
    return precision_a - precision_d


def difference_in_rejection_rates(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """DRR = TN_d / n̂_d^(0) − TN_a / n̂_a^(0) (negative predictive values, n̂_x^(0) = TN_x + FN_x).

    Raises:
        UndefinedMetricError: a facet has no predicted rejection.
    """
    a, d = _confusions(labels, predicted, facet_d)
    rate_d = _ratio(d.tn, d.predicted_0, "n̂_d^(0) (facet d's predicted rejections)")
    rate_a = _ratio(a.tn, a.predicted_0, "n̂_a^(0) (facet a's predicted rejections)")
    return rate_d - rate_a


def accuracy_difference(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """AD = ACC_a − ACC_d, ACC_x = (TP_x + TN_x) / (TP_x + TN_x + FP_x + FN_x)."""
    a, d = _confusions(labels, predicted, facet_d)
    return (a.tp + a.tn) / a.n - (d.tp + d.tn) / d.n


def treatment_equality(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """TE = FN_d / FP_d − FN_a / FP_a.

    Raises:
        UndefinedMetricError: a facet has no false positive (FP_x = 0).
    """
    a, d = _confusions(labels, predicted, facet_d)
    ratio_d = _ratio(d.fn, d.fp, "FP_d (facet d's false positives)")
    ratio_a = _ratio(a.fn, a.fp, "FP_a (facet a's false positives)")
    return ratio_d - ratio_a


def flip_test(
    predicted: npt.ArrayLike, facet_d: npt.ArrayLike, features: npt.ArrayLike, k: int = FLIP_TEST_NEIGHBOURS
) -> float:
    """FT = (F⁺ − F⁻) / n_d — the counterfactual flip test, with Clarify's k-nearest-neighbour method.

    Each member of facet d is compared with its ``k`` nearest members of facet a (Euclidean distance
    between rows of ``features``; at equal distance the earlier row wins, so the result is
    deterministic). The majority of those neighbours' predicted labels is the label the member would
    have received as a member of facet a. ``F⁺`` counts facet d members predicted 0 whose neighbours
    vote 1 (they would have been accepted as facet a); ``F⁻`` counts members predicted 1 whose
    neighbours vote 0. Positive FT: facet d is predicted worse than comparable facet a members.

    The model is not re-invoked with a flipped facet value: as in Clarify, facet a's predictions act
    as the counterfactual outcome, which also works when the facet is not a model input.

    Raises:
        UndefinedMetricError: facet a has fewer than ``k`` members.
        JobInputError: ``k`` is not a positive odd number or ``features`` has another number of rows.
    """
    predicted_array = _binary(predicted, "predicted labels")
    mask = _facet(facet_d, predicted_array.size)
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != predicted_array.size:
        raise JobInputError(f"features must have one row per label ({predicted_array.size}), got shape {matrix.shape}")
    if k < 1 or k % 2 == 0:
        raise JobInputError(f"the flip test's k must be a positive odd number, got {k}")
    facet_a_rows, facet_d_rows = matrix[~mask], matrix[mask]
    if facet_a_rows.shape[0] < k:
        raise UndefinedMetricError(f"facet a has {facet_a_rows.shape[0]} members, fewer than k = {k}")
    facet_a_predicted = predicted_array[~mask]
    votes = np.empty(facet_d_rows.shape[0], dtype=np.int64)
    for start in range(0, facet_d_rows.shape[0], _FLIP_TEST_CHUNK_ROWS):
        chunk = facet_d_rows[start : start + _FLIP_TEST_CHUNK_ROWS]
        distances = np.sum((chunk[:, None, :] - facet_a_rows[None, :, :]) ** 2, axis=2)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        votes[start : start + chunk.shape[0]] = (facet_a_predicted[nearest].sum(axis=1) * 2 > k).astype(np.int64)
    own = predicted_array[mask]
    flips_up = int(((own == 0) & (votes == 1)).sum())
    flips_down = int(((own == 1) & (votes == 0)).sum())
    return (flips_up - flips_down) / own.size


def flip_test_features(matrix: npt.ArrayLike, sources: Sequence[str], exclude: str) -> Matrix:
    """The feature space of the flip test: the model's input matrix without the facet's own columns.

    ``sources`` names the raw column each matrix column was encoded from; columns from ``exclude``
    (the facet column) are dropped, so neighbours are found on everything but the sensitive
    attribute. Every remaining column is min-max scaled to [0, 1] over all rows (one-hot columns
    stay 0/1; a constant column becomes 0), so a wide numeric range such as a credit amount does not
    decide the distance alone; a missing value becomes its column's median.
    """
    return _without_source(_unit_range(_feature_matrix(matrix, sources)), sources, exclude)


def _feature_matrix(matrix: npt.ArrayLike, sources: Sequence[str]) -> Matrix:
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(sources):
        raise JobInputError(f"feature matrix has shape {array.shape} but {len(sources)} column sources were given")
    return array


def _without_source(scaled: Matrix, sources: Sequence[str], exclude: str) -> Matrix:
    kept = np.array([source != exclude for source in sources], dtype=bool)
    if not kept.any():
        raise JobInputError(f"the flip test has no feature left once facet column {exclude!r} is removed")
    return scaled[:, kept]


def _unit_range(array: Matrix) -> Matrix:
    """Every column min-max scaled to [0, 1] over its finite values, a gap filled with the column's median.

    Column by column this is independent of the other columns, so scaling the whole matrix once and
    dropping a facet's columns afterwards gives the same numbers as dropping them first.
    """
    if array.shape[0] == 0:
        return np.zeros_like(array)
    finite = np.isfinite(array)
    low = np.where(finite, array, np.inf).min(axis=0)
    high = np.where(finite, array, -np.inf).max(axis=0)
    filled = array.copy()
    # Only columns with some (not all) values missing need a median; the encoded data rarely has any.
    for position in np.flatnonzero(finite.any(axis=0) & ~finite.all(axis=0)):
        column, present = array[:, position], finite[:, position]
        filled[:, position] = np.where(present, column, float(np.median(column[present])))
    # A constant column, or one without any finite value, becomes 0.
    spread = high - low
    varying = np.isfinite(spread) & (spread > 0)
    scaled = np.zeros_like(array)
    scaled[:, varying] = (filled[:, varying] - low[varying]) / spread[varying]
    return scaled


# --------------------------------------------------------------------------------------------------
# Metric sets and the analysis.json report
# --------------------------------------------------------------------------------------------------


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


def pre_training_metrics(
    labels: npt.ArrayLike, facet_d: npt.ArrayLike, groups: Sequence[Any] | pd.Series | None = None
) -> dict[str, MetricResult]:
    """CI, DPL, KL, JS, LP, TVD, KS and (when ``groups`` is given) CDDL, keyed by Clarify name."""
    computations: dict[str, Callable[[], float]] = {
        "CI": lambda: class_imbalance(facet_d),
        "DPL": lambda: difference_in_positive_proportions(labels, facet_d),
        "KL": lambda: kl_divergence(labels, facet_d),
        "JS": lambda: jensen_shannon_divergence(labels, facet_d),
        "LP": lambda: lp_norm(labels, facet_d),
        "TVD": lambda: total_variation_distance(labels, facet_d),
        "KS": lambda: kolmogorov_smirnov(labels, facet_d),
    }
    if groups is not None:
        computations["CDDL"] = lambda: conditional_demographic_disparity(labels, facet_d, groups)
    return {name: _measure(name, computations[name]) for name in PRE_TRAINING_METRICS if name in computations}


def post_training_metrics(
    labels: npt.ArrayLike,
    predicted: npt.ArrayLike,
    facet_d: npt.ArrayLike,
    groups: Sequence[Any] | pd.Series | None = None,
    features: npt.ArrayLike | None = None,
) -> dict[str, MetricResult]:
    """DPPL, DI, DCA, DCR, RD, DAR, DRR, AD, TE, FT and (when ``groups`` is given) CDDPL.

    FT needs ``features`` (see :func:`flip_test_features`); without them it is reported undefined.
    """
    computations: dict[str, Callable[[], float]] = {
        "DPPL": lambda: difference_in_positive_proportions(predicted, facet_d),
        "DI": lambda: disparate_impact(predicted, facet_d),
        "DCA": lambda: difference_in_conditional_acceptance(labels, predicted, facet_d),
        "DCR": lambda: difference_in_conditional_rejection(labels, predicted, facet_d),
        "RD": lambda: recall_difference(labels, predicted, facet_d),
        "DAR": lambda: difference_in_acceptance_rates(labels, predicted, facet_d),
        "DRR": lambda: difference_in_rejection_rates(labels, predicted, facet_d),
        "AD": lambda: accuracy_difference(labels, predicted, facet_d),
        "TE": lambda: treatment_equality(labels, predicted, facet_d),
        "FT": lambda: _flip_test_or_undefined(predicted, facet_d, features),
    }
    if groups is not None:
        computations["CDDPL"] = lambda: conditional_demographic_disparity(predicted, facet_d, groups)
    return {name: _measure(name, computations[name]) for name in POST_TRAINING_METRICS if name in computations}


def _flip_test_or_undefined(predicted: npt.ArrayLike, facet_d: npt.ArrayLike, features: npt.ArrayLike | None) -> float:
    if features is None:
        raise UndefinedMetricError("no feature matrix was given for the nearest-neighbour search")
    return flip_test(predicted, facet_d, features)


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
    "metrics": [{name, description, value[, error][, limit]}]}]}, "label_value_or_threshold"}}``.
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
    groups = _group_values(frame, config.group_column)
    predicted_array = _post_training_inputs(stage, predicted, features, feature_sources, labels.size)
    # Scaled once for every facet; each facet then drops its own column (see _unit_range).
    scaled = (
        _unit_range(_feature_matrix(features, feature_sources))
        if predicted_array is not None and features is not None and feature_sources is not None
        else None
    )
    facets: dict[str, list[dict[str, Any]]] = {}
    for facet in config.facets:
        mask = facet_d_mask(frame, facet)
        if predicted_array is None:
            results = pre_training_metrics(labels, mask, groups)
        else:
            flip_features = (
                _without_source(scaled, feature_sources, facet.column)
                if scaled is not None and feature_sources is not None
                else None
            )
            results = post_training_metrics(labels, predicted_array, mask, groups, flip_features)
        limits = config.thresholds.get(facet.name, {})
        metrics = [result.to_report(limits.get(name)) for name, result in results.items()]
        facets[facet.name] = [{"value_or_threshold": facet.value_or_threshold, "metrics": metrics}]
    section = {"label": config.label, "facets": facets, "label_value_or_threshold": config.positive_label}
    return {"version": ANALYSIS_VERSION, STAGE_SECTIONS[stage]: section}


def _group_values(frame: pd.DataFrame, group_column: str | None) -> pd.Series | None:
    if group_column is None:
        return None
    if group_column not in frame.columns:
        raise JobInputError(f"group column {group_column!r} is not in the data")
    return frame[group_column]


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
    predicted_array = _binary(predicted, "predicted labels")
    if predicted_array.size != rows:
        raise JobInputError(f"{predicted_array.size} predicted labels for {rows} rows")
    if (features is None) != (feature_sources is None):
        raise JobInputError("the flip test needs both the feature matrix and the source column of each feature")
    return predicted_array
