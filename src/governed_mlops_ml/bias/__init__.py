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

Pure functions of numpy arrays and pandas frames (numpy, pandas only): this package runs inside the
SageMaker processing container of the bias job. Invalid input raises :class:`JobInputError`.

One module per job: :mod:`.config` (``bias_config.json``), :mod:`.facets` (labels and facet masks
from the data frame), :mod:`.counts` (the per-facet counts every metric is a formula of),
:mod:`.pre_training` and :mod:`.post_training` (the metrics), :mod:`.flip_test` (FT and its feature
space) and :mod:`.report` (metric sets and ``analysis.json``). This package re-exports the public
names its callers import from ``governed_mlops_ml.bias``.
"""

from governed_mlops_ml.bias.config import BIAS_CONFIG_FILE, BiasJobConfig, Facet, parse_bias_config
from governed_mlops_ml.bias.counts import UndefinedMetricError
from governed_mlops_ml.bias.facets import binary_labels, facet_d_mask
from governed_mlops_ml.bias.flip_test import FLIP_TEST_NEIGHBOURS, flip_test, flip_test_features
from governed_mlops_ml.bias.post_training import (
    accuracy_difference,
    difference_in_acceptance_rates,
    difference_in_conditional_acceptance,
    difference_in_conditional_rejection,
    difference_in_rejection_rates,
    disparate_impact,
    recall_difference,
    treatment_equality,
)
from governed_mlops_ml.bias.pre_training import (
    class_imbalance,
    conditional_demographic_disparity,
    difference_in_positive_proportions,
    jensen_shannon_divergence,
    kl_divergence,
    kolmogorov_smirnov,
    lp_norm,
    total_variation_distance,
)
from governed_mlops_ml.bias.report import (
    ANALYSIS_VERSION,
    MetricResult,
    bias_report,
    post_training_metrics,
    pre_training_metrics,
)

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
