"""The governance evidence of one model version as ONE self-contained HTML page (pure).

Written for a model-risk officer: what the model is and its status, where every input came from
(lineage with digests), how it performs against the quality gates, what the bias metrics say
against their limits, which features drive it, and example reason codes for unfavourable decisions.

The page stands alone: CSS is inline, images are ``data:`` URIs, there is no JavaScript and no
external resource (a Content-Security-Policy forbids loading any), so it can be archived, mailed
or opened offline and always shows the same thing. Every value that comes from data, people or
reports is HTML-escaped. Results are shown as text (✓ Pass / ✗ Fail / No limit) as well as colour.

Images are placed by name: a name containing ``bias`` goes with the bias metrics, one containing
``shap`` or ``explain`` with the explanations, any other under "Other figures". PNG, JPEG and GIF
are embedded; anything else is listed as not embedded rather than silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from governed_mlops.domain.bias_plain import not_assessed_reason
from governed_mlops.models import ModelVersion
from governed_mlops.reports.evidence_champion import champion_section, champion_verdict
from governed_mlops.reports.evidence_markup import (
    code,
    data_table,
    digest_cell,
    esc,
    facts_table,
    fmt,
    key_value_table,
    muted,
    num,
    pill,
    result_cell,
    section_block,
    when,
)
from governed_mlops.reports.images import image_data_uri
from governed_mlops.reports.stage_reports import (
    METRIC_NAMES,
    STAGE_TITLES,
    BiasCheck,
    bias_checks,
    gate_checks,
    metric_rows,
)

__all__ = ["render_evidence_html"]


_CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--head:#f0f3f6;--zebra:#f9fafb;
--pass:#116329;--pass-bg:#dafbe1;--fail:#a40e26;--fail-bg:#ffebe9;--warn:#7d4e00;--warn-bg:#fff8c5;
--na:#59636e;--na-bg:#eff2f5;--bar:#1f5f8b}
*{box-sizing:border-box}
body{margin:0;background:#eef1f4;color:var(--ink);
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:72rem;margin:0 auto;padding:2rem 2.25rem 4rem;background:#fff;min-height:100vh}
header{border-bottom:3px solid var(--ink);padding-bottom:1rem;margin-bottom:1.25rem}
h1{font-size:1.8rem;line-height:1.25;margin:.1rem 0 .4rem}
h2{font-size:1.35rem;margin:2.6rem 0 .75rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
h3{font-size:1.08rem;margin:1.6rem 0 .5rem}
p{margin:.4rem 0 .8rem;max-width:60rem}
.kicker{text-transform:uppercase;letter-spacing:.06em;font-size:.8rem;color:var(--muted);margin:0}
.muted{color:var(--muted)}
nav ol{margin:.3rem 0 0;padding-left:1.3rem;columns:2;max-width:40rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.4rem;font-size:.93rem}
caption{text-align:left;font-weight:600;padding:0 0 .35rem;color:var(--ink)}
th,td{border:1px solid var(--line);padding:.4rem .65rem;text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600}
tbody tr:nth-child(even) td{background:var(--zebra)}
th[scope=row]{background:var(--head);width:15rem;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.86em;
word-break:break-all}
.badge{display:inline-block;padding:.08rem .6rem;border-radius:999px;border:1px solid currentColor;
font-weight:600;font-size:.88rem;white-space:nowrap}
.pass{color:var(--pass);background:var(--pass-bg)}
.fail{color:var(--fail);background:var(--fail-bg)}
.warn{color:var(--warn);background:var(--warn-bg)}
.na{color:var(--na);background:var(--na-bg)}
td.pass,td.fail,td.warn,td.na{font-weight:600;white-space:nowrap}
tbody tr td.pass,tbody tr:nth-child(even) td.pass{background:var(--pass-bg)}
tbody tr td.fail,tbody tr:nth-child(even) td.fail{background:var(--fail-bg)}
tbody tr td.na,tbody tr:nth-child(even) td.na{background:var(--na-bg)}
.summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.75rem;margin:1rem 0}
.card{border:1px solid var(--line);border-radius:8px;padding:.75rem .9rem}
.card h3{margin:0 0 .35rem;font-size:.95rem;color:var(--muted);font-weight:600}
.card p{margin:0}
.bar{display:inline-block;height:.65rem;background:var(--bar);border-radius:2px;vertical-align:middle}
figure{margin:1rem 0 1.5rem}
figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.3rem}
ol.reasons{margin:.3rem 0 1rem}
.example{border-left:4px solid var(--fail);padding:.2rem 0 .2rem 1rem;margin:1rem 0}
details{margin:1rem 0}
summary{cursor:pointer;font-weight:600}
pre{background:var(--zebra);border:1px solid var(--line);padding:1rem;overflow-x:auto;font-size:.8rem;
white-space:pre-wrap;word-break:break-all}
footer{margin-top:3rem;padding-top:1rem;border-top:1px solid var(--line);color:var(--muted);font-size:.85rem}
@media print{body{background:#fff}main{max-width:none;padding:0}h2{break-after:avoid}
table,figure,.example{break-inside:avoid}nav{display:none}details>pre{display:block}}
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_STATUS_STYLE = {"Approved": "pass", "Rejected": "fail", "PendingManualApproval": "warn"}
_STATUS_TEXT = {"Approved": "Approved", "Rejected": "Rejected", "PendingManualApproval": "Pending manual approval"}


def render_evidence_html(  # noqa: PLR0917 - stages.py passes the six reports positionally (being changed now)
    record: ModelVersion,
    model_card: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    bias: Mapping[str, Any] | None,
    explainability: Mapping[str, Any] | None,
    images: Mapping[str, bytes],
    *,
    gates: Mapping[str, Any] | None = None,
    champion: Mapping[str, Any] | None = None,
) -> str:
    """The evidence page of ``record`` as a complete HTML document.

    ``model_card`` is :func:`~governed_mlops.reports.model_card.build_model_card`'s content;
    ``evaluation``, ``gates``, ``bias`` (both Clarify stages merged) and ``explainability`` are the
    stage reports as decoded JSON (see :mod:`governed_mlops.reports.model_card` for their shapes);
    ``champion`` is ``champion_comparison.json`` (:class:`~governed_mlops.domain.champion.ChampionComparison`),
    None when the group had no approved version; ``images`` maps a file name (e.g. ``shap_summary.svg``)
    to its bytes.
    """
    placed = _place_images(images)
    sections = [
        _summary_section(record, evaluation, gates=gates, bias=bias, explainability=explainability, champion=champion),
        _lineage_section(record),
        _performance_section(evaluation, gates),
        _bias_section(bias, placed["bias"]),
        _explainability_section(explainability, placed["explain"]),
        champion_section(champion),
        _model_card_section(model_card),
    ]
    if placed["other"]:
        sections.append(section_block("figures", "Other figures", "".join(placed["other"])))
    title = f"Model evidence: {record.model_version}"
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        "<meta name='referrer' content='no-referrer'>\n"
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{_header(record)}\n{_contents()}\n{''.join(sections)}\n{_footer(record)}\n</main>\n</body>\n</html>\n"
    )


# --- page parts ----------------------------------------------------------------------------------


def _header(record: ModelVersion) -> str:
    status = pill(_STATUS_STYLE.get(record.status, "na"), _STATUS_TEXT.get(record.status, record.status))
    approval = ""
    if record.approval is not None:
        decision = record.approval
        reason = f": “{esc(decision.reason)}”" if decision.reason else ""
        approval = (
            f"<p>{esc(decision.decision.capitalize())} by <strong>{esc(decision.decided_by)}</strong> "
            f"at {esc(when(decision.decided_at))}{reason}</p>"
        )
    return (
        "<header>\n<p class='kicker'>Governance evidence · model version</p>\n"
        f"<h1>{esc(record.model_version)}</h1>\n"
        f"<p>Status: {status} · model package group <code>{esc(record.model_package_group)}</code> · "
        f"registered {esc(when(record.created_at))} by execution <code>{esc(record.execution_name)}</code></p>\n"
        f"{approval}</header>"
    )


def _contents() -> str:
    entries = [
        ("summary", "At a glance"),
        ("lineage", "Lineage"),
        ("performance", "Performance and quality gates"),
        ("bias", "Bias"),
        ("explainability", "Explainability"),
        ("champion", "Compared with the champion"),
        ("model-card", "Model card"),
    ]
    items = "".join(f"<li><a href='#{anchor}'>{esc(title)}</a></li>" for anchor, title in entries)
    return f"<nav aria-label='Contents'><strong>Contents</strong><ol>{items}</ol></nav>"


def _summary_section(
    record: ModelVersion,
    evaluation: Mapping[str, Any],
    *,
    gates: Mapping[str, Any] | None,
    bias: Mapping[str, Any] | None,
    explainability: Mapping[str, Any] | None,
    champion: Mapping[str, Any] | None,
) -> str:
    checks = gate_checks(gates)
    if checks:
        failed = [c for c in checks if not c.passed]
        verdict = pill("fail", "✗ Failed") if failed else pill("pass", "✓ Passed")
        gate_text = f"{verdict} {len(checks) - len(failed)} of {len(checks)} gates"
    else:
        gate_text = pill("na", "Not supplied")
    bias_rows = [check for check in bias_checks(bias) if check.passed is not None]
    if bias_rows:
        outside = [c for c in bias_rows if not c.passed]
        verdict = pill("fail", "✗ Outside limits") if outside else pill("pass", "✓ Within limits")
        bias_text = f"{verdict} {len(bias_rows) - len(outside)} of {len(bias_rows)} limited metrics"
    elif bias_checks(bias):
        bias_text = f"{pill('na', 'No limits')} metrics reported, none limited"
    elif (reason := not_assessed_reason(bias)) is not None:
        bias_text = f"{pill('warn', '⚠ Not assessed')} {esc(reason)}"
    else:
        bias_text = pill("na", "Not supplied")
    importance = _global_importance(explainability)
    labels = _feature_labels(explainability)
    explain_text = (
        "Top drivers: " + ", ".join(esc(labels.get(name, name)) for name, _ in importance[:3])
        if importance
        else pill("na", "Not supplied")
    )
    auc = next((row.value for row in metric_rows(evaluation) if row.metric == "auc"), None)
    cards = [
        (
            "Approval status",
            pill(_STATUS_STYLE.get(record.status, "na"), _STATUS_TEXT.get(record.status, record.status)),
        ),
        ("Quality gates", gate_text),
        ("Bias limits", bias_text),
        ("Explainability", explain_text),
        ("Hold-out AUC", esc(fmt(auc)) if auc is not None else pill("na", "Not supplied")),
        ("Champion", champion_verdict(champion)),
        (
            "Trained from",
            f"commit <code>{esc(record.code.commit_id[:12])}</code> on <code>{esc(record.code.branch)}</code>",
        ),
    ]
    body = "".join(f"<div class='card'><h3>{esc(name)}</h3><p>{value}</p></div>" for name, value in cards)
    return section_block("summary", "At a glance", f"<div class='summary'>{body}</div>")


def _lineage_section(record: ModelVersion) -> str:
    trigger = record.trigger
    rows = [
        ("Model version", code(record.model_version)),
        ("Model package", code(record.model_package_arn) if record.model_package_arn else muted("not recorded")),
        ("Pipeline execution", code(record.execution_name)),
        (
            "Trigger",
            f"{esc(trigger.kind)} by <strong>{esc(trigger.principal)}</strong> — {esc(trigger.source)} "
            f"“{esc(trigger.detail_type)}”, event {code(trigger.event_id)} at {esc(trigger.event_time.isoformat())}",
        ),
        ("Data object", digest_cell(record.data)),
        ("Code", f"{esc(record.code.repository)} @ {esc(record.code.branch)}, commit {code(record.code.commit_id)}"),
        ("Configuration", digest_cell(record.config)),
        ("Job code sha256", code(record.source_sha256)),
        (
            "State machine (ASL) sha256",
            code(record.definition_sha256) if record.definition_sha256 else muted("not recorded"),
        ),
        (
            "State machine version",
            code(record.state_machine_version_arn)
            if record.state_machine_version_arn
            else muted("not recorded (started without the alias)"),
        ),
        ("Model artifact", digest_cell(record.model_artifact)),
        ("Training job", f"{code(record.training_job_name)} on image {code(record.training_image)}"),
        ("Seed", code(str(record.seed))),
    ]
    hyperparameters = key_value_table(
        "Hyperparameters", ("Name", "Value"), sorted(record.hyperparameters.items()), "No hyperparameters recorded."
    )
    libraries = key_value_table(
        "Library versions",
        ("Library", "Version"),
        sorted(record.library_versions.items()),
        "Library versions not recorded.",
    )
    reports = data_table(
        "Report digests",
        ("Report", "Object", "sha256", "Bytes"),
        [
            [esc(name), code(digest.ref.pinned_uri), code(digest.sha256), num(str(digest.size))]
            for name, digest in sorted(record.reports.items())
        ],
        empty="No reports recorded.",
        numeric_columns=(3,),
    )
    intro = (
        "<p>Everything that produced this model, pinned: objects by version id and sha256, code by commit, "
        "the pipeline definition and job code by digest. Re-running the pipeline on these inputs reproduces the "
        "model byte for byte.</p>"
    )
    return section_block(
        "lineage", "Lineage", intro + facts_table("Provenance", rows) + hyperparameters + libraries + reports
    )


def _performance_section(evaluation: Mapping[str, Any], gates: Mapping[str, Any] | None) -> str:
    by_metric = {check.metric: check for check in gate_checks(gates)}
    rows = []
    for row in metric_rows(evaluation):
        check = by_metric.get(row.metric)
        if check is None:
            rows.append([esc(row.label), num(fmt(row.value)), num("—"), result_cell(None, "Not gated")])
        else:
            rows.append([esc(row.label), num(fmt(row.value)), num(f"≥ {fmt(check.limit)}"), result_cell(check.passed)])
    for metric, check in by_metric.items():
        if metric not in {row.metric for row in metric_rows(evaluation)}:
            label = METRIC_NAMES.get(metric, metric)
            rows.append([esc(label), num("missing"), num(f"≥ {fmt(check.limit)}"), result_cell(check.passed)])
    threshold = evaluation.get("threshold")
    count = evaluation.get("rows")
    intro = (
        f"<p>Hold-out evaluation on {esc(count)} rows at decision threshold {esc(threshold)} "
        "(approve when the predicted probability of the favourable outcome is at least the threshold).</p>"
    )
    metrics = data_table(
        "Metrics against the quality gates",
        ("Metric", "Hold-out value", "Minimum", "Result"),
        rows,
        empty="No evaluation metrics supplied.",
        numeric_columns=(1, 2),
    )
    return section_block("performance", "Performance and quality gates", intro + metrics + _confusion_table(evaluation))


def _confusion_table(evaluation: Mapping[str, Any]) -> str:
    section = evaluation.get("binary_classification_metrics")
    matrix = section.get("confusion_matrix") if isinstance(section, Mapping) else None
    if not isinstance(matrix, Mapping):
        return ""
    positive, negative = evaluation.get("positive_label"), evaluation.get("negative_label")
    labels = [str(label) for label in (positive, negative) if label is not None] or sorted(str(k) for k in matrix)
    rows = []
    for actual in labels:
        counts = matrix.get(actual, {})
        cells = [num(str(counts.get(predicted, "—")) if isinstance(counts, Mapping) else "—") for predicted in labels]
        rows.append([f"<strong>actual {esc(actual)}</strong>", *cells])
    return data_table(
        "Confusion matrix (rows: actual label, columns: predicted label)",
        ("", *(f"predicted {label}" for label in labels)),
        rows,
        numeric_columns=tuple(range(1, len(labels) + 1)),
    )


def _bias_section(bias: Mapping[str, Any] | None, figures: Sequence[str]) -> str:
    checks = bias_checks(bias)
    if not checks and (reason := not_assessed_reason(bias)) is not None:
        return section_block(
            "bias",
            "Bias",
            f"<p>{pill('warn', '⚠ Not assessed')} The configuration names no protected attribute, so the bias "
            f"jobs compared no group with another. Its reason: {esc(reason)}</p>" + "".join(figures),
        )
    if not checks:
        return section_block(
            "bias",
            "Bias",
            "<p>" + pill("na", "Not supplied") + " No bias report was supplied.</p>" + "".join(figures),
        )
    parts = [
        "<p>SageMaker Clarify bias metrics per facet (the disadvantaged group named in the table) against the "
        "limits configured for the pipeline. A metric that cannot be computed fails any limit set on it.</p>"
    ]
    for section_name, title in STAGE_TITLES.items():
        stage = [check for check in checks if check.stage == section_name]
        if stage:
            parts.append(
                data_table(
                    title,
                    ("Facet", "Group", "Metric", "Value", "Limit", "Result"),
                    [_bias_row(check) for check in stage],
                    numeric_columns=(3,),
                )
            )
    parts.extend(figures)
    return section_block("bias", "Bias", "".join(parts))


def _bias_row(check: BiasCheck) -> list[str]:
    value = fmt(check.value) if check.value is not None else "undefined"
    metric = f"<strong>{esc(check.metric)}</strong><br><span class='muted'>{esc(check.description)}</span>"
    if check.error:
        metric += f"<br><span class='muted'>{esc(check.error)}</span>"
    return [
        esc(check.facet),
        esc(check.group),
        metric,
        num(value),
        esc(check.limit_text),
        result_cell(check.passed, "No limit"),
    ]


def _explainability_section(explainability: Mapping[str, Any] | None, figures: Sequence[str]) -> str:
    importance = _global_importance(explainability)
    if explainability is None or not importance:
        return section_block(
            "explainability",
            "Explainability",
            "<p>" + pill("na", "Not supplied") + " No explainability report was supplied.</p>" + "".join(figures),
        )
    labels = _feature_labels(explainability)
    largest = max((value for _, value in importance), default=0.0) or 1.0
    rows = [
        [
            num(str(rank)),
            f"{esc(labels.get(name, name))}<br><code class='muted'>{esc(name)}</code>",
            num(fmt(value)),
            f"<span class='bar' style='width:{max(0.0, value) / largest * 12:.2f}rem' aria-hidden='true'></span>",
        ]
        for rank, (name, value) in enumerate(importance, start=1)
    ]
    dataset = explainability.get("dataset")
    rows_explained = dataset.get("rows") if isinstance(dataset, Mapping) else None
    method = explainability.get("method")
    output = method.get("output") if isinstance(method, Mapping) else None
    label = _tree_shap(explainability)
    intro = (
        f"<p>Exact TreeSHAP contributions of {esc(rows_explained)} rows, summed over the one-hot columns of each "
        f"categorical feature. Global importance is the mean absolute contribution ({esc(output or 'log-odds')}); "
        f"the expected value (base log-odds) is {esc(fmt(label.get('expected_value')))}.</p>"
    )
    table = data_table(
        "Global feature importance (mean |SHAP|)",
        ("Rank", "Feature", "Mean |SHAP|", ""),
        rows,
        numeric_columns=(0, 2),
    )
    return section_block(
        "explainability",
        "Explainability",
        intro + table + "".join(figures) + _reason_examples(explainability),
    )


def _reason_examples(explainability: Mapping[str, Any]) -> str:
    examples = explainability.get("reason_code_examples")
    if not isinstance(examples, list) or not examples:
        return (
            "<h3>Reason codes</h3><p>" + pill("na", "None") + " No unfavourable decision among the explained data.</p>"
        )
    threshold = explainability.get("decision_threshold")
    dataset = explainability.get("dataset")
    source = dataset.get("file", "the explained data") if isinstance(dataset, Mapping) else "the explained data"
    parts = [
        "<h3>Reason codes for unfavourable decisions (examples)</h3>",
        "<p>The features that lowered each case's score most (negative contributions, in log-odds): what "
        "a notice of an unfavourable decision would state (for credit, the adverse-action reasons).</p>",
    ]
    for example in examples:
        if not isinstance(example, Mapping):
            continue
        reasons = example.get("reasons")
        items = "".join(_reason_item(reason) for reason in (reasons if isinstance(reasons, list) else []))
        decision = str(example.get("decision", ""))
        # ``favourable`` since models name their own decisions; earlier reports only said approve or deny.
        favourable = example.get("favourable", decision != "deny")
        badge = pill("pass", f"✓ {decision.capitalize()}") if favourable else pill("fail", f"✗ {decision.capitalize()}")
        parts.append(
            f"<div class='example'><p><strong>Row {esc(example.get('row_index'))} of {esc(source)}</strong> "
            "<span class='muted'>(0-based data row)</span> — score "
            f"{esc(fmt(example.get('score')))} (threshold {esc(threshold)}) {badge}</p>"
            f"<ol class='reasons'>{items}</ol></div>"
        )
    return "".join(parts)


def _reason_item(reason: object) -> str:
    if not isinstance(reason, Mapping):
        return ""
    feature = str(reason.get("feature", ""))
    detail = f"{feature} {fmt(reason.get('contribution'))}"
    return f"<li>{esc(reason.get('text', ''))} <span class='muted'>(<code>{esc(detail)}</code>)</span></li>"


def _model_card_section(model_card: Mapping[str, Any]) -> str:
    uses = model_card.get("intended_uses")
    uses = uses if isinstance(uses, Mapping) else {}
    info = model_card.get("additional_information")
    info = info if isinstance(info, Mapping) else {}
    overview = model_card.get("model_overview")
    overview = overview if isinstance(overview, Mapping) else {}
    risk_explanation = uses.get("explanations_for_risk_rating", "")
    rows = [
        ("Model", esc(overview.get("model_description", "—"))),
        ("Purpose", esc(uses.get("purpose_of_model", "—"))),
        ("Intended uses", esc(uses.get("intended_uses", "—"))),
        ("Factors affecting performance", esc(uses.get("factors_affecting_model_efficiency", "—"))),
        ("Risk rating", f"<strong>{esc(uses.get('risk_rating', 'Unknown'))}</strong> — {esc(risk_explanation)}"),
        ("Ethical considerations", esc(info.get("ethical_considerations", "—"))),
        ("Caveats and recommendations", esc(info.get("caveats_and_recommendations", "—"))),
    ]
    document = json.dumps(model_card, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    raw = (
        "<details><summary>Model card content (SageMaker Model Card JSON)</summary>"
        f"<pre>{esc(document)}</pre></details>"
    )
    return section_block("model-card", "Model card", facts_table("Model card summary", rows) + raw)


def _footer(record: ModelVersion) -> str:
    return (
        f"<footer>Evidence for {esc(record.model_version)}, generated from the registry record and the stage reports "
        "listed under Lineage (their sha256 digests identify exactly what is shown). This page is self-contained: "
        "no scripts, no external resources.</footer>"
    )


# --- images --------------------------------------------------------------------------------------


def _place_images(images: Mapping[str, bytes]) -> dict[str, list[str]]:
    placed: dict[str, list[str]] = {"bias": [], "explain": [], "other": []}
    for name in sorted(images):
        lowered = name.lower()
        where = "bias" if "bias" in lowered else "explain" if ("shap" in lowered or "explain" in lowered) else "other"
        placed[where].append(_figure(name, images[name]))
    return placed


def _figure(name: str, data: bytes) -> str:
    source = image_data_uri(data)
    if source is None:
        return (
            f"<p>{pill('warn', 'Not embedded')} Figure <code>{esc(name)}</code> is not a PNG, JPEG or GIF image "
            "or an SVG chart made only of shapes and text.</p>"
        )
    return (
        f"<figure><img src='{source}' alt='{esc(_caption(name))}'>"
        f"<figcaption>{esc(_caption(name))} <span class='muted'>({esc(name)})</span></figcaption></figure>"
    )


def _caption(name: str) -> str:
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    text = " ".join(stem.replace("_", " ").replace("-", " ").split())
    return (text[:1].upper() + text[1:]) or name


# --- report readers ------------------------------------------------------------------------------


def _tree_shap(explainability: Mapping[str, Any] | None) -> Mapping[str, Any]:
    explanations = explainability.get("explanations") if explainability else None
    tree_shap = explanations.get("tree_shap") if isinstance(explanations, Mapping) else None
    label = tree_shap.get("label0") if isinstance(tree_shap, Mapping) else None
    return label if isinstance(label, Mapping) else {}


def _global_importance(explainability: Mapping[str, Any] | None) -> list[tuple[str, float]]:
    values = _tree_shap(explainability).get("global_shap_values")
    if not isinstance(values, Mapping):
        return []
    pairs = [(str(name), float(value)) for name, value in values.items() if isinstance(value, int | float)]
    return sorted(pairs, key=lambda pair: -pair[1])


def _feature_labels(explainability: Mapping[str, Any] | None) -> dict[str, str]:
    labels = explainability.get("feature_labels") if explainability else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
