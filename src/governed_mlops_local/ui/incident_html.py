"""HTML of the incident view on an execution's page, and of one state's details (pure: markup only).

Every value is HTML-escaped. Commands are in ``<code class="copy">`` (one click selects all of it;
the pages run no script). What the sections say comes from :mod:`governed_mlops_local.incident`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from governed_mlops_local.incident import Incident, MetricRow, StateIO, when
from governed_mlops_local.incident_sources import EvidenceFile, IncidentView


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pre(text: str | None, testid: str, summary: str = "") -> str:
    """A block of recorded text; with ``summary``, folded under it (long inputs must not push the graph away)."""
    if not text:
        return f'<p class="muted">{_e(summary) + ": " if summary else ""}(none recorded)</p>'
    # A scrollable block takes keyboard focus (scrolling without a mouse) and is named for screen readers.
    label = summary or testid.replace("-", " ")
    block = f'<pre class="json" data-testid="{testid}" tabindex="0" aria-label="{_e(label)}">{_e(text)}</pre>'
    if summary:
        lines = text.count("\n") + 1
        return f"<details><summary>{_e(summary)} ({lines} lines)</summary>{block}</details>"
    return block


def _actions(incident: Incident) -> str:
    items = []
    for action in incident.actions:
        command = (
            f'<pre class="cmd"><code class="copy" data-testid="next-command">{_e(action.command)}</code></pre>'
            if action.command
            else ""
        )
        items.append(
            f'<li data-testid="next-action" data-kind="{_e(action.kind)}"><strong>{_e(action.title)}</strong>'
            f"<p>{_e(action.why)}</p>{command}</li>"
        )
    return f'<ol class="actions">{"".join(items)}</ol>'


def _serving(incident: Incident) -> str:
    serving = incident.serving
    if serving is None:
        endpoint = f" (endpoint {_e(incident.endpoint)} does not exist)" if incident.endpoint else ""
        return f'<p data-testid="serving">Nothing deployed{endpoint}: no production traffic depends on this model.</p>'
    total = sum(weight for _, _, weight in serving.variants) or 1.0
    variants = ", ".join(
        f"<strong>{_e(version)}</strong> ({_e(variant)}, {weight / total:.0%} of traffic)"
        for variant, version, weight in serving.variants
    )
    return (
        f'<p data-testid="serving">Endpoint <code>{_e(serving.endpoint)}</code> ({_e(serving.status)}) serves '
        f"{variants or 'no variant'} since {_e(when(serving.since))}. This run changed nothing there.</p>"
    )


def _trigger(incident: Incident) -> str:
    facts = "".join(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in incident.trigger.facts)
    return f'<p data-testid="trigger">{_e(incident.trigger.summary)}</p><dl class="meta">{facts}</dl>'


def _metric(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _metrics(rows: Sequence[MetricRow], baseline: str) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr><th scope="row">{_e(r.name)}</th><td class="num">{_metric(r.before)}</td>'
        f'<td class="num">{_metric(r.now)}</td>'
        f'<td class="num">{"" if r.delta is None else f"{r.delta:+.4f}"}</td></tr>'
        for r in rows
    )
    note = ""
    if all(r.now is None for r in rows):
        note = '<p class="muted">This run stopped before it was evaluated: it has no metrics.</p>'
    return (
        '<h3>Evaluation metrics</h3><div class="scroll"><table data-testid="metrics-diff"><thead><tr>'
        f'<th scope="col">Metric</th><th scope="col">{_e(baseline)}</th><th scope="col">this run</th>'
        f'<th scope="col">Change</th></tr></thead><tbody>{body}</tbody></table></div>{note}'
    )


def _differences(incident: Incident) -> str:
    if incident.baseline is None:
        model = f" of model {incident.model}" if incident.model else ""
        return (
            f'<p data-testid="no-baseline">No earlier successful run{_e(model)}: nothing to compare with.</p>'
            + _metrics(incident.metrics, "last success")
        )
    rows = []
    for diff in incident.differences:
        lines = (
            '<details><summary>details</summary><pre class="json" tabindex="0" aria-label="configuration diff">'
            f"{_e(chr(10).join(diff.lines))}</pre></details>"
            if diff.lines
            else ""
        )
        mark = "changed" if diff.changed else "same"
        rows.append(
            f'<tr data-testid="diff-{_e(diff.aspect)}" data-changed="{str(diff.changed).lower()}">'
            f'<th scope="row">{_e(diff.aspect)}</th><td>{mark}</td><td>{_e(diff.summary)}{lines}</td></tr>'
        )
    baseline = incident.baseline.name
    return (
        f'<p>Last successful run of {_e(incident.model)}: <a href="{_e(baseline)}" data-testid="baseline">'
        f"{_e(baseline)}</a> (started {_e(when(incident.baseline.started))}).</p>"
        '<div class="scroll"><table data-testid="run-diff"><thead><tr><th scope="col">What</th>'
        '<th scope="col">Changed?</th><th scope="col">Detail</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></div>"
        + _metrics(incident.metrics, baseline)
    )


def _logs(logs: Sequence[tuple[str, Sequence[str]]]) -> str:
    if not logs:
        return '<p class="muted" data-testid="state-logs">No log lines of this run were found for the state.</p>'
    return "".join(
        # Scrollable, so it takes keyboard focus (to scroll it without a mouse) and is named by its source.
        f'<h4><code>{_e(source)}</code></h4><pre class="json log" data-testid="state-logs" tabindex="0" '
        f'aria-label="log lines of {_e(source)}">{_e(chr(10).join(lines))}</pre>'
        for source, lines in logs
    )


def _evidence_files(files: Sequence[EvidenceFile]) -> str:
    if not files:
        return '<p class="muted">The run wrote no files.</p>'
    items = []
    for item in files:
        inline = (
            f"<details open><summary>{_e(item.key.rsplit('/', 1)[-1])} (named in the cause)</summary>"
            f'<pre class="json" data-testid="evidence-inline" tabindex="0" '
            f'aria-label="{_e(item.key.rsplit("/", 1)[-1])}">{_e(item.inline)}</pre></details>'
            if item.inline is not None
            else ""
        )
        items.append(f'<li><code class="copy">{_e(item.path)}</code>{inline}</li>')
    return f'<ul class="evidence" data-testid="state-evidence">{"".join(items)}</ul>'


def io_blocks(io: StateIO, *, fold: bool = True) -> str:
    """A state's error and cause, input and output; ``fold`` folds input and output under their titles."""
    called = f"<p>Called <code>{_e(io.resource)}</code>.</p>" if io.resource else ""
    error = ""
    if io.error or io.cause:
        error = f"<h3>Error <code>{_e(io.error)}</code></h3>{_pre(io.cause, 'state-cause')}"
    if fold:
        return f"{called}{error}{_pre(io.input, 'state-input', 'Input')}{_pre(io.output, 'state-output', 'Output')}"
    return (
        f"{called}{error}<h3>Input</h3>{_pre(io.input, 'state-input')}<h3>Output</h3>{_pre(io.output, 'state-output')}"
    )


def render_incident(view: IncidentView) -> str:
    """The incident sections under the failure box: meaning and next action, production, trigger, what
    changed since the last successful run, and the failed state's input, output, logs and evidence."""
    incident = view.incident
    where = f"“{incident.state}”" if incident.state else "(no state)"
    return (
        '<section class="incident" data-testid="incident" aria-labelledby="incident-h">'
        '<h2 id="incident-h">What it means and what to do</h2>'
        f'<p data-testid="incident-meaning">{_e(incident.meaning)}</p>{_actions(incident)}</section>'
        '<section data-testid="incident-context" aria-labelledby="prod-h">'
        f'<h2 id="prod-h">Production now</h2>{_serving(incident)}'
        f"<h2>Why it ran</h2>{_trigger(incident)}</section>"
        '<section data-testid="incident-diff" aria-labelledby="diff-h">'
        f'<h2 id="diff-h">Compared with the last successful run</h2>{_differences(incident)}</section>'
        '<section data-testid="failed-state-detail" aria-labelledby="failed-io-h">'
        f'<h2 id="failed-io-h">Failed state {_e(where)}: input, error, logs, evidence</h2>'
        f"{io_blocks(incident.state_io)}<h3>Logs</h3>{_logs(view.logs)}"
        f"<h3>Files the run wrote</h3>{_evidence_files(view.evidence)}</section>"
    )


def render_state_detail(name: str, label: str, io: StateIO) -> str:
    """The section a click on a state of the graph opens: its outcome, input, error and output."""
    return (
        '<section id="state-detail" data-testid="state-detail" aria-labelledby="state-detail-h">'
        f'<h2 id="state-detail-h">State “{_e(name)}”</h2><p data-testid="state-detail-outcome">{_e(label)}</p>'
        f"{io_blocks(io, fold=False)}"
        '<p><a href="?#events-h">Show every state</a> · its events are in the table below.</p>'
        "</section>"
    )
