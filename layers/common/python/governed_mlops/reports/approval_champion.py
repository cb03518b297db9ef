"""The approval page's comparison with the champion (pure): the challenger against the model it would replace.

The verdict, AUC on the hold-out rows the champion never saw, metrics, post-training bias and the top SHAP features
side by side, and why the champion was retained when it was.
"""

from __future__ import annotations

from html import escape
from typing import Any

from governed_mlops.reports.approval_markup import (
    facts_rows,
    feature_text,
    num4,
    scroll_table,
    verdict_class,
    verdict_text,
)


def champion_tables(comparison: dict[str, Any] | None) -> str:
    """The challenger against the model it would replace: verdict, AUC on rows the champion never saw,
    metrics, bias and top features side by side."""
    if not comparison:
        return (
            "<p class='muted' data-testid='champion'>No champion: no approved version of this model package "
            "group existed when this version was trained.</p>"
        )
    verdict = str(comparison.get("verdict", ""))
    style = {"challenger-accepted": "pass", "champion-retained": "fail"}.get(verdict, "muted")
    facts = [
        ("Champion", f"<code>{escape(str(comparison.get('champion', '')))}</code>"),
        ("Verdict", f"<span class='{style}' data-testid='champion-verdict'>{escape(verdict)}</span>"),
        ("Inputs changed", escape(", ".join(str(c) for c in comparison.get("changed") or []) or "none")),
    ]
    if comparison.get("reason"):
        facts.append(("Why", escape(str(comparison["reason"]))))
    auc = comparison.get("auc")
    if isinstance(auc, dict):
        drop = f"drop {num4(auc.get('drop'))}" if auc.get("drop") is not None else escape(str(auc.get("note", "")))
        facts.append(
            (
                "AUC on hold-out rows the champion never saw",
                f"{escape(str(auc.get('rows')))} rows: champion {num4(auc.get('champion'))}, challenger "
                f"{num4(auc.get('challenger'))}; {drop} (allowed ≤ {num4(auc.get('max_drop'))})",
            )
        )
    html = [scroll_table(facts_rows(facts), "champion")]
    metrics = comparison.get("metrics") or {}
    old, new = metrics.get("champion") or {}, metrics.get("challenger") or {}
    if old or new:
        rows = "".join(
            f"<tr><td>{escape(str(name))}</td><td>{num4(old.get(name))}</td><td>{num4(new.get(name))}</td></tr>"
            for name in sorted(set(old) | set(new))
        )
        html.append(
            "<h3>Metrics on the whole hold-out split</h3>"
            + scroll_table(f"<thead><tr><th>Metric</th><th>Champion</th><th>Challenger</th></tr></thead>{rows}")
        )
    bias = [row for row in comparison.get("bias") or [] if isinstance(row, dict)]
    if bias:
        rows = "".join(
            f"<tr><td>{escape(str(row.get('facet')))}</td><td>{escape(str(row.get('metric')))}</td>"
            f"<td>{num4(row.get('champion'))}</td><td>{num4(row.get('challenger'))}</td>"
            f"<td>{num4(row.get('worsening'))}</td><td class='{verdict_class(row.get('passed'))}'>"
            f"{escape(verdict_text(row.get('passed'), str(row.get('note') or 'not compared')))}</td></tr>"
            for row in bias
        )
        html.append(
            "<h3>Post-training bias, side by side</h3>"
            + scroll_table(
                "<thead><tr><th>Facet</th><th>Metric</th><th>Champion</th><th>Challenger</th><th>Worsening</th>"
                f"<th>Result</th></tr></thead>{rows}"
            )
        )
    features = comparison.get("top_features") or {}
    old_top, new_top = list(features.get("champion") or []), list(features.get("challenger") or [])
    if old_top or new_top:
        rows = "".join(
            f"<tr><td>{rank + 1}</td><td>{feature_text(old_top, rank)}</td><td>{feature_text(new_top, rank)}</td></tr>"
            for rank in range(max(len(old_top), len(new_top)))
        )
        html.append(
            "<h3>Top features (global mean |SHAP|)</h3>"
            + scroll_table(f"<thead><tr><th>Rank</th><th>Champion</th><th>Challenger</th></tr></thead>{rows}")
        )
    failures = comparison.get("failures") or []
    if failures:
        html.append("<ul>" + "".join(f"<li class='fail'>{escape(str(f))}</li>" for f in failures) + "</ul>")
    return "".join(html)
