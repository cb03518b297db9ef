"""The evidence page's "Compared with the champion" section (pure): the challenger against the version it would replace.

Shows the inputs that changed, AUC on the hold-out rows the champion never saw, metrics, post-training bias and the
top SHAP features side by side, and why the champion was retained when it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from governed_mlops.reports.evidence_markup import (
    code,
    data_table,
    esc,
    facts_table,
    fmt,
    muted,
    num,
    pill,
    result_cell,
    section_block,
)
from governed_mlops.reports.stage_reports import METRIC_NAMES

__all__ = ["champion_section", "champion_verdict"]


_VERDICTS = {
    "challenger-accepted": ("pass", "✓ Challenger accepted"),
    "champion-retained": ("fail", "✗ Champion retained"),
    "not-comparable": ("na", "Not comparable"),
}


def champion_verdict(comparison: Mapping[str, Any] | None) -> str:
    """The comparison's verdict as a badge naming the champion (or "No champion")."""
    if not comparison:
        return pill("na", "No champion")
    style, text = _VERDICTS.get(str(comparison.get("verdict")), ("na", str(comparison.get("verdict"))))
    return f"{pill(style, text)} against {code(str(comparison.get('champion', '')))}"


def champion_section(comparison: Mapping[str, Any] | None) -> str:
    """Challenger against champion: inputs, AUC on rows the champion never saw, metrics, bias and SHAP side by side."""
    title = "Compared with the champion"
    if not comparison:
        body = (
            f"<p>{pill('na', 'No champion')} No approved version of this model package group existed when this "
            "version was trained, so there was nothing to compare it with.</p>"
        )
        return section_block("champion", title, body)
    parts = [f"<p>{champion_verdict(comparison)}</p>"]
    if comparison.get("reason"):
        parts.append(f"<p>{esc(comparison['reason'])}</p>")
    digests = _mapping(comparison.get("digests"))
    champion, challenger = _mapping(digests.get("champion")), _mapping(digests.get("challenger"))
    changed = set(comparison.get("changed") or [])
    parts.append(
        facts_table(
            "Champion",
            [
                ("Model version", code(str(comparison.get("champion", "")))),
                ("Trained by execution", code(str(comparison.get("champion_execution", "")))),
                ("Inputs changed since", esc(", ".join(sorted(changed))) if changed else muted("none")),
            ],
        )
    )
    parts.append(
        data_table(
            "Input digests (sha256)",
            ("Input", "Champion", "Challenger", "Changed"),
            [
                [
                    esc(name),
                    code(str(champion.get(name, ""))),
                    code(str(challenger.get(name, ""))),
                    esc("yes" if name in changed else "no"),
                ]
                for name in ("data", "code", "config")
            ],
        )
    )
    auc = comparison.get("auc")
    if isinstance(auc, Mapping):
        intro = (
            f"<p>Both models scored by the same evaluation job on this version's hold-out split "
            f"({esc(comparison.get('hold_out_rows'))} rows). AUC is compared on the {esc(auc.get('rows'))} rows the "
            "champion did not train on (its training split recomputed from its pinned data and configuration).</p>"
        )
        drop = auc.get("drop")
        parts.append(
            intro
            + data_table(
                "AUC on the hold-out rows the champion never saw",
                ("Rows", "Champion", "Challenger", "Drop", "Allowed drop", "Result"),
                [
                    [
                        num(str(auc.get("rows"))),
                        num(fmt(auc.get("champion"))),
                        num(fmt(auc.get("challenger"))),
                        num(fmt(drop) if drop is not None else "—"),
                        num(f"≤ {fmt(auc.get('max_drop'))}"),
                        result_cell(auc.get("passed"), str(auc.get("note") or "Not assessed")),
                    ]
                ],
                numeric_columns=(0, 1, 2, 3, 4),
            )
        )
    metrics = _mapping(comparison.get("metrics"))
    old, new = _mapping(metrics.get("champion")), _mapping(metrics.get("challenger"))
    if old or new:
        rows = [
            [
                esc(METRIC_NAMES.get(name, name)),
                num(fmt(old.get(name))),
                num(fmt(new.get(name))),
                num(fmt(new[name] - old[name]) if name in old and name in new else "—"),
            ]
            for name in sorted(set(old) | set(new))
        ]
        parts.append(
            data_table(
                "Metrics on the whole hold-out split",
                ("Metric", "Champion", "Challenger", "Difference"),
                rows,
                numeric_columns=(1, 2, 3),
            )
        )
    bias = comparison.get("bias") if isinstance(comparison.get("bias"), list) else []
    if bias:
        allowed = _mapping(comparison.get("limits")).get("max_bias_worsening")
        rows = [
            [
                esc(row.get("facet")),
                esc(row.get("metric")),
                esc(" ".join(f"{k} {v:g}" for k, v in (row.get("limit") or {}).items())),
                num(fmt(row.get("champion"))),
                num(fmt(row.get("challenger"))),
                num(fmt(row.get("worsening")) if row.get("worsening") is not None else "—"),
                result_cell(row.get("passed"), str(row.get("note") or "Not compared")),
            ]
            for row in bias
            if isinstance(row, Mapping)
        ]
        parts.append(
            "<p>Post-training bias: each limited metric's distance from its limit's centre (for a one-sided limit, "
            f"how far toward the bound), challenger minus champion; allowed worsening {esc(fmt(allowed))}. The "
            "champion's values are those registered with it (its own hold-out).</p>"
            + data_table(
                "Post-training bias, side by side",
                ("Facet", "Metric", "Limit", "Champion", "Challenger", "Worsening", "Result"),
                rows,
                numeric_columns=(3, 4, 5),
            )
        )
    features = _mapping(comparison.get("top_features"))
    old_top, new_top = list(features.get("champion") or []), list(features.get("challenger") or [])
    if old_top or new_top:
        parts.append(
            data_table(
                "Top features (global mean |SHAP|)",
                ("Rank", "Champion", "Challenger"),
                [
                    [num(str(rank + 1)), _feature_cell(old_top, rank), _feature_cell(new_top, rank)]
                    for rank in range(max(len(old_top), len(new_top)))
                ],
                numeric_columns=(0,),
            )
        )
    failures = comparison.get("failures") if isinstance(comparison.get("failures"), list) else []
    if failures:
        parts.append(
            "<h3>Why the champion was retained</h3><ul>" + "".join(f"<li>{esc(f)}</li>" for f in failures) + "</ul>"
        )
    return section_block("champion", title, "".join(parts))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _feature_cell(pairs: Sequence[Any], rank: int) -> str:
    if rank >= len(pairs):
        return "—"
    name, value = pairs[rank]
    return f"{esc(name)} <span class='muted'>({esc(fmt(value))})</span>"
