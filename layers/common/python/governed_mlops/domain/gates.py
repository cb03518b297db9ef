"""Quality gates: hold-out metrics against configured minimums (pure)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from governed_mlops.config import QualityGates
from governed_mlops.errors import ArtifactNotFoundError

#: Gate field -> metric name in the evaluation report.
GATED_METRICS = {
    "min_auc": "auc",
    "min_ks": "ks",
    "min_accuracy": "accuracy",
    "min_precision": "precision",
    "min_recall": "recall",
}


class GateCheck(BaseModel):
    metric: str
    value: float
    limit: float
    passed: bool


class GateOutcome(BaseModel):
    passed: bool
    threshold: float
    checks: list[GateCheck]

    @property
    def failed(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]


def read_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """Flatten a ModelQuality ``evaluation.json`` into ``{metric: value}`` for scalar metrics."""
    section = evaluation.get("binary_classification_metrics")
    if not isinstance(section, dict):
        raise ArtifactNotFoundError("evaluation report has no binary_classification_metrics section")
    metrics: dict[str, float] = {}
    for name, entry in section.items():
        if isinstance(entry, dict) and isinstance(entry.get("value"), int | float):
            metrics[name] = float(entry["value"])
    return metrics


def evaluate_gates(metrics: dict[str, float], gates: QualityGates) -> GateOutcome:
    """Every gated metric must be present, finite and at least its minimum."""
    checks = []
    for field, metric in GATED_METRICS.items():
        limit = float(getattr(gates, field))
        value = metrics.get(metric, math.nan)
        checks.append(
            GateCheck(metric=metric, value=value, limit=limit, passed=math.isfinite(value) and value >= limit)
        )
    return GateOutcome(passed=all(c.passed for c in checks), threshold=gates.decision_threshold, checks=checks)
