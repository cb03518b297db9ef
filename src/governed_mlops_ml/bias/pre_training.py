"""Pre-training bias metrics: Clarify's CI, DPL, KL, JS, LP, TVD, KS and CDDL, on the observed labels.

Each metric is a public function of unchecked arrays (validated, then counted) and a formula of the
counts (``*_of``) that :mod:`.report` applies to counts taken once per facet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from governed_mlops.errors import JobInputError
from governed_mlops_ml.bias.counts import (
    Distributions,
    Labels,
    Mask,
    UndefinedMetricError,
    binary,
    facet_mask,
    kl,
    label_distributions,
)

__all__ = [
    "cdd_of",
    "ci_of",
    "class_imbalance",
    "conditional_demographic_disparity",
    "difference_in_positive_proportions",
    "dpl_of",
    "group_codes",
    "jensen_shannon_divergence",
    "js_of",
    "kl_divergence",
    "kl_of",
    "kolmogorov_smirnov",
    "ks_of",
    "lp_norm",
    "lp_of",
    "total_variation_distance",
    "tvd_of",
]

GroupCodes = npt.NDArray[np.int64]


# -- formulas of the counts --------------------------------------------------------------------


def ci_of(n_a: int, n_d: int) -> float:
    """CI = (n_a − n_d) / (n_a + n_d)."""
    return (n_a - n_d) / (n_a + n_d)


def dpl_of(p: Distributions) -> float:
    """DPL = q_a − q_d (DPPL on the predicted labels' distributions)."""
    p_a, p_d = p
    return float(p_a[1] - p_d[1])


def kl_of(p: Distributions) -> float:
    """KL(P_a ‖ P_d)."""
    return kl(*p)


def js_of(p: Distributions) -> float:
    """½ [KL(P_a ‖ P) + KL(P_d ‖ P)], P = ½ (P_a + P_d)."""
    p_a, p_d = p
    mixture = 0.5 * (p_a + p_d)
    return 0.5 * (kl(p_a, mixture) + kl(p_d, mixture))


def lp_of(p: Distributions, order: int = 2) -> float:
    """(Σ_y |P_a(y) − P_d(y)|^order)^(1/order)."""
    p_a, p_d = p
    return float(np.sum(np.abs(p_a - p_d) ** order) ** (1.0 / order))


def tvd_of(p: Distributions) -> float:
    """½ Σ_y |P_a(y) − P_d(y)|."""
    p_a, p_d = p
    return 0.5 * float(np.sum(np.abs(p_a - p_d)))


def ks_of(p: Distributions) -> float:
    """max_y |P_a(y) − P_d(y)|."""
    p_a, p_d = p
    return float(np.max(np.abs(p_a - p_d)))


def group_codes(groups: Sequence[Any] | pd.Series, size: int) -> GroupCodes:
    """One integer code per row for the subgroup column (a missing value is a group of its own).

    Raises:
        JobInputError: the column has another number of values than there are labels.
    """
    group_series = groups if isinstance(groups, pd.Series) else pd.Series(list(groups), dtype=object)
    codes, _ = pd.factorize(group_series, use_na_sentinel=False)
    if codes.shape != (size,):
        raise JobInputError(f"group column has {codes.size} values for {size} labels")
    return np.asarray(codes, dtype=np.int64)


def cdd_of(labels: Labels, mask: Mask, codes: GroupCodes) -> float:
    """CDD of checked labels, a checked facet mask and :func:`group_codes` (see
    :func:`conditional_demographic_disparity`)."""
    if labels.sum() in (0, labels.size):
        raise UndefinedMetricError("demographic disparity needs both accepted and rejected rows")
    # counts[group, label, facet]: one bincount over the combined codes instead of a pass per group.
    groups_seen = int(codes.max()) + 1
    combined = (codes * 2 + labels) * 2 + mask.astype(np.int64)
    counts = np.bincount(combined, minlength=groups_seen * 4).reshape(groups_seen, 2, 2)
    per_label = counts.sum(axis=2)
    shares = np.divide(counts[:, :, 1], per_label, out=np.zeros(per_label.shape, dtype=np.float64), where=per_label > 0)
    weighted = per_label.sum(axis=1) * (shares[:, 0] - shares[:, 1])
    # Added in group order, one at a time, so the value does not depend on numpy's pairwise summation.
    return sum(weighted.tolist(), 0.0) / labels.size


# -- the metrics -------------------------------------------------------------------------------


def class_imbalance(facet_d: npt.ArrayLike) -> float:
    """CI = (n_a − n_d) / (n_a + n_d). In [−1, 1]; positive when facet d is the smaller group."""
    mask = np.asarray(facet_d)
    mask = facet_mask(mask, mask.size)
    n_d = int(mask.sum())
    return ci_of(mask.size - n_d, n_d)


def difference_in_positive_proportions(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """DPL = q_a − q_d, q_x = n_x^(1) / n_x (on predicted labels the same formula is DPPL = q'_a − q'_d)."""
    return dpl_of(label_distributions(labels, facet_d))


def kl_divergence(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """KL = Σ_y P_a(y) · ln(P_a(y) / P_d(y)) — natural logarithm; 0·ln 0 = 0.

    Raises:
        UndefinedMetricError: a label value occurs in facet a but never in facet d.
    """
    return kl_of(label_distributions(labels, facet_d))


def jensen_shannon_divergence(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """JS = ½ [KL(P_a ‖ P) + KL(P_d ‖ P)], with P = ½ (P_a + P_d). Always defined; in [0, ln 2]."""
    return js_of(label_distributions(labels, facet_d))


def lp_norm(labels: npt.ArrayLike, facet_d: npt.ArrayLike, p: int = 2) -> float:
    """LP = (Σ_y |P_a(y) − P_d(y)|^p)^(1/p); Clarify's default and this report's p = 2 (Euclidean)."""
    return lp_of(label_distributions(labels, facet_d), p)


def total_variation_distance(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """TVD = ½ Σ_y |P_a(y) − P_d(y)| (half the L1 norm)."""
    return tvd_of(label_distributions(labels, facet_d))


def kolmogorov_smirnov(labels: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """KS = max_y |P_a(y) − P_d(y)|.

    For a binary label this equals the two-sample Kolmogorov-Smirnov statistic of the facets' labels
    (the largest gap between their empirical CDFs), |q_a − q_d|.
    """
    return ks_of(label_distributions(labels, facet_d))


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
    label_array = binary(labels, "labels")
    mask = facet_mask(facet_d, label_array.size)
    return cdd_of(label_array, mask, group_codes(groups, label_array.size))
