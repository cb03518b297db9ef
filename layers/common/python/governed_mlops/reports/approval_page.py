"""The approver's evidence page and the decision confirmation (server-rendered, no external resources).

The page opens with the decision panel: the verdict of every gate, the comparison with the champion,
what changed, the Approve / Reject forms (only for someone who may decide; anyone else reads why
not) or the decision already made and by whom, and a link that saves the full evidence report. Bias
follows in plain language per group (:mod:`governed_mlops.domain.bias_plain`), then the metrics,
the champion in detail, the plots at a readable size and the evidence hashes. It fits a 375 px
screen: wide tables and plots scroll inside their own box.

Everything that comes from data or people is escaped; the page needs no JavaScript; the only
state-changing requests are the two POST forms, each carrying the CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from governed_mlops.domain.approval import four_eyes_reason, policy_text, progress
from governed_mlops.domain.bias_plain import BiasFinding, not_assessed_reason
from governed_mlops.models import ApprovalRecord, ModelVersion
from governed_mlops.reports.approval_bias import bias_section, bias_value
from governed_mlops.reports.approval_champion import champion_tables
from governed_mlops.reports.approval_markup import facts_rows, minute_when, num4, pill, result_pill, scroll_table
from governed_mlops.reports.images import image_data_uri
from governed_mlops.reports.stage_reports import METRIC_NAMES, gate_checks, metric_rows

#: The evidence report's name among a model version's reports (and ``report:<name>`` among the hashes).
EVIDENCE_REPORT = "evidence_report"

_CSS = """
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:.2em 0;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin-top:1.6em;border-bottom:1px solid #d0d7de} h3{font-size:1.05rem;margin:1.2em 0 .4em}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5em 0}
th,td{border:1px solid #d0d7de;padding:6px 10px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef1f4;overflow-wrap:normal} th[scope=row]{width:10rem} code{font-size:.85em;word-break:break-all}
.scroll{overflow-x:auto;max-width:100%}
.pass{color:#116329;font-weight:600} .fail{color:#a40e26;font-weight:600} .warn{color:#7d4e00;font-weight:600}
.badge{display:inline-block;padding:0 .5em;border-radius:999px;border:1px solid currentColor;white-space:nowrap}
.banner{padding:12px 16px;border-radius:6px;margin:12px 0;background:#fff8c5;border:1px solid #d4a72c}
.decided{background:#dafbe1;border-color:#4ac26b} .ended{background:#ffebe9;border-color:#cf222e}
.panel{background:#fff;border:2px solid #1b1f24;border-radius:8px;padding:12px 16px;margin:16px 0}
.panel h2{margin-top:0}
.forms{display:flex;gap:16px;flex-wrap:wrap;margin-top:12px}
form{background:#f6f7f9;border:1px solid #d0d7de;border-radius:6px;padding:12px;flex:1 1 260px;min-width:0}
textarea{width:100%;min-height:70px;font:inherit}
button{font:inherit;padding:8px 18px;border-radius:6px;border:1px solid #1b1f24;cursor:pointer}
.approve{background:#1f883d;color:#fff;border-color:#1f883d} .reject{background:#cf222e;color:#fff;border-color:#cf222e}
.facet{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px 14px 10px;margin:12px 0}
.findings{padding-left:0;list-style:none} .findings li{margin:.6em 0}
.flag{background:#fff8c5;border-left:4px solid #d4a72c;padding:6px 10px;margin:.4em 0}
details.acr{display:inline-block;vertical-align:top}
details.acr summary{display:inline;cursor:pointer;text-decoration:underline dotted}
details.acr[open]{display:block;background:#f6f7f9;padding:4px 8px;border-radius:4px}
figure{margin:12px 0} .plot{overflow-x:auto;max-width:100%;background:#fff;border:1px solid #d0d7de}
.plot img{display:block;max-width:none} .plot:focus-visible{outline:3px solid #0969da;outline-offset:2px}
.muted{color:#57606a;font-size:.9em}
.panel ul{margin:.3em 0;padding-left:1.2em}
@media (max-width:600px){main{padding:10px} th,td{padding:4px 6px} .panel{padding:8px 10px}
th[scope=row],th[scope=row]+td{display:block;width:auto} th[scope=row]{border-bottom:none}}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>"
    )


def render_approval_page(  # noqa: PLR0913 - keyword-only: one parameter per piece of evidence the page shows
    *,
    approval: ApprovalRecord,
    record: ModelVersion,
    gates: dict[str, Any] | None,
    bias: dict[str, dict[str, Any]],
    explainability: dict[str, Any] | None,
    images: Mapping[str, bytes],
    csrf_token: str | None,
    viewer: str,
    link_query: dict[str, str],
    may_not_decide: str | None = None,
    viewer_approved: bool = False,
    champion: dict[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    findings: Sequence[BiasFinding] = (),
    evidence_report: bytes | None = None,
    link_expired: bool = False,
) -> str:
    """Evidence for one model version: the decision panel first, then bias, metrics, champion, plots, hashes.

    The forms (and the CSRF token in them) are rendered only for a viewer who may decide on a pending
    request; anyone else (``csrf_token`` None) reads ``may_not_decide``, the reason they may not. A
    viewer who already gave one of the approvals a high-risk model needs (``viewer_approved``) gets
    only the Reject form. A decided request shows the decision and who made it, also when its link
    has since expired (``link_expired``). ``findings`` are the bias metrics in plain language
    (:func:`~governed_mlops.domain.bias_plain.bias_findings`); without them the raw ``bias`` reports
    are tabled. ``evidence_report`` is the stored HTML evidence report, offered as a download when its
    bytes match the sha256 the request recorded.
    """
    panel = (
        "<section class='panel' data-testid='decision-panel' aria-labelledby='decision-title'>"
        "<h2 id='decision-title'>Decision</h2>"
        + scroll_table(_verdict_rows(gates, findings, bias, champion, record), "verdicts")
        + _decision_block(
            approval,
            csrf_token,
            viewer,
            link_query,
            may_not_decide=may_not_decide,
            viewer_approved=viewer_approved,
            link_expired=link_expired,
        )
        + _evidence_link(approval, record, evidence_report)
        + "</section>"
    )
    shap_rows = _shap_rows(explainability)
    plots = _plots(images)
    body = (
        f"<h1>Review model {escape(record.model_version)}</h1>"
        f"<p>Model <strong data-testid='model-name'>{escape(approval.model_name or record.model_package_group)}"
        f"</strong>, status <strong data-testid='approval-status'>{escape(approval.status)}</strong>. "
        + ("Decide whether this model version may be deployed." if approval.status == "pending" else "")
        + "</p>"
        f"{panel}"
        f"<h2>Summary</h2>{scroll_table(facts_rows(_summary_rows(approval, record)))}"
        f"<h2>Bias, group by group</h2>{bias_section(findings, bias)}{plots['bias']}"
        f"<h2>Hold-out metrics against the quality gates</h2>{_metrics_table(gates, record.metrics, evaluation)}"
        f"<h2>Compared with the champion</h2>{champion_tables(champion)}"
        + (
            "<h2>Explainability: global SHAP importance</h2>"
            + scroll_table(f"<thead><tr><th>Feature</th><th>Mean |SHAP|</th></tr></thead>{shap_rows}")
            if shap_rows
            else ""
        )
        + plots["explain"]
        + (f"<h2>Other plots</h2>{plots['other']}" if plots["other"] else "")
        + "<h2>Evidence hashes (SHA-256)</h2>"
        + scroll_table(
            facts_rows([(name, f"<code>{escape(value)}</code>") for name, value in sorted(approval.evidence.items())])
        )
    )
    return _page(f"Review {record.model_version}", body)


def _summary_rows(approval: ApprovalRecord, record: ModelVersion) -> list[tuple[str, str]]:
    code, trigger = record.code, record.trigger
    policy = policy_text(approval.approvals_required, approval.approvers_group, approval.risk_tier)
    return [
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


# --- the decision panel --------------------------------------------------------------------------


def _verdict_rows(
    gates: Mapping[str, Any] | None,
    findings: Sequence[BiasFinding],
    bias: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    record: ModelVersion,
) -> str:
    rows = [
        ("Quality gates", _quality_verdict(gates)),
        ("Bias limits", _bias_verdict(findings, bias)),
        ("Four-fifths rule", _four_fifths_verdict(findings)),
        ("Champion", _champion_verdict(champion)),
        ("What changed", _what_changed(champion, record)),
    ]
    return facts_rows(rows)


def _quality_verdict(gates: Mapping[str, Any] | None) -> str:
    checks = gate_checks(gates)
    if not checks:
        return "<span class='muted'>no quality-gates report is attached</span>"
    failed = [check for check in checks if not check.passed]
    head = pill("fail", f"✗ {len(failed)} of {len(checks)} failed") if failed else pill("pass", "✓ All passed")
    items = "".join(
        f"<li>{'✓' if c.passed else '✗'} {escape(METRIC_NAMES.get(c.metric, c.metric))} {num4(c.value)} "
        f"(gate ≥ {num4(c.limit)})</li>"
        for c in checks
    )
    return f"<span data-testid='quality-verdict'>{head}</span><ul>{items}</ul>"


def _bias_verdict(findings: Sequence[BiasFinding], bias: Mapping[str, Any]) -> str:
    limited = [finding for finding in findings if finding.passed is not None]
    reason = not_assessed_reason(bias)
    if not findings and reason is not None:
        head = pill("warn", "⚠ Not assessed")
        return f"<span data-testid='bias-verdict'>{head}</span> no protected attribute is analysed: {escape(reason)}"
    if not limited:
        return (
            "<span class='muted'>no bias limits are configured</span>"
            if findings or bias
            else "<span class='muted'>no bias report is attached</span>"
        )
    outside = [finding for finding in limited if not finding.passed]
    if not outside:
        head = pill("pass", f"✓ {len(limited)} of {len(limited)} within limits")
        return f"<span data-testid='bias-verdict'>{head}</span>"
    items = "".join(
        f"<li>{escape(f.group)}: {escape(f.metric)} {bias_value(f.value)} outside {escape(f.limit or '')}</li>"
        for f in outside
    )
    head = pill("fail", f"✗ {len(outside)} of {len(limited)} outside their limits")
    return f"<span data-testid='bias-verdict'>{head}</span><ul>{items}</ul>"


def _four_fifths_verdict(findings: Sequence[BiasFinding]) -> str:
    flagged = [finding for finding in findings if finding.four_fifths]
    di = [finding for finding in findings if finding.metric == "DI" and finding.value is not None]
    if not di:
        return "<span class='muted'>no disparate impact (DI) was computed</span>"
    if not flagged:
        return pill("pass", f"✓ no group under four-fifths ({len(di)} checked)")
    items = "".join(f"<li>{escape(f.four_fifths or '')} (DI {bias_value(f.value)})</li>" for f in flagged)
    return f"<span data-testid='four-fifths-verdict'>{pill('warn', f'⚠ {len(flagged)} flagged')}</span><ul>{items}</ul>"


def _champion_verdict(comparison: Mapping[str, Any] | None) -> str:
    if not comparison:
        return "<span class='muted'>first version: no approved champion to compare with</span>"
    verdict = str(comparison.get("verdict", ""))
    style = {"challenger-accepted": "pass", "champion-retained": "fail"}.get(verdict, "muted")
    auc = comparison.get("auc")
    detail = ""
    if isinstance(auc, Mapping) and auc.get("champion") is not None:
        detail = f" AUC {num4(auc.get('challenger'))} against {num4(auc.get('champion'))} on unseen rows."
    return (
        f"<span class='{style}'>{escape(verdict)}</span> against "
        f"<code>{escape(str(comparison.get('champion', '')))}</code>.{escape(detail)}"
    )


def _what_changed(comparison: Mapping[str, Any] | None, record: ModelVersion) -> str:
    source = (
        f"commit <code>{escape(record.code.commit_id[:12])}</code>, data "
        f"<code>{escape(record.data.sha256[:12])}</code>, "
        f"configuration <code>{escape(record.config.sha256[:12])}</code>"
    )
    if not comparison:
        return f"new model: {source}"
    changed = [str(name) for name in comparison.get("changed") or []]
    since = escape(", ".join(changed)) if changed else "nothing"
    return f"since the champion: <strong>{since}</strong> ({source})"


def _decision_block(
    approval: ApprovalRecord,
    csrf_token: str | None,
    viewer: str,
    link_query: dict[str, str],
    *,
    may_not_decide: str | None,
    viewer_approved: bool,
    link_expired: bool,
) -> str:
    if approval.status != "pending":
        return _decided(approval, link_expired)
    if csrf_token is None:
        return (
            f"<div class='banner' data-testid='may-not-decide'>Signed in as <strong>{escape(viewer or '—')}</strong>: "
            f"you may not decide on this model. {escape(may_not_decide or 'You are not an approver of this run.')}"
            "</div>"
        )
    action = f"/approvals/{quote(approval.approval_id)}/decision"
    hidden = (
        f"<input type='hidden' name='csrf_token' value='{escape(csrf_token)}'>"
        f"<input type='hidden' name='exp' value='{escape(link_query['exp'])}'>"
        f"<input type='hidden' name='sig' value='{escape(link_query['sig'])}'>"
    )
    given = len(approval.approvals) + 1
    approve_effect = (
        f"Your approval will be {given} of {approval.approvals_required}; the run keeps waiting for another approver."
        if given < approval.approvals_required
        else "Approving lets the run continue: the model version is marked Approved and deployed."
    )
    approve_form = (
        "<div class='banner' data-testid='viewer-approved'>You approved this model version "
        f"({escape(progress(approval))}); it waits for another approver. You may still reject it.</div>"
        if viewer_approved
        else f"<form method='post' action='{action}' data-testid='approve-form'>{hidden}"
        "<input type='hidden' name='decision' value='approve'>"
        f"<p class='muted' data-testid='approve-effect'>{escape(approve_effect)}</p>"
        "<label for='approve-reason'>Comment (optional)</label>"
        "<textarea id='approve-reason' name='reason'></textarea>"
        "<p><button class='approve' type='submit'>Approve</button></p></form>"
    )
    return (
        f"<p class='muted'>Signed in as <strong>{escape(viewer)}</strong> ({escape(progress(approval))}). "
        "Opening this page changed nothing; only the buttons below record a decision, once.</p>"
        f"<div class='forms'>{approve_form}"
        f"<form method='post' action='{action}' data-testid='reject-form'>{hidden}"
        "<input type='hidden' name='decision' value='reject'>"
        "<p class='muted' data-testid='reject-effect'>Rejecting ends the run: the execution stops, the model "
        "version is marked Rejected and nothing is deployed.</p>"
        "<label for='reject-reason'>Reason (required, recorded in the audit ledger)</label>"
        "<textarea id='reject-reason' name='reason' required></textarea>"
        "<p><button class='reject' type='submit'>Reject</button></p></form></div>"
    )


def _decided(approval: ApprovalRecord, link_expired: bool) -> str:
    """The decision already made: what, by whom, when and why (each approver's comment), never a form."""
    who = escape(approval.decided_by or "—")
    when = escape(minute_when(approval.decided_at))
    if approval.status == "approved":
        style = "decided"
        text = (
            f"<strong data-testid='decision'>Approved</strong> by <strong data-testid='decided-by'>{who}</strong> "
            f"at {when}."
        )
    elif approval.status == "rejected":
        style = "decided ended"
        text = (
            f"<strong data-testid='decision'>Rejected</strong> by <strong data-testid='decided-by'>{who}</strong> "
            f"at {when}. The run ended; nothing was deployed."
        )
    else:
        style = "decided ended"
        text = (
            "<strong data-testid='decision'>Expired</strong>: no decision was made before "
            f"{escape(minute_when(approval.expires_at))}"
            + (f" (closed by <strong data-testid='decided-by'>{who}</strong>)" if approval.decided_by else "")
            + ". Nothing was deployed."
        )
    signoffs = "".join(
        f"<li>{escape(s.approver)} approved at {escape(minute_when(s.approved_at))}"
        + (f": “{escape(s.reason)}”" if s.reason else "")
        + "</li>"
        for s in approval.approvals
    )
    reason = (
        f"<p>Reason: “{escape(approval.reason)}”</p>"
        if approval.reason and (approval.status == "rejected" or not signoffs)
        else ""
    )
    note = (
        "<p class='muted'>The link's time to decide has passed; this page is the record of the decision.</p>"
        if link_expired
        else ""
    )
    return (
        f"<div class='banner {style}' data-testid='decided'>{text}{reason}"
        + (f"<ul>{signoffs}</ul>" if signoffs else "")
        + f"</div>{note}"
    )


def _evidence_link(approval: ApprovalRecord, record: ModelVersion, report: bytes | None) -> str:
    """A link that saves the full evidence report, the exact bytes whose sha256 the request recorded."""
    expected = approval.evidence.get(f"report:{EVIDENCE_REPORT}")
    if report is None:
        return "<p class='muted' data-testid='evidence-report'>No full evidence report is attached to this version.</p>"
    digest = hashlib.sha256(report).hexdigest()
    if expected is not None and digest != expected:
        return (
            f"<p class='fail' data-testid='evidence-report'>The stored evidence report (sha256 {escape(digest[:12])}…) "
            f"does not match the sha256 recorded with this request ({escape(expected[:12])}…): not offered.</p>"
        )
    name = f"evidence-{record.model_version.replace('/', '-')}.html"
    encoded = base64.b64encode(report).decode("ascii")
    return (
        f"<p><a data-testid='evidence-report' download='{escape(name)}' "
        f"href='data:text/html;base64,{encoded}'>Save the full evidence report</a> "
        f"<span class='muted'>({escape(name)}, {len(report) / 1024:,.0f} KiB, sha256 <code>{escape(digest[:16])}…"
        "</code>; lineage, model card, every metric; opens in any browser without a server)</span></p>"
    )


# --- bias ----------------------------------------------------------------------------------------


# --- metrics, explanations and plots -------------------------------------------------------------


def _metrics_table(
    gates: Mapping[str, Any] | None, metrics: Mapping[str, float], evaluation: Mapping[str, Any] | None
) -> str:
    """Every hold-out metric (false positive rate included), with its quality gate where one is set."""
    checks = {check.metric: check for check in gate_checks(gates)}
    rows = [(row.metric, row.label, row.value) for row in metric_rows(evaluation or {})]
    if not rows:
        rows = [(name, METRIC_NAMES.get(name, name), value) for name, value in sorted(metrics.items())]
    for name, check in checks.items():
        if name not in {row[0] for row in rows}:
            rows.append((name, METRIC_NAMES.get(name, name), check.value if check.value is not None else float("nan")))
    body = "".join(
        f"<tr><td>{escape(label)}</td><td>{num4(value)}</td>"
        + (
            f"<td>≥ {num4(checks[name].limit)}</td><td>{result_pill(checks[name].passed)}</td>"
            if name in checks
            else "<td>—</td><td><span class='muted'>not gated</span></td>"
        )
        + "</tr>"
        for name, label, value in rows
    )
    table = scroll_table(
        f"<thead><tr><th>Metric</th><th>Hold-out value</th><th>Gate</th><th>Result</th></tr></thead>{body}",
        "metrics",
    )
    positive = (evaluation or {}).get("positive_label")
    negative = (evaluation or {}).get("negative_label")
    note = (
        f"<p class='muted'>False positive rate: the share of rows whose outcome was {escape(str(negative))} that "
        f"the model predicted {escape(str(positive))}. True positive rate (recall): the share of rows whose outcome "
        f"was {escape(str(positive))} that it predicted {escape(str(positive))}.</p>"
        if positive is not None and negative is not None
        else ""
    )
    return table + note


def _shap_rows(explainability: Mapping[str, Any] | None) -> str:
    if not explainability:
        return ""
    values = explainability.get("explanations", {}).get("tree_shap", {}).get("label0", {}).get("global_shap_values", {})
    top = sorted(values.items(), key=lambda kv: -abs(float(kv[1])))[:10]
    return "".join(f"<tr><td>{escape(str(k))}</td><td>{float(v):.4f}</td></tr>" for k, v in top)


_PLOT_CAPTIONS = {
    "bias_pre_plot": "Pre-training bias: every Clarify metric of the data, per group",
    "bias_post_plot": "Post-training bias: every Clarify metric of the model's predictions, per group",
    "shap_plot": "SHAP summary: the features that move the model's score most",
}


def _plots(images: Mapping[str, bytes]) -> dict[str, str]:
    """Figures at their own size (readable), each in a box that scrolls sideways on a narrow screen.

    A file that is not an image the pages may embed (:func:`~governed_mlops.reports.images.image_data_uri`)
    is named, not shown.
    """
    placed = {"bias": "", "explain": "", "other": ""}
    for name in sorted(images):
        caption = _PLOT_CAPTIONS.get(name, name.replace("_", " "))
        where = "bias" if "bias" in name else "explain" if "shap" in name or "explain" in name else "other"
        source = image_data_uri(images[name])
        if source is None:
            placed[where] += (
                f"<p data-testid='plot-{escape(name)}'>Figure {escape(caption)} is not an image this page embeds.</p>"
            )
            continue
        placed[where] += (
            # The box scrolls, so it takes keyboard focus (arrow keys scroll it) and is named by its caption.
            f"<figure data-testid='plot-{escape(name)}'><div class='plot' tabindex='0' role='region' "
            f"aria-labelledby='caption-{escape(name)}'><img alt='{escape(caption)}' "
            f"src='{escape(source)}'></div>"
            f"<figcaption class='muted' id='caption-{escape(name)}'>{escape(caption)} (full size: scroll "
            "sideways if it is wider than the screen)</figcaption></figure>"
        )
    return placed


def render_decision_page(record: ApprovalRecord) -> str:
    """What the approver sees after posting: the decision and what it does to the run.

    A first approval that needs another approver's says the run keeps waiting; an approval resumes
    the run (deployment follows); a rejection ends it (nothing is deployed).
    """
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
    if record.status == "rejected":
        effect = (
            f"Execution {escape(record.execution_name)} ends: it stops as rejected, the model version is marked "
            "Rejected and nothing is deployed."
        )
        style = "decided ended"
    else:
        effect = (
            f"Execution {escape(record.execution_name)} continues: the model version is marked Approved and deployed."
        )
        style = "decided"
    body = (
        f"<h1>Decision recorded</h1><div class='banner {style}' data-testid='decision-result'>"
        f"Model {escape(record.model_version)} was <strong>{escape(record.status)}</strong> by "
        f"<strong data-testid='decided-by'>{escape(record.decided_by or '')}</strong>.</div>"
        f"<p>{escape(record.reason or '')}</p><p data-testid='run-effect'>{effect}</p>"
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
