"""HTML for the on-call pages, from Step Functions shapes only (pure: no I/O, no clock, no network).

Inputs are what ``ExecutionStore`` and ``StepFunctionsHistory`` return: ListExecutions-shaped
summaries, a DescribeExecution dict, GetExecutionHistory events and the parsed ASL definition.
Timestamps may be ISO strings or datetimes. Every value that comes from an execution is
HTML-escaped; pages load nothing from elsewhere (inline CSS and SVG), so they work on an air-gapped
laptop and under ``Content-Security-Policy: default-src 'none'``. The one script, on pages of running
work, is :mod:`.refresh`'s (allowed by its hash): it keeps them current without a meta refresh.

What happened to each state comes from :mod:`.history_view`, where the boxes and lines go from
:mod:`.graph_layout`, the stylesheet from :mod:`.style`; this module only writes markup.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from governed_mlops.domain.outcomes import OUTCOME_LABELS, classify
from governed_mlops_local.incident import state_io
from governed_mlops_local.incident_sources import IncidentView
from governed_mlops_local.ui.event_filter import EventFilter, apply_filter, filter_form, state_href
from governed_mlops_local.ui.graph_layout import BOX_H, BOX_W, GraphGeometry, graph_geometry
from governed_mlops_local.ui.history_view import (
    STATUS_WORDS,
    TERMINAL_FAILURES,
    Failure,
    StateOutcome,
    TimelineEntry,
    describe_failure,
    parse_time,
    readable_cause,
    state_outcomes,
    timeline,
    walk_history,
)
from governed_mlops_local.ui.incident_html import render_incident, render_state_detail
from governed_mlops_local.ui.refresh import main_attributes, refresh_controls, script_tag
from governed_mlops_local.ui.style import CSS

_MINUTE, _HOUR = 60, 3600  # seconds
_MINUTES_PER_HOUR = 60
#: Durations under this many seconds show two decimals.
_TWO_DECIMALS_BELOW = 10
#: Up to this many hours a duration is not given in days.
_HOURS_BEFORE_DAYS = 48
#: Less than this many seconds ago is "just now".
_JUST_NOW = 45

_RAW_LIMIT = 4000


# -- HTML building blocks -------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: Any) -> str:
    moment = parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """``0.87 s``, ``14.5 s``, ``3 min 05 s``, ``2 h 04 min``."""
    if seconds < _TWO_DECIMALS_BELOW:
        return f"{seconds:.2f} s"
    if seconds < _MINUTE:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < _MINUTES_PER_HOUR:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < _HOURS_BEFORE_DAYS:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    seconds = (now - moment).total_seconds()
    if seconds < _JUST_NOW:
        return "just now"
    if seconds < _HOUR:
        return f"{round(seconds / 60)} min ago"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} d ago"


_BADGES = {
    "SUCCEEDED": ("ok", "✓"),
    "FAILED": ("bad", "✗"),
    "TIMED_OUT": ("bad", "⏱"),
    "ABORTED": ("bad", "■"),
    "INTERRUPTED": ("warn", "!"),
    "RUNNING": ("run", "●"),
    "PENDING_REDRIVE": ("run", "↻"),
}


def status_badge(status: str, *, testid: str | None = None) -> str:
    """A status in words with a glyph and a colour, never colour alone."""
    tone, glyph = _BADGES.get(status, ("idle", "?"))
    test = f' data-testid="{_e(testid)}"' if testid else ""
    return f'<span class="badge {tone}"{test}><span aria-hidden="true">{glyph}</span> {_e(status)}</span>'


def _page(
    title: str,
    body: str,
    *,
    refresh_seconds: int | None = None,
    refresh_key: str | None = None,
    as_of: str = "",
    source: str = "",
) -> str:
    """A page; with ``refresh_seconds`` and ``refresh_key`` (what changes when there is news) it keeps itself
    current through :mod:`.refresh` (a Reload link, a pausable check that reloads on news), never a meta refresh."""
    footer = "Read-only view of Step Functions execution history" + (f" · source: {_e(source)}" if source else "")
    refreshing = bool(refresh_seconds and refresh_key)
    controls = refresh_controls(as_of or "the time it was opened", refresh_seconds or 0) if refreshing else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<main{main_attributes(refresh_key, refresh_seconds)}>\n"
        f"{controls}{body}\n<footer>{footer}</footer>\n</main>\n"
        f"{script_tag() if refreshing else ''}</body>\n</html>\n"
    )


def _refresh_key(*parts: object) -> str:
    """Changes whenever any part does (statuses, event counts): the refresh script reloads on a change."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]


def _execution_href(name: str) -> str:
    # Relative links keep the pages working when the routes are mounted under a prefix.
    return "executions/" + quote(name, safe="")


def _safe_href(href: str) -> bool:
    try:
        scheme = urlsplit(href).scheme.lower()
    except ValueError:
        return False
    return scheme in {"", "http", "https"}


# -- the executions list --------------------------------------------------------------------------
def _duration(start: Any, stop: Any, now: datetime | None) -> str:
    begun, ended = parse_time(start), parse_time(stop)
    if begun is None:
        return "—"
    if ended is None:
        return f"running for {format_duration((now - begun).total_seconds())}" if now else "running"
    return format_duration((ended - begun).total_seconds())


def _filter_href(status: str | None, model: str | None) -> str:
    query = "&".join(f"{key}={quote(value)}" for key, value in (("model", model), ("status", status)) if value)
    return f"executions?{query}" if query else "executions"


def _filter_links(
    label_counts: Sequence[tuple[str, str | None, int]], current: str | None, href: Callable[[str | None], str]
) -> list[str]:
    links = []
    for label, value, count in label_counts:
        text = f"{_e(label)} ({count})"
        if value == current:
            links.append(f'<strong aria-current="page">{text}</strong>')
        else:
            links.append(f'<a href="{_e(href(value))}">{text}</a>')
    return links


def _outcome_note(execution: Mapping[str, Any]) -> str:
    """Under a failed run's badge: its outcome class (a person's decision or a gate is not a fault)."""
    if execution.get("status") not in TERMINAL_FAILURES:
        return ""
    label = OUTCOME_LABELS[classify(str(execution.get("status")), execution.get("error"))]
    return f'<div class="muted" data-testid="execution-outcome">{_e(label)}</div>'


def render_executions(
    executions: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    status: str | None = None,
    model: str | None = None,
    source: str = "",
) -> str:
    """The executions table: name (link), model, status badge, start, duration, and the error of failed ones.

    ``executions`` are ListExecutions-shaped; a ``model`` key names the model project the run is for
    (the local store has it; a row without one shows "-"), and an ``error`` / ``cause`` key (from
    DescribeExecution), when present, fills the error column. ``model`` and ``status`` filter the
    table; the filter links keep each other, and the model links count the runs per model.
    """
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    of_model = [e for e in executions if model is None or e.get("model") == model]
    counts: dict[str, int] = {}
    for execution in of_model:
        counts[str(execution.get("status"))] = counts.get(str(execution.get("status")), 0) + 1
    shown = [e for e in of_model if status is None or e.get("status") == status]
    status_filters = [("All", None, len(of_model))] + [
        (name.replace("_", " ").title(), name, counts[name]) for name in sorted(counts)
    ]
    links = _filter_links(status_filters, status, lambda value: _filter_href(value, model))
    per_model: dict[str, int] = {}
    for execution in executions:
        if execution.get("model"):
            per_model[str(execution["model"])] = per_model.get(str(execution["model"]), 0) + 1
    model_nav = ""
    if per_model or model:
        model_filters = [("All models", None, len(executions))] + [
            (name, name, per_model.get(name, 0)) for name in sorted(set(per_model) | ({model} if model else set()))
        ]
        model_links = _filter_links(model_filters, model, lambda value: _filter_href(status, value))
        model_nav = f'<nav class="filters" aria-label="Filter by model"><p>{" ".join(model_links)}</p></nav>'
    rows = []
    for execution in shown:
        name = str(execution.get("name", ""))
        started = parse_time(execution.get("startDate"))
        message, _ = readable_cause(execution.get("cause"))
        error = execution.get("error")
        error_cell = ""
        if error or message:
            error_cell = f"<code>{_e(error or '')}</code>"
            if message:
                error_cell += f'<div class="muted">{_e(_clip(message, 160))}</div>'
        rows.append(
            f'<tr data-testid="execution-row">'
            f'<td><a class="mono" href="{_e(_execution_href(name))}">{_e(name)}</a></td>'
            f'<td data-testid="execution-model">{_e(execution.get("model") or "-")}</td>'
            f"<td>{status_badge(str(execution.get('status', '')))}{_outcome_note(execution)}</td>"
            f'<td><span>{_e(_when(started))}</span><div class="muted">{_e(_ago(started, now))}</div></td>'
            f'<td class="num">{_e(_duration(execution.get("startDate"), execution.get("stopDate"), now))}</td>'
            f'<td class="detail">{error_cell}</td></tr>'
        )
    if rows:
        table = (
            '<div class="scroll"><table data-testid="executions-table"><thead><tr><th scope="col">Execution</th>'
            '<th scope="col">Model</th><th scope="col">Status</th><th scope="col">Started</th>'
            '<th scope="col">Duration</th><th scope="col">Error</th></tr></thead><tbody>'
            + "".join(rows)
            + "</tbody></table></div>"
        )
    elif executions:
        which = " and ".join(f"{k} {v}" for k, v in (("model", model), ("status", status)) if v)
        table = f'<p data-testid="executions-empty">No executions of {_e(which)}.</p>'
    else:
        table = (
            '<p data-testid="executions-empty">No executions yet. Locally, start one with <code>mlops demo</code>; '
            "in AWS, a push to <code>main</code> or a new dataset starts one.</p>"
        )
    running = any(e.get("status") == "RUNNING" for e in executions)
    body = (
        "<header><h1>Pipeline executions</h1>"
        f'<p class="muted">Newest first · as of {_e(_when(now))}' + "</p></header>"
        f'<section aria-labelledby="list-h"><h2 id="list-h">Executions</h2>'
        f'{model_nav}<nav class="filters" aria-label="Filter by status"><p>{" ".join(links)}</p></nav>'
        f"{table}</section>"
    )
    key = _refresh_key(*(f"{e.get('name')}:{e.get('status')}" for e in executions)) if running else None
    return _page("Pipeline executions", body, refresh_seconds=15, refresh_key=key, as_of=_when(now), source=source)


# -- one execution --------------------------------------------------------------------------------
_LEGEND = (
    ("succeeded", "✓ succeeded"),
    ("failed", "✗ failed"),
    ("caught", "↪ error caught and routed on"),
    ("running", "● running"),
    ("not_reached", "○ not reached"),
)


def _state_graph(
    definition: Mapping[str, Any],
    outcomes: Mapping[str, StateOutcome],
    transitions: Sequence[tuple[str, str]],
    selected: str | None = None,
) -> str:
    geometry = graph_geometry(definition)
    if geometry is None:
        return '<p class="muted">The state machine definition is not available, so no graph is drawn.</p>'
    states: Mapping[str, Any] = definition.get("States") or {}
    paths = _graph_edges(geometry, set(transitions))
    nodes = _graph_nodes(geometry, states, outcomes, selected)
    arrow = '<path d="M0,0 L10,5 L0,10 z"/>'
    defs = (
        "<defs>"
        f'<marker id="arrow" class="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9"'
        f' markerUnits="userSpaceOnUse" orient="auto-start-reverse">{arrow}</marker>'
        f'<marker id="arrow-taken" class="arrow taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9"'
        f' markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">{arrow}</marker></defs>'
    )
    summary = "; ".join(f"{o.name}: {o.label}" for o in outcomes.values())
    width, height = geometry.width, geometry.height
    svg = (
        f'<svg class="graph" data-testid="state-graph" viewBox="0 0 {width} {height}" width="{width}" '
        # role="group", not "img": its states are links (an image holding links nests interactive content).
        f'height="{height}" role="group" aria-labelledby="graph-title graph-desc" '
        f'font-family="system-ui,-apple-system,Segoe UI,Roboto,Noto Sans,Arial,sans-serif">'
        f'<title id="graph-title">State graph</title><desc id="graph-desc">{_e(summary)}</desc>'
        f"{defs}{''.join(paths)}{''.join(nodes)}</svg>"
    )
    hint = '<p class="muted">Click a state to see its input, output and events.</p>'
    return f'{hint}<div class="scroll">{svg}</div><ul class="legend" data-testid="legend">{_legend()}</ul>'


def _graph_edges(geometry: GraphGeometry, taken: set[tuple[str, str]]) -> list[str]:
    """One SVG path per edge; the transitions the execution took are drawn heavier."""
    paths = []
    for edge in geometry.edges:
        was_taken = (edge.source, edge.target) in taken
        css = "edge" + (" taken" if was_taken else "") + (" catch" if edge.catch else "")
        marker = "url(#arrow-taken)" if was_taken else "url(#arrow)"
        paths.append(
            f'<path class="{css}" d="{edge.d}" marker-end="{marker}" '
            f'data-edge="{_e(edge.source)} → {_e(edge.target)}"/>'
        )
    return paths


def _graph_nodes(
    geometry: GraphGeometry, states: Mapping[str, Any], outcomes: Mapping[str, StateOutcome], selected: str | None
) -> list[str]:
    """One box per state, top row first: its name, its type and its outcome in words; each links to its details."""
    nodes = []
    for name in sorted(geometry.boxes, key=lambda n: (geometry.boxes[n][1], geometry.boxes[n][0])):
        outcome = outcomes.get(name) or StateOutcome(name, "not_reached", "○ not reached")
        kind = str(states[name].get("Type", "?"))
        if kind == "Parallel":
            kind = f"Parallel · {len(states[name].get('Branches', []))} branches"
        sub = f"{kind} · {outcome.label}"
        tooltip = f"{name} ({kind}): {outcome.label}"
        left, top = geometry.boxes[name]
        chosen = " selected" if name == selected else ""
        nodes.append(
            f'<a href="{_e(state_href(name))}" aria-label="{_e(tooltip)}">'
            f'<g class="node {outcome.status}{chosen}" data-testid="state-{_e(name)}" data-status="{outcome.status}" '
            f'transform="translate({left},{top})"><title>{_e(tooltip)}</title>'
            f'<rect width="{BOX_W}" height="{BOX_H}" rx="8"/>'
            f'<text class="name" x="12" y="22">{_e(_clip(name, 30))}</text>'
            f'<text class="sub" x="12" y="42">{_e(_clip(sub, 38))}</text></g></a>'
        )
    return nodes


def _legend() -> str:
    legend = "".join(
        f'<li><span class="swatch {status}" aria-hidden="true"></span>{_e(text)}</li>' for status, text in _LEGEND
    )
    return legend + (
        '<li><span class="line" aria-hidden="true"></span>path taken</li>'
        '<li><span class="line thin" aria-hidden="true"></span>Next / Choice</li>'
        '<li><span class="line dashed" aria-hidden="true"></span>Catch (error path)</li>'
    )


def _failure_box(failure: Failure) -> str:
    interrupted = failure.status == "INTERRUPTED"
    word = "Interrupted" if interrupted else STATUS_WORDS.get(failure.status, "failed").capitalize()
    where = (
        f' in state “<span data-testid="failed-state">{_e(failure.state)}</span>”'
        if failure.state
        else ' <span data-testid="failed-state" class="muted">(no state was running)</span>'
    )
    cause_json = ""
    if failure.cause_json and failure.cause_json != failure.message:
        cause_json = (
            '<details data-testid="failed-cause-json"><summary>Full cause (JSON)</summary>'
            f'<pre class="json" tabindex="0" aria-label="cause">{_e(failure.cause_json)}</pre></details>'
        )
    cause_text = failure.message or "(no cause recorded)"
    return (
        f'<section class="failure{" interrupted" if interrupted else ""}" role="alert" '
        f'data-testid="failure" aria-labelledby="failure-h"><h2 id="failure-h">{word}{where}</h2><dl>'
        f'<dt>Outcome</dt><dd data-testid="failed-outcome">{_e(failure.outcome)}</dd>'
        f'<dt>Error</dt><dd><code data-testid="failed-error">{_e(failure.error)}</code></dd>'
        f'<dt>Cause</dt><dd><p class="cause" data-testid="failed-cause">{_e(cause_text)}</p>{cause_json}</dd>'
        "</dl></section>"
    )


def _evidence(links: Mapping[str, str], history_href: str) -> str:
    items = []
    for label, href in links.items():
        if _safe_href(href):
            items.append(f'<li><a href="{_e(href)}">{_e(label)}</a></li>')
        else:
            # s3:// and file: URIs (a browser will not open a file: link from an http page) and anything
            # with another scheme, javascript: included, are shown as text to copy, never linked.
            shown = unquote(urlsplit(href).path) if href.startswith("file:") else href
            items.append(f'<li>{_e(label)}: <code class="copy">{_e(shown)}</code></li>')
    items.append(f'<li><a href="{_e(history_href)}">Execution history (GetExecutionHistory JSON)</a></li>')
    return (
        '<section aria-labelledby="evidence-h" data-testid="evidence"><h2 id="evidence-h">Evidence</h2>'
        f'<ul class="evidence">{"".join(items)}</ul></section>'
    )


def _timeline(entries: Sequence[TimelineEntry], history_href: str) -> str:
    rows = []
    for entry in entries:
        event = entry.event
        offset = f"{entry.offset:.3f}" if entry.offset is not None else ""
        raw = json.dumps(entry.details, indent=2, ensure_ascii=False, default=str) if entry.details else ""
        if len(raw) > _RAW_LIMIT:
            raw = raw[:_RAW_LIMIT] + f"\n… truncated; the full event is in {history_href}"
        raw_cell = (
            '<details><summary>raw</summary><pre class="json" tabindex="0" aria-label="raw event">'
            f"{_e(raw)}</pre></details>"
            if raw
            else ""
        )
        rows.append(
            f'<tr class="{"err" if entry.failed else ""}" data-event-id="{_e(event.get("id"))}">'
            f'<td class="num">{_e(event.get("id"))}</td><td class="num">{_e(offset)}</td>'
            f'<td class="type mono">{"✗ " if entry.failed else ""}{_e(entry.kind)}</td><td>{_e(entry.state)}</td>'
            f'<td class="detail">{_e(_clip(entry.detail, 400))}{raw_cell}</td></tr>'
        )
    if not rows:
        return '<p class="muted" data-testid="events-empty">No events recorded (for this filter).</p>'
    return (
        '<div class="scroll"><table data-testid="events-table"><thead><tr><th scope="col">Id</th>'
        '<th scope="col">+Seconds</th><th scope="col">Type</th><th scope="col">State</th>'
        '<th scope="col">Detail</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>"
    )


def render_execution(
    described: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    definition: Mapping[str, Any],
    *,
    links: Mapping[str, str],
    now: datetime | None = None,
    source: str = "",
    incident: IncidentView | None = None,
    event_filter: EventFilter | None = None,
) -> str:
    """One execution: failure box and incident (if it did not succeed), evidence, state graph, events timeline.

    ``described`` is DescribeExecution-shaped, ``events`` GetExecutionHistory's ``events``,
    ``definition`` the parsed ASL (``{}`` when unknown: the graph is then left out), ``links``
    label → href for evidence (http(s) and relative hrefs become links; ``s3://`` and ``file:``
    URIs are shown as text to copy). ``now`` only words the duration of a running execution.
    ``incident`` adds the incident sections under the failure box; ``event_filter`` filters the events
    table (a chosen state also gets its details section above the table).
    """
    name = str(described.get("name", ""))
    status = str(described.get("status", ""))
    outcomes = state_outcomes(
        definition, events, execution_status=status or None, execution_error=described.get("error")
    )
    walk = walk_history(definition, events)
    failure = describe_failure(described, events, definition)
    history_href = quote(name, safe="") + "/history.json"
    chosen = event_filter or EventFilter()
    entries = timeline(definition, events)
    shown = apply_filter(entries, chosen)
    states = list(dict.fromkeys([*(definition.get("States") or {}), *(e.state for e in entries if e.state)]))
    kinds = sorted({e.kind for e in entries})
    machine = str(described.get("stateMachineArn", "")).rsplit(":", 1)[-1]
    meta = (
        f"<dt>Status</dt><dd>{status_badge(status, testid='execution-status')}</dd>"
        f"<dt>State machine</dt><dd><code>{_e(machine)}</code></dd>"
        f"<dt>Started</dt><dd>{_e(_when(described.get('startDate')))}</dd>"
        f"<dt>Stopped</dt><dd>{_e(_when(described.get('stopDate')))}</dd>"
        f"<dt>Duration</dt><dd>{_e(_duration(described.get('startDate'), described.get('stopDate'), now))}</dd>"
        f"<dt>ARN</dt><dd><code>{_e(described.get('executionArn', ''))}</code></dd>"
    )
    unknown = ""
    if walk.unknown_states and definition.get("States"):
        unknown = (
            '<p class="muted">The history also names states the current definition does not have '
            f"(it changed since this execution ran): {_e(', '.join(walk.unknown_states))}.</p>"
        )
    body = (
        f'<nav class="crumbs"><a href="../executions">← All executions</a></nav>'
        f'<header><h1 class="mono" data-testid="execution-name">{_e(name)}</h1></header>'
        # The failure comes before the details: on a phone at 3 a.m. it is the first thing on screen.
        + (_failure_box(failure) if failure else "")
        + f'<dl class="meta">{meta}</dl>'
        + (render_incident(incident) if incident else "")
        + _evidence(links, history_href)
        + '<section aria-labelledby="graph-h"><h2 id="graph-h">State graph</h2>'
        + _state_graph(definition, outcomes, walk.transitions, chosen.state)
        + unknown
        + "</section>"
        + _state_section(chosen.state, outcomes, events)
        + '<section aria-labelledby="events-h"><h2 id="events-h">Events</h2>'
        + filter_form(states, kinds, chosen, len(shown), len(entries))
        + _timeline(shown, history_href)
        + "</section>"
    )
    title = f"{'✗ ' if failure else ''}{name} · {status}"
    key = _refresh_key(status, len(events)) if status == "RUNNING" else None
    as_of = _when(now) if now else ""
    return _page(title, body, refresh_seconds=10, refresh_key=key, as_of=as_of, source=source)


def _state_section(state: str | None, outcomes: Mapping[str, StateOutcome], events: Sequence[Mapping[str, Any]]) -> str:
    if state is None:
        return ""
    outcome = outcomes.get(state)
    return render_state_detail(state, outcome.label if outcome else "", state_io(events, state))


def render_message(
    title: str, message: str, *, hint_html: str = "", home: str = "/executions", source: str = ""
) -> str:
    """A plain page for 404 / 405 / 500: what happened and what to do. ``hint_html`` must be trusted markup."""
    body = (
        f'<nav class="crumbs"><a href="{_e(home)}">← All executions</a></nav>'
        f'<section data-testid="message"><h1>{_e(title)}</h1><p>{_e(message)}</p>{hint_html}</section>'
    )
    return _page(title, body, source=source)
