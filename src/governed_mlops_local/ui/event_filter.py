"""The events table's filter: ``?state=NAME&type=TYPE`` on an execution's page (pure: no I/O, no HTML but the form).

Filtering is done by the server (no script on the page); a GET only reads. An unknown state or type is
not an error page: the table shows every event and the page says what was not found and what exists.
``type=failures`` keeps only the events that report a failure.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from governed_mlops_local.ui.history_view import TimelineEntry

#: The type filter that keeps every failure event (``*Failed``, ``*TimedOut``, ``*Aborted``, Fail states).
FAILURES = "failures"


@dataclass(frozen=True)
class EventFilter:
    """The filter the page applies: a state, an event type (or :data:`FAILURES`), and why a parameter was ignored."""

    state: str | None = None
    kind: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.state is not None or self.kind is not None


def _one(query: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = [value.strip() for value in query.get(key) or () if value.strip()]
    return values[-1] if values else None


def parse_event_filter(query: Mapping[str, Sequence[str]], states: Iterable[str], kinds: Iterable[str]) -> EventFilter:
    """The filter asked for in ``query`` (``parse_qs`` shape), checked against the execution's states and
    event types; an unknown value is dropped with a message naming what exists."""
    known_states, known_kinds = list(dict.fromkeys(states)), list(dict.fromkeys(kinds))
    state, kind = _one(query, "state"), _one(query, "type")
    problems = []
    if state is not None and state not in known_states:
        problems.append(
            f"No state named {state!r} in this execution; showing every event. "
            f"States: {', '.join(known_states) or 'none'}."
        )
        state = None
    if kind is not None and kind != FAILURES and kind not in known_kinds:
        problems.append(
            f"No event of type {kind!r} in this execution; showing every event. "
            f"Types: {', '.join(known_kinds) or 'none'} (or {FAILURES!r} for failures only)."
        )
        kind = None
    return EventFilter(state, kind, tuple(problems))


def apply_filter(entries: Sequence[TimelineEntry], chosen: EventFilter) -> list[TimelineEntry]:
    """The entries the filter keeps (a state's events are those the timeline attributes to it)."""
    kept = []
    for entry in entries:
        if chosen.state is not None and entry.state != chosen.state:
            continue
        if chosen.kind == FAILURES and not entry.failed:
            continue
        if chosen.kind not in (None, FAILURES) and entry.kind != chosen.kind:
            continue
        kept.append(entry)
    return kept


def state_href(state: str) -> str:
    """The page's own address filtered to one state, at the state's details (relative: keeps the path)."""
    return f"?state={quote(state, safe='')}#state-detail"


def _options(values: Iterable[tuple[str, str]], selected: str | None) -> str:
    return "".join(
        f'<option value="{html.escape(value)}"{" selected" if value == selected else ""}>{html.escape(label)}</option>'
        for value, label in values
    )


def filter_form(states: Sequence[str], kinds: Sequence[str], chosen: EventFilter, shown: int, total: int) -> str:
    """The GET form above the events table, the count shown, and a link that clears the filter."""
    state_options = _options([("", "all states"), *((s, s) for s in states)], chosen.state)
    kind_options = _options([("", "all types"), (FAILURES, "failures only"), *((k, k) for k in kinds)], chosen.kind)
    clear = ' · <a href="?#events-h" data-testid="filter-clear">show all</a>' if chosen.active else ""
    problems = "".join(
        f'<p class="filter-problem" role="status" data-testid="filter-problem">{html.escape(p)}</p>'
        for p in chosen.problems
    )
    return (
        f'{problems}<form method="get" action="#events-h" class="filter" data-testid="events-filter">'
        f'<label>State <select name="state" data-testid="filter-state">{state_options}</select></label> '
        f'<label>Type <select name="type" data-testid="filter-type">{kind_options}</select></label> '
        '<button type="submit">Filter</button></form>'
        f'<p class="muted" data-testid="events-count">{shown} of {total} events{clear}</p>'
    )


def filter_for(
    definition: Mapping[str, object], entries: Sequence[TimelineEntry], query: Mapping[str, Sequence[str]]
) -> EventFilter:
    """The filter of ``query`` for an execution: its states are the definition's top-level states and
    every state its events name; its types those its events have."""
    top = definition.get("States")
    states = [*(top if isinstance(top, Mapping) else {}), *(e.state for e in entries if e.state)]
    return parse_event_filter(query, states, sorted({e.kind for e in entries}))
