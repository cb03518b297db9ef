"""Bias gate: SageMaker Clarify metrics of a bias report against the configured limits (pure).

The bias job only reports; this gate decides. Limits come from the pipeline configuration
(``bias.thresholds``: facet name -> Clarify metric name -> ``{min, max}``), never from the report
itself, so a report cannot loosen its own limits. A limit naming a facet the report does not hold,
or a metric Clarify does not define, is a configuration mistake and raises :class:`FacetError`
rather than passing silently. A metric the report could not compute (``"value": null``) breaches
any limit set on it: an unverifiable limit is not a met one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from governed_mlops.config import MetricLimit
from governed_mlops.domain.bias_names import STAGE_SECTIONS, metric_stage
from governed_mlops.errors import ArtifactNotFoundError, BiasThresholdExceeded, FacetError

__all__ = ["BiasBreach", "check_bias", "raise_for_breaches"]

Thresholds = Mapping[str, Mapping[str, MetricLimit | Mapping[str, float]]]


class BiasBreach(BaseModel):
    """One metric of one facet outside its limit (or undefined while a limit is set on it)."""

    model_config = ConfigDict(frozen=True)

    stage: str
    facet: str
    value_or_threshold: str
    metric: str
    value: float | None
    limit: MetricLimit
    error: str | None = None

    def describe(self) -> str:
        """``facet 'sex' (female*) DPL = 0.25 outside limit [min -0.2, max 0.2] (pre-training)``."""
        value = "undefined" if self.value is None else f"{self.value:.6g}"
        bounds = ", ".join(f"{name} {bound:g}" for name, bound in self.limit.to_json_dict().items())
        text = f"facet {self.facet!r} ({self.value_or_threshold}) {self.metric} = {value} outside limit [{bounds}]"
        detail = f"; {self.error}" if self.error else ""
        return f"{text} ({self.stage}-training{detail})"


def check_bias(report: Mapping[str, Any], thresholds: Thresholds) -> list[BiasBreach]:
    """Every limit whose metric is in the report's stage section(s), checked against the reported value.

    Limits for metrics of a stage the report does not cover (a post-training limit on a pre-training
    report) are skipped; they are checked when that stage's report arrives.

    Raises:
        FacetError: a limit names an unknown Clarify metric, a facet missing from the report, or a
            metric the report did not compute for that facet (e.g. CDDL without a group column).
        ArtifactNotFoundError: the report has no bias metrics section.
    """
    sections = _sections(report)
    breaches: list[BiasBreach] = []
    for facet, limits in thresholds.items():
        for stage, section in sections.items():
            entries = _facet_entries(section, facet, stage)
            for metric, raw_limit in limits.items():
                metric_of = metric_stage(metric)
                if metric_of is None:
                    raise FacetError(f"bias thresholds for facet {facet!r} name unknown Clarify metric {metric!r}")
                if metric_of != stage:
                    continue
                limit = raw_limit if isinstance(raw_limit, MetricLimit) else MetricLimit.model_validate(raw_limit)
                breaches.extend(_check_metric(stage, facet, entries, metric, limit))
    return breaches


def raise_for_breaches(breaches: list[BiasBreach]) -> None:
    """Raise :class:`BiasThresholdExceeded` naming facet, metric, value and limit of every breach.

    Raises:
        BiasThresholdExceeded: at least one breach was found.
    """
    if breaches:
        listed = "; ".join(breach.describe() for breach in breaches)
        raise BiasThresholdExceeded(f"{len(breaches)} bias metric(s) outside their limits: {listed}")


def _sections(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    sections = {stage: report[name] for stage, name in STAGE_SECTIONS.items() if isinstance(report.get(name), Mapping)}
    if not sections:
        raise ArtifactNotFoundError(f"bias report has none of the sections {sorted(STAGE_SECTIONS.values())}")
    return sections


def _facet_entries(section: Mapping[str, Any], facet: str, stage: str) -> list[Mapping[str, Any]]:
    facets = section.get("facets")
    if not isinstance(facets, Mapping) or facet not in facets:
        known = sorted(facets) if isinstance(facets, Mapping) else []
        raise FacetError(f"bias thresholds name facet {facet!r}, absent from the {stage}-training report {known}")
    entries = facets[facet]
    if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
        raise ArtifactNotFoundError(f"bias report: facet {facet!r} is not a list of value_or_threshold entries")
    return entries


def _check_metric(
    stage: str, facet: str, entries: list[Mapping[str, Any]], metric: str, limit: MetricLimit
) -> list[BiasBreach]:
    breaches = []
    for entry in entries:
        reported = {m.get("name"): m for m in entry.get("metrics", []) if isinstance(m, Mapping)}
        if metric not in reported:
            raise FacetError(
                f"bias thresholds set a limit on {metric} for facet {facet!r}, which the {stage}-training "
                f"report did not compute (computed: {sorted(str(name) for name in reported)})"
            )
        value = reported[metric].get("value")
        if value is not None and not isinstance(value, int | float):
            raise ArtifactNotFoundError(f"bias report: {metric} of facet {facet!r} is not a number: {value!r}")
        if value is None or not math.isfinite(value) or _outside(float(value), limit):
            breaches.append(
                BiasBreach(
                    stage=stage,
                    facet=facet,
                    value_or_threshold=str(entry.get("value_or_threshold", "")),
                    metric=metric,
                    value=None if value is None else float(value),
                    limit=limit,
                    error=reported[metric].get("error") if value is None else None,
                )
            )
    return breaches


def _outside(value: float, limit: MetricLimit) -> bool:
    return (limit.min is not None and value < limit.min) or (limit.max is not None and value > limit.max)
