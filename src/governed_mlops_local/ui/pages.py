"""HTML for the on-call pages, from Step Functions shapes only (pure: no I/O, no clock, no network).

Inputs are what ``ExecutionStore`` and ``StepFunctionsHistory`` return: ListExecutions-shaped
summaries, a DescribeExecution dict, GetExecutionHistory events and the parsed ASL definition.
Timestamps may be ISO strings or datetimes. Every value that comes from an execution is
HTML-escaped; pages load nothing from elsewhere (inline CSS and SVG, no script), so they work on
an air-gapped laptop and under ``Content-Security-Policy: default-src 'none'``.

A state's outcome is derived from the history: the walk attributes every event to the top-level
state entered last and still open (events of a Parallel or Map branch go to the Parallel or Map
box), remembers whether the state exited and whether its last task result was a failure, and
names one *failed state* for a failed execution: the state whose error the execution ended with.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

from governed_mlops.domain.outcomes import OUTCOME_LABELS, classify

OutcomeStatus = Literal["succeeded", "failed", "caught", "running", "not_reached"]

TERMINAL_FAILURES = frozenset({"FAILED", "TIMED_OUT", "ABORTED", "INTERRUPTED"})
TERMINAL = TERMINAL_FAILURES | {"SUCCEEDED"}
_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")
_EXECUTION_END = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
_STATUS_WORDS = {"TIMED_OUT": "timed out", "ABORTED": "aborted", "INTERRUPTED": "interrupted"}
_RAW_LIMIT = 4000


# -- reading Step Functions shapes ----------------------------------------------------------------
def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _is_failure(kind: str) -> bool:
    return kind.endswith(_FAILURE_SUFFIXES)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def readable_cause(cause: str | None) -> tuple[str, str | None]:
    """The sentence a person should read first, and the cause pretty-printed when it is JSON.

    Lambda errors carry ``{"errorType", "errorMessage", ...}``; SageMaker failures carry
    ``FailureReason``. Anything else is shown as it came.
    """
    if not cause:
        return "", None
    try:
        parsed = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        return cause, None
    pretty = json.dumps(parsed, indent=2, ensure_ascii=False, sort_keys=False)
    if isinstance(parsed, dict):
        for key in ("errorMessage", "FailureReason", "Cause", "message"):
            value = parsed.get(key)
            if isinstance(value, str) and value:
                return value, pretty
    return pretty, pretty


def event_detail(event: Mapping[str, Any]) -> str:
    """One line about an event: the error and its message, the resource called, or the state's name."""
    details = _details(event)
    if details.get("error") is not None or details.get("cause") is not None:
        message, _ = readable_cause(details.get("cause"))
        error = details.get("error") or "error"
        return f"{error}: {message}" if message else str(error)
    if "resource" in details:
        resource = str(details["resource"]).rsplit(":", 1)[-1]
        text = f"{details.get('resourceType', 'lambda')} {resource}"
        timeout = details.get("timeoutInSeconds")
        return f"{text} (timeout {timeout} s)" if timeout else text
    if "index" in details:
        return f"iteration {details['index']}"
    if "name" in details:
        return str(details["name"])
    return ""


# -- layout ---------------------------------------------------------------------------------------
def state_edges(definition: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, kind) for every transition the definition declares, kind in next/choice/default/catch.

    Targets that name no top-level state are left out (the linter reports them; the page must still render).
    """
    states: Mapping[str, Any] = definition.get("States") or {}
    edges: list[tuple[str, str, str]] = []
    for name, state in states.items():
        targets: list[tuple[str, str]] = []
        if "Next" in state:
            targets.append((state["Next"], "next"))
        targets += [(rule["Next"], "choice") for rule in state.get("Choices", []) if "Next" in rule]
        if "Default" in state:
            targets.append((state["Default"], "default"))
        targets += [(catcher["Next"], "catch") for catcher in state.get("Catch", []) if "Next" in catcher]
        for target, kind in targets:
            if target in states and (name, target, kind) not in edges:
                edges.append((name, target, kind))
    return edges


def layout_states(definition: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Grid position ``(column, layer)`` of every top-level state; deterministic for a definition.

    Layers follow the longest path from ``StartAt`` over Next/Choices/Default/Catch edges (edges
    back to a state on the current path, i.e. loops, are ignored for layering), so a catch-all
    ``Fail`` state lands below the last state that can reach it. Within a layer, states are ordered
    by the mean column of their Next/Choice/Default predecessors, then by depth-first discovery with
    ``Next`` first, which keeps the main path in column 0; states reached only through ``Catch``
    come last in their layer. States unreachable from ``StartAt`` are layered from their own
    roots, in definition order. Parallel and Map states are single boxes: their branches are not
    laid out.
    """
    states = list((definition.get("States") or {}).keys())
    if not states:
        return {}
    successors: dict[str, list[str]] = {name: [] for name in states}
    for source, target, _ in state_edges(definition):
        if target not in successors[source]:
            successors[source].append(target)
    start = definition.get("StartAt")
    roots = ([start] if start in successors else []) + [name for name in states if name != start]
    discovered: dict[str, int] = {}
    back_edges: set[tuple[str, str]] = set()
    postorder: list[str] = []
    for root in roots:
        if root in discovered:
            continue
        discovered[root] = len(discovered)
        on_path = {root}
        stack = [(root, iter(successors[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                postorder.append(node)
            elif child in on_path:
                back_edges.add((node, child))
            elif child not in discovered:
                discovered[child] = len(discovered)
                on_path.add(child)
                stack.append((child, iter(successors[child])))
    layer = dict.fromkeys(states, 0)
    for node in reversed(postorder):  # a topological order once back edges are dropped
        for child in successors[node]:
            if (node, child) not in back_edges:
                layer[child] = max(layer[child], layer[node] + 1)
    # Order each layer by the mean column of its Next/Choice/Default predecessors (fewer crossings);
    # states reached only through Catch go last, so an error sink never pushes the main path aside.
    forward_preds: dict[str, list[str]] = {name: [] for name in states}
    for source, target, kind in state_edges(definition):
        if kind != "catch" and (source, target) not in back_edges:
            forward_preds[target].append(source)
    positions: dict[str, tuple[int, int]] = {}
    for depth in sorted(set(layer.values())):

        def rank(name: str) -> tuple[int, float, int]:
            columns = [positions[p][0] for p in forward_preds[name] if p in positions]
            if not columns:
                return (1, 0.0, discovered[name])
            return (0, sum(columns) / len(columns), discovered[name])

        row = sorted((name for name in states if layer[name] == depth), key=rank)
        for column, name in enumerate(row):
            positions[name] = (column, depth)
    return positions


# -- outcomes -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StateOutcome:
    """What happened to one top-level state, in words as well as a status."""

    name: str
    status: OutcomeStatus
    label: str
    error: str | None = None
    cause: str | None = None
    attempts: int = 0
    routed_to: str | None = None
    visits: int = 0


@dataclass
class _Visit:
    name: str
    entered_at: int
    visits: int = 1
    exited: bool = False
    attempts: int = 0
    last_result: str | None = None
    error: str | None = None
    cause: str | None = None
    failed_at: int = -1
    routed_to: str | None = None


@dataclass
class _Walk:
    visits: dict[str, _Visit]
    transitions: list[tuple[str, str]]
    unknown_states: list[str]
    end_status: str | None


def _walk(definition: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> _Walk:
    top: Mapping[str, Any] = definition.get("States") or {}
    visits: dict[str, _Visit] = {}
    transitions: list[tuple[str, str]] = []
    unknown: list[str] = []
    open_states: list[str] = []
    last_entered: str | None = None
    just_exited: str | None = None
    end_status: str | None = None
    for index, event in enumerate(events):
        kind = str(event.get("type", ""))
        details = _details(event)
        raw_name = details.get("name")
        name = raw_name if isinstance(raw_name, str) else None
        if kind.endswith("StateEntered") and name is not None and name in top:
            if last_entered is not None:
                transitions.append((last_entered, name))
            if just_exited is not None and just_exited in visits:
                visits[just_exited].routed_to = name
            previous = visits.get(name)
            visits[name] = _Visit(name, index, visits=previous.visits + 1 if previous else 1)
            open_states.append(name)
            last_entered, just_exited = name, None
        elif kind.endswith("StateExited") and name is not None and name in top:
            if name in visits:
                visits[name].exited = True
            if name in open_states:
                del open_states[len(open_states) - 1 - open_states[::-1].index(name)]
            just_exited = name
        elif kind in _EXECUTION_END:
            end_status = _EXECUTION_END[kind]
        elif open_states:
            visit = visits[open_states[-1]]
            if kind.endswith("StateEntered"):
                continue  # a state inside a Parallel or Map branch
            if kind.endswith("Scheduled") and top[visit.name].get("Type") == "Task":
                visit.attempts += 1
            if _is_failure(kind):
                visit.last_result, visit.failed_at = "failed", index
                visit.error = details.get("error") or visit.error
                visit.cause = details.get("cause") or visit.cause
            elif kind.endswith("Succeeded"):
                visit.last_result = "succeeded"
        elif kind.endswith("StateEntered") and name is not None and name not in unknown:
            unknown.append(name)
    return _Walk(visits, transitions, unknown, end_status)


def _status_of(walk: _Walk, execution_status: str | None) -> str | None:
    return execution_status or walk.end_status


def _failed_state(definition: Mapping[str, Any], walk: _Walk, status: str | None, error: str | None) -> str | None:
    if status not in TERMINAL_FAILURES:
        return None
    top: Mapping[str, Any] = definition.get("States") or {}

    def is_fail(name: str) -> bool:
        return bool(top.get(name, {}).get("Type") == "Fail")

    visits = [v for v in walk.visits.values() if not is_fail(v.name)]
    failed = [v for v in visits if v.last_result == "failed"]
    still_open = [v for v in visits if not v.exited]
    if status == "FAILED":
        matching = [v for v in failed if error is not None and v.error == error]
        candidates = matching or failed
        if candidates:
            return max(candidates, key=lambda v: v.failed_at).name
    if still_open:
        return max(still_open, key=lambda v: v.entered_at).name
    if failed:
        return max(failed, key=lambda v: v.failed_at).name
    reached_fail = [v for v in walk.visits.values() if is_fail(v.name)]
    return max(reached_fail, key=lambda v: v.entered_at).name if reached_fail else None


def _retries(attempts: int) -> str:
    return f" · retried {attempts - 1}×" if attempts > 1 else ""


def state_outcomes(
    definition: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    *,
    execution_status: str | None = None,
    execution_error: str | None = None,
) -> dict[str, StateOutcome]:
    """Outcome of every top-level state of ``definition`` after ``events`` (a GetExecutionHistory list).

    - ``succeeded``: the state exited and its last task result was not a failure (retries that
      ended well count as success and are shown as "retried n×");
    - ``caught``: it exited after a failure, i.e. a Catch routed the error to another state;
    - ``failed``: it is the execution's failed state (see :func:`describe_failure`), a ``Fail``
      state that was reached, or it never exited an execution that has ended;
    - ``running``: entered, not exited, and the execution has not ended ("waiting for callback" for a
      ``.waitForTaskToken`` task, e.g. a manual approval);
    - ``not_reached``: never entered.

    ``execution_status`` is DescribeExecution's status; without it the history's last
    ``Execution*`` event decides.
    """
    top: Mapping[str, Any] = definition.get("States") or {}
    walk = _walk(definition, events)
    status = _status_of(walk, execution_status)
    origin = _failed_state(definition, walk, status, execution_error)
    ended = status in TERMINAL
    outcomes: dict[str, StateOutcome] = {}
    for name, state in top.items():
        visit = walk.visits.get(name)
        if visit is None:
            outcomes[name] = StateOutcome(name, "not_reached", "○ not reached")
            continue
        base = StateOutcome(
            name,
            "succeeded",
            "",
            error=visit.error,
            cause=visit.cause,
            attempts=visit.attempts,
            routed_to=visit.routed_to,
            visits=visit.visits,
        )
        if state.get("Type") == "Fail":
            outcome = replace(base, status="failed", label="✗ reached: execution failed")
        elif name == origin:
            word = _STATUS_WORDS.get(status or "", "failed")
            reason = f": {visit.error}" if visit.error and word == "failed" else ""
            outcome = replace(base, status="failed", label=f"✗ {word}{reason}")
        elif visit.exited and visit.last_result == "failed":
            target = f" → {visit.routed_to}" if visit.routed_to else ""
            outcome = replace(base, status="caught", label=f"↪ caught {visit.error or 'error'}{target}")
        elif visit.exited:
            outcome = replace(base, label=f"✓ succeeded{_retries(visit.attempts)}")
        elif ended:
            outcome = replace(base, status="failed", label="✗ did not finish")
        else:
            attempt = f" · attempt {visit.attempts}" if visit.attempts > 1 else ""
            waiting = str(state.get("Resource", "")).endswith(".waitForTaskToken")
            outcome = replace(
                base, status="running", label=f"● {'waiting for callback' if waiting else 'running'}{attempt}"
            )
        outcomes[name] = outcome
    return outcomes


@dataclass(frozen=True)
class Failure:
    """Why an execution did not succeed, for the box at the top of its page."""

    status: str
    state: str | None
    error: str
    message: str
    cause_json: str | None

    @property
    def outcome(self) -> str:
        """The outcome class in words (fault, policy stop, human decision), as alerts and the CLI name it."""
        return OUTCOME_LABELS[classify(self.status, self.error)]


def describe_failure(
    described: Mapping[str, Any], events: Sequence[Mapping[str, Any]], definition: Mapping[str, Any] | None = None
) -> Failure | None:
    """The failed state, error and readable cause of a failed, timed-out, aborted or interrupted execution.

    The failed state is the one whose task failed with the execution's error (the last such
    failure), else the state still open when the execution ended, else the last state whose last
    result was a failure, else the ``Fail`` state reached. Without a definition, every state
    entered in the history counts as top-level.
    """
    walk_definition = definition if definition and definition.get("States") else _definition_from(events)
    walk = _walk(walk_definition, events)
    status = _status_of(walk, described.get("status"))
    if status not in TERMINAL_FAILURES:
        return None
    error = described.get("error")
    cause = described.get("cause")
    if error is None and cause is None:
        for event in reversed(events):
            if str(event.get("type")) in {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}:
                details = _details(event)
                error, cause = details.get("error"), details.get("cause")
                break
    state = _failed_state(walk_definition, walk, status, error)
    if error is None and state is not None and state in walk.visits:
        error, cause = walk.visits[state].error, cause or walk.visits[state].cause
    if error is None:
        error = {"TIMED_OUT": "States.Timeout", "ABORTED": "Aborted", "INTERRUPTED": "Interrupted"}.get(
            str(status), "unknown error"
        )
    message, pretty = readable_cause(cause)
    if not message and status == "INTERRUPTED":
        message = (
            "The local process that ran this execution exited before it finished. Continue it from the state "
            f"it was in with: mlops redrive {described.get('name', 'NAME')} (the states that finished are not "
            "run again)."
        )
    return Failure(status=str(status), state=state, error=str(error), message=message, cause_json=pretty)


def _definition_from(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for event in events:
        kind = str(event.get("type", ""))
        name = _details(event).get("name")
        if kind.endswith("StateEntered") and isinstance(name, str):
            states.setdefault(name, {"Type": kind[: -len("StateEntered")] or "Task"})
    return {"States": states}


# -- HTML building blocks -------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: Any) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """``0.87 s``, ``14.5 s``, ``3 min 05 s``, ``2 h 04 min``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    seconds = (now - moment).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
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


_CSS = """
:root{--bg:#f6f6f3;--panel:#fff;--text:#1d2330;--muted:#566070;--border:#d6dae0;--link:#0b57a4;
--ok:#16662b;--ok-bg:#e3f3e6;--ok-line:#2e9b4e;--bad:#a3211b;--bad-bg:#fcebea;--bad-line:#d0432f;
--warn:#8a4a00;--warn-bg:#fff0dc;--warn-line:#df8a1d;--run:#0e579f;--run-bg:#e3eefb;--run-line:#3b82d6;
--idle:#566070;--idle-bg:#f0f1f3;--idle-line:#b3bac4;--edge:#9aa3af;--edge-taken:#3d4654;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--panel:#1b1f26;--text:#e5e7ea;--muted:#a2a9b4;
--border:#343b46;--link:#8cc2ff;--ok:#7fd89c;--ok-bg:#16301f;--ok-line:#3fa862;--bad:#ff9d92;--bad-bg:#3b1a18;
--bad-line:#e0574a;--warn:#ffc47e;--warn-bg:#3a2a12;--warn-line:#e59b3a;--run:#8fc3ff;--run-bg:#15283f;
--run-line:#4a93e0;--idle:#a2a9b4;--idle-bg:#232830;--idle-line:#4b535f;--edge:#5b6470;--edge-taken:#c3c9d2}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
a{color:var(--link)}a:focus-visible{outline:3px solid var(--run-line);outline-offset:2px}
h1{font-size:1.55rem;margin:.2em 0 .3em;overflow-wrap:anywhere}h1.mono{font-size:1.4rem}
h2{font-size:1.2rem;margin:0 0 .6em}
code,pre,.mono{font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em}
.crumbs{font-size:.95rem;color:var(--muted)}.muted{color:var(--muted)}
section{background:var(--panel);border:1px solid var(--border);border-radius:10px;padding:18px 20px;margin:18px 0}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:8px 0 0}
.meta dt{color:var(--muted)}.meta dd{margin:0;overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 10px;border-radius:999px;font-weight:600;font-size:.9rem;
border:1px solid;white-space:nowrap}
.badge.ok{color:var(--ok);background:var(--ok-bg);border-color:var(--ok-line)}
.badge.bad{color:var(--bad);background:var(--bad-bg);border-color:var(--bad-line)}
.badge.warn{color:var(--warn);background:var(--warn-bg);border-color:var(--warn-line)}
.badge.run{color:var(--run);background:var(--run-bg);border-color:var(--run-line)}
.badge.idle{color:var(--idle);background:var(--idle-bg);border-color:var(--idle-line)}
section.failure{background:var(--bad-bg);border:2px solid var(--bad-line);border-left-width:8px}
section.failure h2{color:var(--bad);font-size:1.35rem}
section.failure.interrupted{background:var(--warn-bg);border-color:var(--warn-line)}
section.failure.interrupted h2{color:var(--warn)}
.failure dl{display:grid;grid-template-columns:max-content 1fr;gap:8px 18px;margin:0}
.failure dt{font-weight:600}.failure dd{margin:0;overflow-wrap:anywhere}
.cause{white-space:pre-wrap;margin:0;font-size:1.02rem;line-height:1.5}
pre.json{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--panel);border:1px solid var(--border);
border-radius:6px;padding:10px 12px;margin:8px 0 0;max-height:28em;overflow:auto}
details>summary{cursor:pointer;color:var(--link)}td details>summary{font-size:.8rem;color:var(--muted)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--border);vertical-align:top}
th{font-size:.85rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);position:sticky;top:0;
background:var(--panel)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.err td{background:var(--bad-bg)}tr.err td:first-child{box-shadow:inset 5px 0 0 var(--bad-line)}
tr.err .type{color:var(--bad);font-weight:600}
td.detail{overflow-wrap:anywhere;max-width:36em}
.scroll{overflow-x:auto}
.filters a,.filters strong{margin-right:14px}
.legend{list-style:none;padding:0;margin:12px 0 0;display:flex;flex-wrap:wrap;gap:8px 20px;font-size:.95rem}
.legend li{display:flex;align-items:center;gap:7px}
.swatch{display:inline-block;width:22px;height:16px;border-radius:4px;border:2px solid}
.swatch.succeeded{background:var(--ok-bg);border-color:var(--ok-line)}
.swatch.failed{background:var(--bad-bg);border-color:var(--bad-line)}
.swatch.caught{background:var(--warn-bg);border-color:var(--warn-line)}
.swatch.running{background:var(--run-bg);border-color:var(--run-line)}
.swatch.not_reached{background:var(--idle-bg);border-color:var(--idle-line);border-style:dashed}
.line{display:inline-block;width:34px;border-top:2px solid var(--edge-taken)}
.line.dashed{border-top-style:dashed;border-color:var(--edge)}.line.thin{border-top-width:1.5px;border-color:var(--edge)}
svg.graph{max-width:100%;height:auto;display:block}
svg .node rect{stroke-width:2}
svg .node.succeeded rect{fill:var(--ok-bg);stroke:var(--ok-line)}
svg .node.failed rect{fill:var(--bad-bg);stroke:var(--bad-line);stroke-width:3}
svg .node.caught rect{fill:var(--warn-bg);stroke:var(--warn-line);stroke-width:3}
svg .node.running rect{fill:var(--run-bg);stroke:var(--run-line);stroke-width:3}
svg .node.not_reached rect{fill:var(--idle-bg);stroke:var(--idle-line);stroke-dasharray:5 4}
svg .node .name{font-weight:600;font-size:14px;fill:var(--text)}
svg .node .sub{font-size:12.5px}
svg .node.succeeded .sub{fill:var(--ok)}svg .node.failed .sub{fill:var(--bad)}
svg .node.caught .sub{fill:var(--warn)}svg .node.running .sub{fill:var(--run)}
svg .node.not_reached .sub,svg .node.not_reached .name{fill:var(--idle)}
svg .edge{fill:none;stroke:var(--edge);stroke-width:1.5}
svg .edge.taken{stroke:var(--edge-taken);stroke-width:2.5}
svg .edge.catch{stroke-dasharray:6 5}
svg .arrow{fill:var(--edge)}svg .arrow.taken{fill:var(--edge-taken)}
ul.evidence{margin:0;padding-left:1.2em}code.copy{user-select:all}ul.evidence li{margin:4px 0;overflow-wrap:anywhere}
footer{color:var(--muted);font-size:.85rem;margin-top:28px}
@media (max-width:600px){main{padding:12px 12px 32px}section{padding:14px}
.failure dl,.meta{grid-template-columns:1fr;gap:2px}.failure dd,.meta dd{margin-bottom:8px}}
"""


def _page(title: str, body: str, *, refresh_seconds: int | None = None, source: str = "") -> str:
    refresh = f'<meta http-equiv="refresh" content="{refresh_seconds}">' if refresh_seconds else ""
    footer = "Read-only view of Step Functions execution history" + (f" · source: {_e(source)}" if source else "")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{refresh}<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n<footer>{footer}</footer>\n</main>\n</body>\n</html>\n"
    )


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
    begun, ended = _parse_time(start), _parse_time(stop)
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
        started = _parse_time(execution.get("startDate"))
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
        f'<p class="muted">Newest first · as of {_e(_when(now))}'
        + (" · refreshes every 15 s while one is running" if running else "")
        + "</p></header>"
        f'<section aria-labelledby="list-h"><h2 id="list-h">Executions</h2>'
        f'{model_nav}<nav class="filters" aria-label="Filter by status"><p>{" ".join(links)}</p></nav>'
        f"{table}</section>"
    )
    return _page("Pipeline executions", body, refresh_seconds=15 if running else None, source=source)


# -- one execution --------------------------------------------------------------------------------
_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD = 264, 54, 64, 44, 16
_LEGEND = (
    ("succeeded", "✓ succeeded"),
    ("failed", "✗ failed"),
    ("caught", "↪ error caught and routed on"),
    ("running", "● running"),
    ("not_reached", "○ not reached"),
)


def _state_graph(
    definition: Mapping[str, Any], outcomes: Mapping[str, StateOutcome], transitions: Sequence[tuple[str, str]]
) -> str:
    states: Mapping[str, Any] = definition.get("States") or {}
    positions = layout_states(definition)
    if not positions:
        return '<p class="muted">The state machine definition is not available, so no graph is drawn.</p>'

    def left(name: str) -> int:
        return _PAD + positions[name][0] * (_BOX_W + _GAP_X)

    def top(name: str) -> int:
        return _PAD + positions[name][1] * (_BOX_H + _GAP_Y)

    right_edge = max(left(name) + _BOX_W for name in positions)
    bottom = max(top(name) + _BOX_H for name in positions)
    taken = set(transitions)
    edges: list[tuple[str, str, bool]] = []
    for source, target, kind in state_edges(definition):
        key = (source, target, kind == "catch")
        if key not in edges and (source, target, False) not in edges:
            edges.append(key)
    # Edges between adjacent layers are elbows through the gap between them. Every other edge (Catch,
    # skips, loops) leaves its source's bottom, runs right through the gap to a lane of its target
    # beside the graph, and comes back through the gap above the target: lines never cross a box.
    lane_targets = sorted(
        {t for s, t, catch in edges if catch or positions[t][1] != positions[s][1] + 1},
        key=lambda name: (positions[name][1], positions[name][0]),
    )
    lanes = {name: right_edge + 24 + 14 * index for index, name in enumerate(lane_targets)}
    width = (max(lanes.values()) if lanes else right_edge) + _PAD
    height = bottom + _PAD

    def is_elbow(source: str, target: str, catch: bool) -> bool:
        return not catch and positions[target][1] == positions[source][1] + 1

    # Sources whose elbows turn in the same gap get their own height in it, so two elbows never merge
    # into one line that seems to join unrelated states.
    turning: dict[int, list[str]] = {}
    for source, target, catch in edges:
        if is_elbow(source, target, catch) and positions[source][0] != positions[target][0]:
            row = turning.setdefault(positions[source][1], [])
            if source not in row:
                row.append(source)
    turn_y: dict[str, int] = {}
    for row in turning.values():
        row.sort(key=lambda name: positions[name][0])
        for index, name in enumerate(row):
            turn_y[name] = top(name) + _BOX_H + 16 + (12 * index // max(len(row) - 1, 1) if len(row) > 1 else 6)
    paths = []
    for source, target, catch in edges:
        sx, sy = left(source), top(source)
        tx, ty = left(target), top(target)
        if is_elbow(source, target, catch):
            x1, x2 = sx + _BOX_W // 2, tx + _BOX_W // 2
            d = (
                f"M{x1},{sy + _BOX_H} V{ty - 2}"
                if x1 == x2
                else f"M{x1},{sy + _BOX_H} V{turn_y[source]} H{x2} V{ty - 2}"
            )
        else:
            below, above = sy + _BOX_H + 9, ty - 9
            exit_x, entry_x = sx + _BOX_W - 24, tx + _BOX_W - 24
            d = f"M{exit_x},{sy + _BOX_H} V{below} H{lanes[target]} V{above} H{entry_x} V{ty - 2}"
        was_taken = (source, target) in taken
        css = "edge" + (" taken" if was_taken else "") + (" catch" if catch else "")
        marker = "url(#arrow-taken)" if was_taken else "url(#arrow)"
        paths.append(f'<path class="{css}" d="{d}" marker-end="{marker}" data-edge="{_e(source)} → {_e(target)}"/>')
    nodes = []
    for name in sorted(positions, key=lambda n: (positions[n][1], positions[n][0])):
        outcome = outcomes.get(name) or StateOutcome(name, "not_reached", "○ not reached")
        kind = str(states[name].get("Type", "?"))
        if kind == "Parallel":
            kind = f"Parallel · {len(states[name].get('Branches', []))} branches"
        sub = f"{kind} · {outcome.label}"
        tooltip = f"{name} ({kind}): {outcome.label}"
        nodes.append(
            f'<g class="node {outcome.status}" data-testid="state-{_e(name)}" data-status="{outcome.status}" '
            f'transform="translate({left(name)},{top(name)})"><title>{_e(tooltip)}</title>'
            f'<rect width="{_BOX_W}" height="{_BOX_H}" rx="8"/>'
            f'<text class="name" x="12" y="22">{_e(_clip(name, 30))}</text>'
            f'<text class="sub" x="12" y="42">{_e(_clip(sub, 38))}</text></g>'
        )
    arrow = '<path d="M0,0 L10,5 L0,10 z"/>'
    defs = (
        "<defs>"
        f'<marker id="arrow" class="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9"'
        f' markerUnits="userSpaceOnUse" orient="auto-start-reverse">{arrow}</marker>'
        f'<marker id="arrow-taken" class="arrow taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9"'
        f' markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">{arrow}</marker></defs>'
    )
    summary = "; ".join(f"{o.name}: {o.label}" for o in outcomes.values())
    svg = (
        f'<svg class="graph" data-testid="state-graph" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="graph-title graph-desc" '
        f'font-family="system-ui,-apple-system,Segoe UI,Roboto,Noto Sans,Arial,sans-serif">'
        f'<title id="graph-title">State graph</title><desc id="graph-desc">{_e(summary)}</desc>'
        f"{defs}{''.join(paths)}{''.join(nodes)}</svg>"
    )
    legend = "".join(
        f'<li><span class="swatch {status}" aria-hidden="true"></span>{_e(text)}</li>' for status, text in _LEGEND
    )
    legend += (
        '<li><span class="line" aria-hidden="true"></span>path taken</li>'
        '<li><span class="line thin" aria-hidden="true"></span>Next / Choice</li>'
        '<li><span class="line dashed" aria-hidden="true"></span>Catch (error path)</li>'
    )
    return f'<div class="scroll">{svg}</div><ul class="legend" data-testid="legend">{legend}</ul>'


def _failure_box(failure: Failure) -> str:
    interrupted = failure.status == "INTERRUPTED"
    word = "Interrupted" if interrupted else _STATUS_WORDS.get(failure.status, "failed").capitalize()
    where = (
        f' in state “<span data-testid="failed-state">{_e(failure.state)}</span>”'
        if failure.state
        else ' <span data-testid="failed-state" class="muted">(no state was running)</span>'
    )
    cause_json = ""
    if failure.cause_json and failure.cause_json != failure.message:
        cause_json = (
            '<details data-testid="failed-cause-json"><summary>Full cause (JSON)</summary>'
            f'<pre class="json">{_e(failure.cause_json)}</pre></details>'
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


def _timeline(definition: Mapping[str, Any], events: Sequence[Mapping[str, Any]], history_href: str) -> str:
    top: Mapping[str, Any] = definition.get("States") or {}
    start = _parse_time(events[0].get("timestamp")) if events else None
    open_states: list[str] = []
    attempts: dict[str, int] = {}
    rows = []
    for event in events:
        kind = str(event.get("type", ""))
        details = _details(event)
        name = details.get("name")
        detail = event_detail(event)
        if kind.endswith("StateEntered") and isinstance(name, str):
            open_states.append(name)
            attempts[name] = 0
            state, detail = name, ""
        elif kind.endswith("StateExited") and isinstance(name, str):
            if name in open_states:
                del open_states[len(open_states) - 1 - open_states[::-1].index(name)]
            state, detail = name, ""
        else:
            state = open_states[-1] if open_states and not kind.startswith("Execution") else ""
            if state and kind.endswith("Scheduled") and top.get(state, {}).get("Type", "Task") == "Task":
                attempts[state] = attempts.get(state, 0) + 1
                if attempts[state] > 1:
                    detail = f"attempt {attempts[state]} · {detail}"
        moment = _parse_time(event.get("timestamp"))
        offset = f"{(moment - start).total_seconds():.3f}" if moment and start else ""
        failed = _is_failure(kind) or kind == "FailStateEntered"
        raw = json.dumps(details, indent=2, ensure_ascii=False, default=str) if details else ""
        if len(raw) > _RAW_LIMIT:
            raw = raw[:_RAW_LIMIT] + f"\n… truncated; the full event is in {history_href}"
        raw_cell = f'<details><summary>raw</summary><pre class="json">{_e(raw)}</pre></details>' if raw else ""
        rows.append(
            f'<tr class="{"err" if failed else ""}" data-event-id="{_e(event.get("id"))}">'
            f'<td class="num">{_e(event.get("id"))}</td><td class="num">{_e(offset)}</td>'
            f'<td class="type mono">{"✗ " if failed else ""}{_e(kind)}</td><td>{_e(state)}</td>'
            f'<td class="detail">{_e(_clip(detail, 400))}{raw_cell}</td></tr>'
        )
    if not rows:
        return '<p class="muted">No events recorded.</p>'
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
) -> str:
    """One execution: failure box (if it did not succeed), evidence, state graph, events timeline.

    ``described`` is DescribeExecution-shaped, ``events`` GetExecutionHistory's ``events``,
    ``definition`` the parsed ASL (``{}`` when unknown: the graph is then left out), ``links``
    label → href for evidence (http(s) and relative hrefs become links; ``s3://`` and ``file:``
    URIs are shown as text to copy). ``now`` only words the duration of a running execution.
    """
    name = str(described.get("name", ""))
    status = str(described.get("status", ""))
    outcomes = state_outcomes(
        definition, events, execution_status=status or None, execution_error=described.get("error")
    )
    walk = _walk(definition, events)
    failure = describe_failure(described, events, definition)
    history_href = quote(name, safe="") + "/history.json"
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
        + _evidence(links, history_href)
        + '<section aria-labelledby="graph-h"><h2 id="graph-h">State graph</h2>'
        + _state_graph(definition, outcomes, walk.transitions)
        + unknown
        + "</section>"
        + '<section aria-labelledby="events-h"><h2 id="events-h">Events</h2>'
        + _timeline(definition, events, history_href)
        + "</section>"
    )
    title = f"{'✗ ' if failure else ''}{name} · {status}"
    return _page(title, body, refresh_seconds=10 if status == "RUNNING" else None, source=source)


def render_message(
    title: str, message: str, *, hint_html: str = "", home: str = "/executions", source: str = ""
) -> str:
    """A plain page for 404 / 405 / 500: what happened and what to do. ``hint_html`` must be trusted markup."""
    body = (
        f'<nav class="crumbs"><a href="{_e(home)}">← All executions</a></nav>'
        f'<section data-testid="message"><h1>{_e(title)}</h1><p>{_e(message)}</p>{hint_html}</section>'
    )
    return _page(title, body, source=source)
