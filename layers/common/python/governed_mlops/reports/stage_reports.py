"""The stage reports read into rows (pure): evaluation metrics, quality-gate checks and Clarify bias checks.

The model card, the evidence page and the approval page all show these; reading them once here keeps the three in
agreement. A value that is missing, not a number or not finite is left out (metrics) or shown as having none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "METRIC_NAMES",
    "STAGE_TITLES",
    "BiasCheck",
    "GateCheck",
    "MetricRow",
    "bias_checks",
    "finite_float",
    "gate_checks",
    "humanise",
    "is_finite_number",
    "metric_rows",
]

#: How the reports' metric names are shown.
METRIC_NAMES = {
    "auc": "AUC",
    "ks": "KS",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate",
}


STAGE_TITLES = {"pre_training_bias_metrics": "Pre-training bias", "post_training_bias_metrics": "Post-training bias"}


@dataclass(frozen=True)
class MetricRow:
    """One scalar evaluation metric."""

    metric: str
    label: str
    value: float


@dataclass(frozen=True)
class GateCheck:
    """One quality gate: the metric's hold-out value against its minimum."""

    metric: str
    value: float | None
    limit: float
    passed: bool


@dataclass(frozen=True)
class BiasCheck:
    """One Clarify metric of one facet group, with its configured limit when there is one.

    ``passed`` is ``None`` when no limit is set; a metric without a value (undefined for this data)
    fails any limit set on it, as the bias gate decides.
    """

    stage: str
    facet: str
    group: str
    metric: str
    description: str
    value: float | None
    error: str | None
    limit_min: float | None
    limit_max: float | None
    passed: bool | None

    @property
    def limit_text(self) -> str:
        """The limit in words: ``between -0.2 and 0.2``, ``at least 0.8``, ``at most 0.1`` or ``none``."""
        if self.limit_min is not None and self.limit_max is not None:
            return f"between {self.limit_min:g} and {self.limit_max:g}"
        if self.limit_min is not None:
            return f"at least {self.limit_min:g}"
        if self.limit_max is not None:
            return f"at most {self.limit_max:g}"
        return "none"


def metric_rows(evaluation: Mapping[str, Any]) -> list[MetricRow]:
    """The finite scalar metrics of an evaluation report, known metrics first in report order."""
    section = evaluation.get("binary_classification_metrics")
    if not isinstance(section, Mapping):
        return []
    rows = []
    for name, entry in section.items():
        value = finite_float(entry.get("value")) if isinstance(entry, Mapping) else None
        if value is not None:
            rows.append(
                MetricRow(metric=str(name), label=METRIC_NAMES.get(str(name), humanise(str(name))), value=value)
            )
    order = list(METRIC_NAMES)
    return sorted(rows, key=lambda row: order.index(row.metric) if row.metric in order else len(order))


def gate_checks(gates: Mapping[str, Any] | None) -> list[GateCheck]:
    """The checks of a quality-gates report (empty when there is none)."""
    if not gates or not isinstance(gates.get("checks"), list):
        return []
    checks = []
    for check in gates["checks"]:
        limit = finite_float(check.get("limit")) if isinstance(check, Mapping) else None
        if not isinstance(check, Mapping) or limit is None:
            continue
        checks.append(
            GateCheck(
                metric=str(check.get("metric", "")),
                value=finite_float(check.get("value")),
                limit=limit,
                passed=check.get("passed") is True,
            )
        )
    return checks


def bias_checks(bias: Mapping[str, Any] | None) -> list[BiasCheck]:
    """Every metric of every facet group in a (merged) Clarify bias report, pre-training first."""
    if not bias:
        return []
    checks = []
    for section_name in STAGE_TITLES:
        section = bias.get(section_name)
        facets = section.get("facets") if isinstance(section, Mapping) else None
        if not isinstance(facets, Mapping):
            continue
        for facet, entries in facets.items():
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, Mapping):
                    continue
                for metric in entry.get("metrics", []):
                    if isinstance(metric, Mapping):
                        checks.append(_bias_check(section_name, str(facet), entry, metric))
    return checks


def _bias_check(section: str, facet: str, entry: Mapping[str, Any], metric: Mapping[str, Any]) -> BiasCheck:
    value = finite_float(metric.get("value"))
    raw_limit = metric.get("limit")
    limit: Mapping[str, Any] = raw_limit if isinstance(raw_limit, Mapping) else {}
    low, high = finite_float(limit.get("min")), finite_float(limit.get("max"))
    passed: bool | None = None
    if low is not None or high is not None:
        passed = value is not None and (low is None or value >= low) and (high is None or value <= high)
    error = metric.get("error")
    return BiasCheck(
        stage=section,
        facet=facet,
        group=str(entry.get("value_or_threshold", "")),
        metric=str(metric.get("name", "")),
        description=str(metric.get("description", metric.get("name", ""))),
        value=value,
        error=str(error) if error else None,
        limit_min=low,
        limit_max=high,
        passed=passed,
    )


def is_finite_number(value: Any) -> bool:
    """True for an int or float (not a bool) that is finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def finite_float(value: Any) -> float | None:
    """``value`` as a float if it is a finite number, else None."""
    return float(value) if is_finite_number(value) else None


def humanise(name: str) -> str:
    """A snake_case name as words with a capital first letter."""
    text = " ".join(name.replace("_", " ").split())
    return text[:1].upper() + text[1:]
