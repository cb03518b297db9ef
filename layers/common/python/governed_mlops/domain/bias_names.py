"""Names of the SageMaker Clarify bias metrics this pipeline computes, and what they are called in reports.

Standard library only: the pipeline configuration (pydantic, in the Lambda layer) validates
threshold names against these lists, and the bias job (inside a SageMaker container) uses them to
build its report, so the two can never disagree on a metric's name.
"""

from __future__ import annotations

__all__ = [
    "GROUP_METRICS",
    "METRIC_DESCRIPTIONS",
    "POST_TRAINING_METRICS",
    "PRE_TRAINING_METRICS",
    "STAGE_METRICS",
    "STAGE_SECTIONS",
    "metric_stage",
]

PRE_TRAINING_METRICS: tuple[str, ...] = ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL")
"""Pre-training (label) metrics, in report order."""

POST_TRAINING_METRICS: tuple[str, ...] = ("DPPL", "DI", "DCA", "DCR", "RD", "DAR", "DRR", "AD", "TE", "FT", "CDDPL")
"""Post-training (label + predicted label) metrics, in report order."""

GROUP_METRICS: frozenset[str] = frozenset({"CDDL", "CDDPL"})
"""Metrics conditioned on a group column: computed only when one is configured."""

STAGE_METRICS: dict[str, tuple[str, ...]] = {"pre": PRE_TRAINING_METRICS, "post": POST_TRAINING_METRICS}
"""Stage name (the bias job's ``--stage``) -> its metrics."""

STAGE_SECTIONS: dict[str, str] = {"pre": "pre_training_bias_metrics", "post": "post_training_bias_metrics"}
"""Stage name -> its section of Clarify's ``analysis.json``."""

METRIC_DESCRIPTIONS: dict[str, str] = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Leibler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "RD": "Recall Difference (RD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "AD": "Accuracy Difference (AD)",
    "TE": "Treatment Equality (TE)",
    "FT": "Flip Test (FT)",
    "CDDPL": "Conditional Demographic Disparity in Predicted Labels (CDDPL)",
}
"""Clarify metric name -> the description Clarify's report gives it."""


def metric_stage(name: str) -> str | None:
    """``"pre"`` or ``"post"`` for a known Clarify metric name, ``None`` for an unknown one."""
    for stage, names in STAGE_METRICS.items():
        if name in names:
            return stage
    return None
