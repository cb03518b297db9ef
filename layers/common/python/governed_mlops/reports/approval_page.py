"""The approver's evidence page and the decision confirmation (server-rendered, no external resources).

Everything that comes from data or people is escaped; the page needs no JavaScript; the only
state-changing requests are the two POST forms, each carrying the CSRF token.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from governed_mlops.domain.approval import four_eyes_reason, policy_text, progress
from governed_mlops.models import ApprovalRecord, ModelVersion

_CSS = """
body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:.2em 0} h2{font-size:1.2rem;margin-top:1.6em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5em 0}
th,td{border:1px solid #d0d7de;padding:6px 10px;text-align:left;vertical-align:top}
th{background:#eef1f4} code{font-size:.85em;word-break:break-all}
.pass{color:#116329;font-weight:600} .fail{color:#a40e26;font-weight:600}
.banner{padding:12px 16px;border-radius:6px;margin:12px 0;background:#fff8c5;border:1px solid #d4a72c}
.decided{background:#dafbe1;border-color:#4ac26b}
.forms{display:flex;gap:24px;flex-wrap:wrap;margin-top:12px}
form{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px;flex:1;min-width:280px}
textarea{width:100%;min-height:70px;font:inherit}
button{font:inherit;padding:8px 18px;border-radius:6px;border:1px solid #1b1f24;cursor:pointer}
.approve{background:#1f883d;color:#fff;border-color:#1f883d} .reject{background:#cf222e;color:#fff;border-color:#cf222e}
img{max-width:100%;background:#fff;border:1px solid #d0d7de}
.muted{color:#57606a;font-size:.9em}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>"
    )


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th scope='row'>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _gates_table(gates: dict[str, Any] | None, metrics: dict[str, float]) -> str:
    if gates and gates.get("checks"):
        rows = "".join(
            f"<tr><td>{escape(str(c['metric']))}</td><td>{float(c['value']):.4f}</td><td>≥ {float(c['limit']):.4f}</td>"
            f"<td class='{'pass' if c['passed'] else 'fail'}'>{'PASS' if c['passed'] else 'FAIL'}</td></tr>"
            for c in gates["checks"]
        )
        head = "<thead><tr><th>Metric</th><th>Hold-out value</th><th>Gate</th><th>Result</th></tr></thead>"
        return f"<table>{head}{rows}</table>"
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in sorted(metrics.items()))
    return f"<table><thead><tr><th>Metric</th><th>Value</th></tr></thead>{rows}</table>"


def _bias_tables(bias: dict[str, dict[str, Any]]) -> str:
    html = []
    for stage, report in bias.items():
        section = next((v for k, v in report.items() if k.endswith("bias_metrics") and isinstance(v, dict)), {})
        rows = []
        for facet, entries in section.get("facets", {}).items():
            for entry in entries:
                for metric in entry.get("metrics", []):
                    value = metric.get("value")
                    shown = "n/a" if value is None else f"{float(value):.4f}"
                    limit = metric.get("limit") or {}
                    bounds = " ".join(f"{k} {v}" for k, v in limit.items() if v is not None) or "—"
                    rows.append(
                        f"<tr><td>{escape(str(facet))}</td><td>{escape(str(metric.get('name')))}</td>"
                        f"<td>{shown}</td><td>{escape(bounds)}</td></tr>"
                    )
        if rows:
            html.append(
                f"<h3>{escape(stage.replace('_', ' '))}</h3><table><thead><tr><th>Facet</th><th>Metric</th>"
                f"<th>Value</th><th>Limit</th></tr></thead>{''.join(rows)}</table>"
            )
    return "".join(html) or "<p class='muted'>No bias report is attached to this model version.</p>"


def _num4(value: Any) -> str:
    return f"{float(value):.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def _champion_tables(comparison: dict[str, Any] | None) -> str:
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
        drop = f"drop {_num4(auc.get('drop'))}" if auc.get("drop") is not None else escape(str(auc.get("note", "")))
        facts.append(
            (
                "AUC on hold-out rows the champion never saw",
                f"{escape(str(auc.get('rows')))} rows: champion {_num4(auc.get('champion'))}, challenger "
                f"{_num4(auc.get('challenger'))}; {drop} (allowed ≤ {_num4(auc.get('max_drop'))})",
            )
        )
    html = [f"<table data-testid='champion'>{_rows(facts)}</table>"]
    metrics = comparison.get("metrics") or {}
    old, new = metrics.get("champion") or {}, metrics.get("challenger") or {}
    if old or new:
        rows = "".join(
            f"<tr><td>{escape(str(name))}</td><td>{_num4(old.get(name))}</td><td>{_num4(new.get(name))}</td></tr>"
            for name in sorted(set(old) | set(new))
        )
        html.append(
            "<h3>Metrics on the whole hold-out split</h3><table><thead><tr><th>Metric</th><th>Champion</th>"
            f"<th>Challenger</th></tr></thead>{rows}</table>"
        )
    bias = [row for row in comparison.get("bias") or [] if isinstance(row, dict)]
    if bias:
        rows = "".join(
            f"<tr><td>{escape(str(row.get('facet')))}</td><td>{escape(str(row.get('metric')))}</td>"
            f"<td>{_num4(row.get('champion'))}</td><td>{_num4(row.get('challenger'))}</td>"
            f"<td>{_num4(row.get('worsening'))}</td><td class='{_verdict_class(row.get('passed'))}'>"
            f"{escape(_verdict_text(row.get('passed'), str(row.get('note') or 'not compared')))}</td></tr>"
            for row in bias
        )
        html.append(
            "<h3>Post-training bias, side by side</h3><table><thead><tr><th>Facet</th><th>Metric</th>"
            f"<th>Champion</th><th>Challenger</th><th>Worsening</th><th>Result</th></tr></thead>{rows}</table>"
        )
    features = comparison.get("top_features") or {}
    old_top, new_top = list(features.get("champion") or []), list(features.get("challenger") or [])
    if old_top or new_top:
        rows = "".join(
            f"<tr><td>{rank + 1}</td><td>{_feature(old_top, rank)}</td><td>{_feature(new_top, rank)}</td></tr>"
            for rank in range(max(len(old_top), len(new_top)))
        )
        html.append(
            "<h3>Top features (global mean |SHAP|)</h3><table><thead><tr><th>Rank</th><th>Champion</th>"
            f"<th>Challenger</th></tr></thead>{rows}</table>"
        )
    failures = comparison.get("failures") or []
    if failures:
        html.append("<ul>" + "".join(f"<li class='fail'>{escape(str(f))}</li>" for f in failures) + "</ul>")
    return "".join(html)


def _verdict_class(passed: Any) -> str:
    return "muted" if passed is None else ("pass" if passed else "fail")


def _verdict_text(passed: Any, missing: str) -> str:
    return missing if passed is None else ("PASS" if passed else "FAIL")


def _feature(pairs: list[Any], rank: int) -> str:
    if rank >= len(pairs):
        return "—"
    name, value = pairs[rank]
    return f"{escape(str(name))} ({_num4(value)})"


def render_approval_page(
    *,
    approval: ApprovalRecord,
    record: ModelVersion,
    gates: dict[str, Any] | None,
    bias: dict[str, dict[str, Any]],
    explainability: dict[str, Any] | None,
    images: dict[str, str],
    csrf_token: str | None,
    viewer: str,
    link_query: dict[str, str],
    may_not_decide: str | None = None,
    viewer_approved: bool = False,
    champion: dict[str, Any] | None = None,
) -> str:
    """Evidence for one model version, and the Approve / Reject forms when the request is pending.

    The forms (and the CSRF token in them) are rendered only for a viewer who may decide; anyone else
    (``csrf_token`` None) reads ``may_not_decide``, the reason they may not. A viewer who already gave
    one of the approvals a high-risk model needs (``viewer_approved``) gets only the Reject form.
    """
    code = record.code
    trigger = record.trigger
    policy = policy_text(approval.approvals_required, approval.approvers_group, approval.risk_tier)
    model_name = approval.model_name or record.model_package_group
    summary = _rows(
        [
            (
                "Model",
                f"<strong data-testid='model-name'>{escape(model_name)}</strong>",
            ),
            (
                "Risk tier",
                f"<strong data-testid='risk-tier'>{escape(approval.risk_tier or 'not recorded')}</strong> — "
                f"needs {escape(policy)}",
            ),
            ("Approvals", f"<span data-testid='approval-progress'>{escape(progress(approval))}</span>"),
            ("Model version", f"<strong>{escape(record.model_version)}</strong> ({escape(record.status)})"),
            ("Execution", escape(record.execution_name)),
            ("Triggered by", f"{escape(trigger.principal)} — {escape(trigger.kind)} ({escape(trigger.detail_type)})"),
            ("Caused by", _originator_cell(approval)),
            (
                "Why",
                f"commit <code>{escape(code.commit_id)}</code> on {escape(code.repository)}@{escape(code.branch)}; "
                f"data <code>{escape(record.data.ref.pinned_uri)}</code>",
            ),
            ("Requested", escape(approval.requested_at.isoformat())),
            ("Link expires", escape(approval.expires_at.isoformat())),
        ]
    )
    hashes = _rows([(name, f"<code>{escape(value)}</code>") for name, value in sorted(approval.evidence.items())])
    shap_rows = ""
    if explainability:
        values = (
            explainability.get("explanations", {}).get("tree_shap", {}).get("label0", {}).get("global_shap_values", {})
        )
        top = sorted(values.items(), key=lambda kv: -abs(float(kv[1])))[:10]
        shap_rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{float(v):.4f}</td></tr>" for k, v in top)
    figures = "".join(
        f"<figure><img alt='{escape(name)}' src='data:image/png;base64,{escape(data)}'>"
        f"<figcaption class='muted'>{escape(name)}</figcaption></figure>"
        for name, data in sorted(images.items())
    )
    if approval.status == "pending" and csrf_token is None:
        decision = (
            f"<div class='banner' data-testid='may-not-decide'>Signed in as <strong>{escape(viewer or '—')}</strong>: "
            f"you may not decide on this model. {escape(may_not_decide or 'You are not an approver of this run.')}"
            "</div>"
        )
    elif approval.status == "pending" and csrf_token is not None:
        action = f"/approvals/{quote(approval.approval_id)}/decision"
        hidden = (
            f"<input type='hidden' name='csrf_token' value='{escape(csrf_token)}'>"
            f"<input type='hidden' name='exp' value='{escape(link_query['exp'])}'>"
            f"<input type='hidden' name='sig' value='{escape(link_query['sig'])}'>"
        )
        approve_form = (
            "<div class='banner' data-testid='viewer-approved'>You approved this model version "
            f"({escape(progress(approval))}); it waits for another approver. You may still reject it.</div>"
            if viewer_approved
            else f"<form method='post' action='{action}' data-testid='approve-form'>{hidden}"
            "<input type='hidden' name='decision' value='approve'>"
            "<label for='approve-reason'>Comment (optional)</label>"
            "<textarea id='approve-reason' name='reason'></textarea>"
            "<p><button class='approve' type='submit'>Approve</button></p></form>"
        )
        decision = (
            f"<p class='muted'>Signed in as <strong>{escape(viewer)}</strong>. Opening this page changed nothing; "
            "only the buttons below record a decision, once.</p><div class='forms'>"
            f"{approve_form}"
            f"<form method='post' action='{action}' data-testid='reject-form'>{hidden}"
            "<input type='hidden' name='decision' value='reject'>"
            "<label for='reject-reason'>Reason (required)</label>"
            "<textarea id='reject-reason' name='reason' required></textarea>"
            "<p><button class='reject' type='submit'>Reject</button></p></form></div>"
        )
    else:
        decision = (
            f"<div class='banner decided' data-testid='decided'>Already {escape(approval.status)}"
            f" by {escape(approval.decided_by or '—')}: {escape(approval.reason or '')}</div>"
        )
    body = (
        f"<h1>Review model {escape(record.model_version)}</h1>"
        f"<div class='banner'>Decide whether this model may be deployed. Status: "
        f"<strong data-testid='approval-status'>{escape(approval.status)}</strong></div>"
        f"<h2>Summary</h2><table>{summary}</table>"
        f"<h2>Hold-out metrics against the quality gates</h2>{_gates_table(gates, record.metrics)}"
        f"<h2>Bias (SageMaker Clarify metrics)</h2>{_bias_tables(bias)}"
        f"<h2>Compared with the champion</h2>{_champion_tables(champion)}"
        + (
            f"<h2>Explainability: global SHAP importance</h2><table><thead><tr><th>Feature</th>"
            f"<th>Mean |SHAP|</th></tr></thead>{shap_rows}</table>"
            if shap_rows
            else ""
        )
        + (f"<h2>Plots</h2>{figures}" if figures else "")
        + f"<h2>Evidence hashes (SHA-256)</h2><table>{hashes}</table>"
        f"<h2>Decision</h2>{decision}"
    )
    return _page(f"Review {record.model_version}", body)


def render_decision_page(record: ApprovalRecord) -> str:
    """What the approver sees after posting: the decision, or that their approval awaits another approver's."""
    if record.status == "pending":
        body = (
            f"<h1>Approval recorded</h1><div class='banner' data-testid='decision-result'>"
            f"Model {escape(record.model_version)} ({escape(record.model_name or '—')}, risk tier "
            f"{escape(record.risk_tier or 'not recorded')}): <strong data-testid='approval-progress'>"
            f"{escape(progress(record))}</strong>; waiting for another approver.</div>"
            f"<p class='muted'>Execution {escape(record.execution_name)} keeps waiting until a different approver "
            "approves it too (or anyone eligible rejects it).</p>"
        )
        return _page("Approval recorded", body)
    body = (
        f"<h1>Decision recorded</h1><div class='banner decided' data-testid='decision-result'>"
        f"Model {escape(record.model_version)} was <strong>{escape(record.status)}</strong> by "
        f"{escape(record.decided_by or '')}.</div><p>{escape(record.reason or '')}</p>"
        f"<p class='muted'>Execution {escape(record.execution_name)} continues.</p>"
    )
    return _page("Decision recorded", body)


def render_error_page(status: int, title: str, message: str) -> str:
    return _page(
        title,
        f"<h1>{escape(title)}</h1><div class='banner' data-testid='error'>"
        f"{escape(message)}</div><p class='muted'>HTTP {status}</p>",
    )


def _originator_cell(approval: ApprovalRecord) -> str:
    """Who caused the run as segregation of duties sees it, and why four-eyes applies when nobody could be resolved."""
    if approval.originator_evidence is None:
        return "<span class='muted'>not resolved (a request made before originators were verified)</span>"
    if approval.originator is not None:
        return (
            f"<strong data-testid='originator'>{escape(approval.originator)}</strong> — "
            f"{escape(approval.originator_evidence)}; may not approve this model"
        )
    return f"<strong data-testid='four-eyes'>Four-eyes:</strong> {escape(four_eyes_reason(approval) or '')}"
