"""Post-training bias metrics: Clarify's DPPL, DI, DCA, DCR, RD, DAR, DRR, AD and TE (CDDPL and FT live in
:mod:`.pre_training` and :mod:`.flip_test`), on observed and predicted labels.

Each metric is a public function of unchecked arrays (validated, then counted) and a formula of the
two facets' :class:`~.counts.Confusion` counts (``*_of``) that :mod:`.report` applies to counts taken
once per facet.
"""

from __future__ import annotations

import numpy.typing as npt

from governed_mlops_ml.bias.counts import Confusion, Distributions, binary, confusions, label_distributions, ratio

__all__ = [
    "accuracy_difference",
    "ad_of",
    "dar_of",
    "dca_of",
    "dcr_of",
    "di_of",
    "difference_in_acceptance_rates",
    "difference_in_conditional_acceptance",
    "difference_in_conditional_rejection",
    "difference_in_rejection_rates",
    "disparate_impact",
    "drr_of",
    "rd_of",
    "recall_difference",
    "te_of",
    "treatment_equality",
]


# -- formulas of the counts --------------------------------------------------------------------


def di_of(p: Distributions) -> float:
    """DI = q'_d / q'_a from the predicted labels' distributions ``(P'_a, P'_d)``."""
    p_a, p_d = p
    return ratio(float(p_d[1]), float(p_a[1]), "q'_a (facet a's predicted acceptance rate)")


def dca_of(a: Confusion, d: Confusion) -> float:
    """DCA = n_a^(1) / n̂_a^(1) − n_d^(1) / n̂_d^(1)."""
    c_a = ratio(a.observed_1, a.predicted_1, "n̂_a^(1) (facet a's predicted acceptances)")
    c_d = ratio(d.observed_1, d.predicted_1, "n̂_d^(1) (facet d's predicted acceptances)")
    return c_a - c_d


def dcr_of(a: Confusion, d: Confusion) -> float:
    """DCR = n_d^(0) / n̂_d^(0) − n_a^(0) / n̂_a^(0)."""
    r_d = ratio(d.observed_0, d.predicted_0, "n̂_d^(0) (facet d's predicted rejections)")
    r_a = ratio(a.observed_0, a.predicted_0, "n̂_a^(0) (facet a's predicted rejections)")
    return r_d - r_a


def rd_of(a: Confusion, d: Confusion) -> float:
    """RD = TP_a / (TP_a + FN_a) − TP_d / (TP_d + FN_d)."""
    recall_a = ratio(a.tp, a.tp + a.fn, "TP_a + FN_a (facet a's observed acceptances)")
    recall_d = ratio(d.tp, d.tp + d.fn, "TP_d + FN_d (facet d's observed acceptances)")
    return recall_a - recall_d


def dar_of(a: Confusion, d: Confusion) -> float:
    """DAR = TP_a / n̂_a^(1) − TP_d / n̂_d^(1)."""
    precision_a = ratio(a.tp, a.predicted_1, "n̂_a^(1) (facet a's predicted acceptances)")
    precision_d = ratio(d.tp, d.predicted_1, "n̂_d^(1) (facet d's predicted acceptances)")
    return precision_a - precision_d


def drr_of(a: Confusion, d: Confusion) -> float:
    """DRR = TN_d / n̂_d^(0) − TN_a / n̂_a^(0)."""
    rate_d = ratio(d.tn, d.predicted_0, "n̂_d^(0) (facet d's predicted rejections)")
    rate_a = ratio(a.tn, a.predicted_0, "n̂_a^(0) (facet a's predicted rejections)")
    return rate_d - rate_a


def ad_of(a: Confusion, d: Confusion) -> float:
    """AD = ACC_a − ACC_d."""
    return (a.tp + a.tn) / a.n - (d.tp + d.tn) / d.n


def te_of(a: Confusion, d: Confusion) -> float:
    """TE = FN_d / FP_d − FN_a / FP_a."""
    ratio_d = ratio(d.fn, d.fp, "FP_d (facet d's false positives)")
    ratio_a = ratio(a.fn, a.fp, "FP_a (facet a's false positives)")
    return ratio_d - ratio_a


# -- the metrics -------------------------------------------------------------------------------


def disparate_impact(predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """DI = q'_d / q'_a, q'_x = n̂_x^(1) / n_x. 1 is parity; below 1 facet d is accepted less often.

    Raises:
        UndefinedMetricError: facet a has no predicted acceptance (q'_a = 0).
    """
    return di_of(label_distributions(binary(predicted, "predicted labels"), facet_d))


def difference_in_conditional_acceptance(
    labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike
) -> float:
    """DCA = c_a − c_d, c_x = n_x^(1) / n̂_x^(1) (observed over predicted acceptances).

    Raises:
        UndefinedMetricError: a facet has no predicted acceptance (n̂_x^(1) = 0).
    """
    return dca_of(*confusions(labels, predicted, facet_d))


def difference_in_conditional_rejection(
    labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike
) -> float:
    """DCR = r_d − r_a, r_x = n_x^(0) / n̂_x^(0) (observed over predicted rejections).

    Raises:
        UndefinedMetricError: a facet has no predicted rejection (n̂_x^(0) = 0).
    """
    return dcr_of(*confusions(labels, predicted, facet_d))


def recall_difference(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """RD = TP_a / (TP_a + FN_a) − TP_d / (TP_d + FN_d) (true positive rates).

    Raises:
        UndefinedMetricError: a facet has no observed acceptance (TP_x + FN_x = 0).
    """
    return rd_of(*confusions(labels, predicted, facet_d))


def difference_in_acceptance_rates(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """DAR = TP_a / n̂_a^(1) − TP_d / n̂_d^(1) (precisions, n̂_x^(1) = TP_x + FP_x).

    Raises:
        UndefinedMetricError: a facet has no predicted acceptance.
    """
    return dar_of(*confusions(labels, predicted, facet_d))


def difference_in_rejection_rates(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """DRR = TN_d / n̂_d^(0) − TN_a / n̂_a^(0) (negative predictive values, n̂_x^(0) = TN_x + FN_x).

    Raises:
        UndefinedMetricError: a facet has no predicted rejection.
    """
    return drr_of(*confusions(labels, predicted, facet_d))


def accuracy_difference(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """AD = ACC_a − ACC_d, ACC_x = (TP_x + TN_x) / (TP_x + TN_x + FP_x + FN_x)."""
    return ad_of(*confusions(labels, predicted, facet_d))


def treatment_equality(labels: npt.ArrayLike, predicted: npt.ArrayLike, facet_d: npt.ArrayLike) -> float:
    """TE = FN_d / FP_d − FN_a / FP_a.

    Raises:
        UndefinedMetricError: a facet has no false positive (FP_x = 0).
    """
    return te_of(*confusions(labels, predicted, facet_d))
