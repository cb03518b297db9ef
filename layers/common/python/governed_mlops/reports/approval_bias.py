"""The approval page's bias section (pure): the Clarify metrics in plain language, one card per group.

Each group (facet) gets its prominent findings as sentences (:mod:`governed_mlops.domain.bias_plain`), the
four-fifths rule flagged where it applies, and every metric with its limit and result in a table that opens on demand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from governed_mlops.domain.bias_plain import BiasFinding, not_assessed_reason
from governed_mlops.reports.approval_markup import pill, result_pill, scroll_table

_STAGE_WORDS = {"pre": "the data, before training", "post": "the model's predictions on the hold-out split"}


def bias_section(findings: Sequence[BiasFinding], bias: Mapping[str, Any]) -> str:
    """The bias findings grouped into one card per facet (or why there are none)."""
    reason = not_assessed_reason(bias)
    if not findings and reason is not None:
        return (
            f"<p>{pill('warn', '⚠ Not assessed')} The configuration names no protected attribute, so no group "
            f"is compared with another. Its reason: <q>{escape(reason)}</q>. Approving accepts that reason.</p>"
        )
    if not findings:
        return (
            "<p class='muted'>No bias report is attached to this model version.</p>"
            if not bias
            else "<p class='muted'>The bias reports hold no metrics.</p>"
        )
    by_facet: dict[str, list[BiasFinding]] = {}
    for finding in findings:
        by_facet.setdefault(finding.facet, []).append(finding)
    intro = (
        "<p>Each group (facet <em>d</em>) is compared with everyone else (facet <em>a</em>) with the SageMaker "
        "Clarify metrics; a metric with a limit passes or fails it. Tap an acronym for its meaning.</p>"
    )
    return intro + "".join(_facet_card(facet, entries) for facet, entries in by_facet.items())


def _facet_card(facet: str, findings: list[BiasFinding]) -> str:
    prominent = "".join(_finding_item(f) for f in findings if f.prominent)
    rows = "".join(
        f"<tr><td>{escape(f.stage)}</td><td>{_acronym(f)}</td><td>{bias_value(f.value)}</td>"
        f"<td>{escape(f.limit or '—')}</td><td>{result_pill(f.passed)}</td></tr>"
        for f in findings
    )
    table = scroll_table(
        "<thead><tr><th>Stage</th><th>Metric</th><th>Value</th><th>Limit</th><th>Result</th></tr></thead>" + rows
    )
    return (
        f"<section class='facet' data-testid='facet-{escape(facet)}'><h3>{escape(findings[0].group[:1].upper())}"
        f"{escape(findings[0].group[1:])} <span class='muted'>(facet {escape(facet)})</span></h3>"
        f"<ul class='findings'>{prominent}</ul>"
        f"<details><summary>All {len(findings)} metrics for this group</summary>{table}</details></section>"
    )


def _finding_item(finding: BiasFinding) -> str:
    limit = (
        f" Limit: {escape(finding.limit)}." if finding.limit else " <span class='muted'>No limit: reported only.</span>"
    )
    flag = (
        f"<div class='flag' data-testid='four-fifths'>{pill('warn', '⚠ Four-fifths rule')} "
        f"{escape(finding.four_fifths)}.</div>"
        if finding.four_fifths
        else ""
    )
    error = f" <span class='muted'>{escape(finding.error)}</span>" if finding.error else ""
    return (
        f"<li data-testid='finding-{escape(finding.facet)}-{escape(finding.metric)}'>{result_pill(finding.passed, '')} "
        f"{escape(finding.sentence)}{error}{limit} <span class='muted'>({escape(_STAGE_WORDS.get(finding.stage, ''))};"
        f"</span> {_acronym(finding)} <span class='muted'>{bias_value(finding.value)})</span>{flag}</li>"
    )


def _acronym(finding: BiasFinding) -> str:
    """The metric's acronym, which opens to its full name and what it measures (no script needed)."""
    return (
        f"<details class='acr'><summary>{escape(finding.metric)}</summary>{escape(finding.name)}: "
        f"{escape(finding.meaning)}.</details>"
    )


def bias_value(value: float | None) -> str:
    """A metric's value to four decimals; ``undefined`` when Clarify could not compute it."""
    return "undefined" if value is None else f"{value:.4f}"
