"""Bias metrics in plain language, for the person who decides whether a model may be deployed (pure).

Every sentence is built from the model's own configuration and report: the facet's group in words
(its configured ``label``, or its column and selector), the label column and its favourable value.
Nothing here knows any dataset's column names.

Rates are said in percentage points; a limit on a rate difference is said the same way. Disparate
impact (DI) is also held against the four-fifths rule (a group's rate of favourable predictions under
80% of the other group's), which is flagged even when the model's configured limit lets it pass: a
relaxed limit is a decision someone made, and the person approving should see that it was made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from governed_mlops.config import FacetConfig, MetricLimit
from governed_mlops.domain.bias_names import METRIC_DESCRIPTIONS, STAGE_SECTIONS

__all__ = [
    "FOUR_FIFTHS",
    "METRIC_MEANINGS",
    "BiasFinding",
    "bias_findings",
    "facet_words",
    "four_fifths_flag",
    "limit_words",
    "not_assessed_reason",
]

FOUR_FIFTHS = 0.8
"""The four-fifths rule: a group's selection rate under 80% of another's indicates adverse impact."""

#: Metrics that are differences of two rates (shares of rows): said in percentage points.
_RATE_DIFFERENCES = frozenset({"CI", "DPL", "DPPL", "RD", "AD", "DAR", "DRR"})

METRIC_MEANINGS: dict[str, str] = {
    "CI": "how much smaller the group is than everyone else: (others − group) / all rows",
    "DPL": "in the data, the share of favourable outcomes among everyone else minus that among the group",
    "KL": "how differently the outcomes are distributed in the group and among everyone else (0: the same)",
    "JS": "a symmetric measure of how differently the outcomes are distributed (0: the same)",
    "LP": "the distance between the two groups' outcome distributions (0: the same)",
    "TVD": "half the summed absolute difference of the two groups' outcome distributions (0: the same)",
    "KS": "the largest gap between the two groups' outcome distributions (0: the same)",
    "CDDL": "the group's share of unfavourable minus favourable outcomes in the data, within each value of the "
    "configured group column, averaged",
    "DPPL": "the share of favourable predictions among everyone else minus that among the group",
    "DI": "the group's rate of favourable predictions divided by everyone else's (1: parity)",
    "DCA": "observed over predicted favourable outcomes, everyone else minus the group (0: the model is as "
    "generous to both, relative to the data)",
    "DCR": "observed over predicted unfavourable outcomes, the group minus everyone else",
    "RD": "among rows whose outcome really was favourable, the share predicted favourable (recall), everyone "
    "else minus the group",
    "DAR": "among favourable predictions, the share that were right (precision), everyone else minus the group",
    "DRR": "among unfavourable predictions, the share that were right, the group minus everyone else",
    "AD": "the share of correct predictions (accuracy), everyone else minus the group",
    "TE": "the ratio of false negatives to false positives, the group minus everyone else",
    "FT": "counterfactual flip test: how many of the group would be predicted differently if they resembled "
    "their nearest neighbours among everyone else, per group member",
    "CDDPL": "as CDDL, on the model's predictions instead of the data's outcomes",
}
"""What each Clarify metric measures, in words (the definitions of the SageMaker developer guide)."""


@dataclass(frozen=True)
class BiasFinding:
    """One Clarify metric of one facet, with a sentence that says what it means for the group."""

    stage: str
    facet: str
    group: str
    metric: str
    name: str
    meaning: str
    value: float | None
    error: str | None
    sentence: str
    limit: str | None
    passed: bool | None
    four_fifths: str | None

    @property
    def prominent(self) -> bool:
        """Shown in the facet's summary: limited, flagged, or one of the metrics that say most at a glance."""
        return self.limit is not None or self.four_fifths is not None or self.metric in {"CI", "DPPL", "DI"}


def facet_words(facet: FacetConfig) -> str:
    """Who facet d is, in words: the configured ``label``, else its column and selector."""
    if facet.label:
        return facet.label
    if facet.threshold is not None:
        return f"rows with {facet.column} ≤ {facet.threshold:g}"
    if facet.prefix is not None:
        return f"rows whose {facet.column} starts with “{facet.prefix}”"
    values = facet.values or []
    if len(values) == 1:
        return f"rows with {facet.column} = {values[0]}"
    return f"rows with {facet.column} in {{{', '.join(values)}}}"


def limit_words(metric: str, limit: MetricLimit) -> str:
    """``at most 20 points either way``, ``between 0.7 and 1.43``, ``at least 0.8``..."""
    points = metric in _RATE_DIFFERENCES
    unit = " points" if points else ""

    def shown(bound: float) -> str:
        return f"{bound * 100:g}" if points else f"{bound:g}"

    low, high = limit.min, limit.max
    if low is not None and high is not None:
        if points and math.isclose(low, -high) and high > 0:
            return f"at most {shown(high)}{unit} either way"
        return f"between {shown(low)} and {shown(high)}{unit}"
    if low is not None:
        return f"at least {shown(low)}{unit}"
    return f"at most {shown(high or 0.0)}{unit}"


def four_fifths_flag(value: float | None, group: str, outcome: str) -> str | None:
    """Why the four-fifths rule flags a disparate impact ``value``, or None when it does not."""
    if value is None or not math.isfinite(value):
        return None
    if value < FOUR_FIFTHS:
        return f"{_capital(group)} are predicted {outcome} at {value:.1%} of everyone else's rate: under four-fifths"
    if value > 1 / FOUR_FIFTHS:
        return f"everyone else is predicted {outcome} at {1 / value:.1%} of the rate of {group}: under four-fifths"
    return None


def not_assessed_reason(reports: Mapping[str, Any] | None) -> str | None:
    """Why the bias reports analyse no facet (the configuration's ``bias.not_assessed_reason``), or None.

    ``reports`` maps a report's name to a Clarify ``analysis.json`` document, or is one merged document
    holding both stages' sections. A stage section with no facet carries the reason next to its empty
    ``facets``; a section that analyses any facet means bias was assessed.
    """
    sections = []
    for value in (reports or {}).values():
        if not isinstance(value, Mapping):
            continue
        nested = [value[name] for name in STAGE_SECTIONS.values() if isinstance(value.get(name), Mapping)]
        sections.extend(nested or [value])
    reasons = [section.get("not_assessed_reason") for section in sections if "facets" in section]
    if not reasons or any(not isinstance(reason, str) or not reason for reason in reasons):
        return None
    return str(reasons[0])


def bias_findings(
    reports: Mapping[str, Mapping[str, Any]],
    *,
    groups: Mapping[str, str] | None = None,
    thresholds: Mapping[str, Mapping[str, MetricLimit]] | None = None,
) -> list[BiasFinding]:
    """Every metric of every facet in the reports (Clarify ``analysis.json`` documents), pre-training first.

    ``groups`` maps a facet's name to its group in words (:func:`facet_words`); a facet it does not
    name is called by its name and selector. ``thresholds`` (the model's pinned configuration) are
    the limits that apply; without them the limit the report carries next to a metric is used. A
    metric the report could not compute fails any limit set on it, as the bias gate decides.
    """
    findings: list[BiasFinding] = []
    for stage, section_name in STAGE_SECTIONS.items():
        for report in reports.values():
            section = report.get(section_name)
            if isinstance(section, Mapping):
                findings.extend(_section_findings(stage, section, groups or {}, thresholds))
    return findings


def _section_findings(
    stage: str,
    section: Mapping[str, Any],
    groups: Mapping[str, str],
    thresholds: Mapping[str, Mapping[str, MetricLimit]] | None,
) -> list[BiasFinding]:
    outcome = f"{section.get('label', 'the label')} = {section.get('label_value_or_threshold', 'favourable')}"
    facets = section.get("facets")
    findings = []
    for facet, entries in facets.items() if isinstance(facets, Mapping) else []:
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping):
                continue
            group = groups.get(str(facet)) or f"{facet} ({entry.get('value_or_threshold', '')})"
            for metric in entry.get("metrics", []):
                if isinstance(metric, Mapping) and isinstance(metric.get("name"), str):
                    limits = thresholds.get(str(facet), {}) if thresholds is not None else None
                    findings.append(_finding(stage, str(facet), group, outcome, metric, limits=limits))
    return findings


def _finding(
    stage: str,
    facet: str,
    group: str,
    outcome: str,
    metric: Mapping[str, Any],
    *,
    limits: Mapping[str, MetricLimit] | None,
) -> BiasFinding:
    name = str(metric["name"])
    raw = metric.get("value")
    value = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
    limit = _limit(name, metric, limits)
    passed = None if limit is None else (value is not None and math.isfinite(value) and _within(value, limit))
    description = METRIC_DESCRIPTIONS.get(name, str(metric.get("description") or name))
    flag = four_fifths_flag(value, group, outcome) if name == "DI" else None
    if flag is not None and passed and limit is not None:
        flag += f", although the configured limit ({limit_words(name, limit)}) passes it"
    return BiasFinding(
        stage=stage,
        facet=facet,
        group=group,
        metric=name,
        name=description.removesuffix(f" ({name})"),
        meaning=METRIC_MEANINGS.get(name, description),
        value=value,
        error=str(metric["error"]) if value is None and metric.get("error") else None,
        sentence=_sentence(name, value, group, outcome),
        limit=limit_words(name, limit) if limit is not None else None,
        passed=passed,
        four_fifths=flag,
    )


def _limit(name: str, metric: Mapping[str, Any], limits: Mapping[str, MetricLimit] | None) -> MetricLimit | None:
    if limits is not None:
        return limits.get(name)
    carried = metric.get("limit")
    if isinstance(carried, Mapping) and (carried.get("min") is not None or carried.get("max") is not None):
        return MetricLimit.model_validate({k: carried.get(k) for k in ("min", "max")})
    return None


def _within(value: float, limit: MetricLimit) -> bool:
    return (limit.min is None or value >= limit.min) and (limit.max is None or value <= limit.max)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _points(value: float) -> str:
    return f"{abs(value) * 100:.1f} points"


def _sentence(name: str, value: float | None, group: str, outcome: str) -> str:  # noqa: PLR0911 - one sentence per metric direction
    """What the value says about the group, in one sentence (directional where the metric has a direction)."""
    if value is None or not math.isfinite(value):
        return f"Could not be computed for {group}."
    fewer, less = ("fewer", "less") if value > 0 else ("more", "more")
    if name == "CI":
        share = (1 - value) / 2
        return f"{_capital(group)} are {share:.1%} of the rows; everyone else {1 - share:.1%}."
    if name == "DI":
        return f"The model predicts {outcome} for {group} at {value:.3f} times the rate of everyone else."
    if value == 0 and name in _RATE_DIFFERENCES:
        return f"No difference between {group} and everyone else."
    if name == "DPL":
        return f"In the data, {outcome} is {_points(value)} {less} common among {group} than among everyone else."
    if name == "DPPL":
        return f"The model predicts {outcome} {_points(value)} {less} often for {group} than for everyone else."
    if name == "RD":
        return (
            f"Of the rows whose outcome really was {outcome}, the model predicts it for {_points(value)} {fewer} "
            f"of {group} than of everyone else."
        )
    if name == "AD":
        return f"The model is right {_points(value)} {less} often for {group} than for everyone else."
    if name == "DAR":
        return f"When it predicts {outcome}, the model is right {_points(value)} {less} often for {group}."
    if name == "DRR":
        more = "more" if value > 0 else "less"
        return f"When it predicts against {outcome}, the model is right {_points(value)} {more} often for {group}."
    return f"{_capital(METRIC_MEANINGS.get(name, name))}: {value:.4f}."
