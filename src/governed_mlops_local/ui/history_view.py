"""An execution's history read per state: what happened to each top-level state, why a run failed, and the
events as the timeline shows them (pure: no I/O, no clock, no HTML).

Inputs are Step Functions shapes: GetExecutionHistory events, a DescribeExecution dict and the parsed
ASL definition. Timestamps may be ISO strings or datetimes.

A state's outcome is derived from the history: the walk attributes every event to the top-level
state entered last and still open (events of a Parallel or Map branch go to the Parallel or Map
box), remembers whether the state exited and whether its last task result was a failure, and
names one *failed state* for a failed execution: the state whose error the execution ended with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from governed_mlops.domain.outcomes import OUTCOME_LABELS, classify

OutcomeStatus = Literal["succeeded", "failed", "caught", "running", "not_reached"]

TERMINAL_FAILURES = frozenset({"FAILED", "TIMED_OUT", "ABORTED", "INTERRUPTED"})
TERMINAL = TERMINAL_FAILURES | {"SUCCEEDED"}
#: How a non-succeeded execution status reads in a sentence ("✗ timed out"); anything else reads "failed".
STATUS_WORDS = {"TIMED_OUT": "timed out", "ABORTED": "aborted", "INTERRUPTED": "interrupted"}
_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")
_EXECUTION_END = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


# -- reading Step Functions shapes ----------------------------------------------------------------
def event_details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's ``*EventDetails`` dict (``{}`` when it has none)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def is_failure(kind: str) -> bool:
    """Whether an event type reports a failure (``TaskFailed``, ``LambdaFunctionTimedOut``, ...)."""
    return kind.endswith(_FAILURE_SUFFIXES)


def parse_time(value: Any) -> datetime | None:
    """A timestamp (datetime or ISO string) as an aware datetime, naive ones taken as UTC; None if unreadable."""
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
    details = event_details(event)
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


def _close_last(open_states: list[str], name: str) -> None:
    """Remove the most recently opened ``name`` from the open states (a loop may have opened it twice)."""
    if name in open_states:
        del open_states[len(open_states) - 1 - open_states[::-1].index(name)]


# -- the walk -------------------------------------------------------------------------------------
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
class HistoryWalk:
    """The history walked once: the last visit of every top-level state entered, the transitions taken
    between them, states the definition does not have, and the status the history ends with (if any)."""

    visits: dict[str, _Visit] = field(default_factory=dict)
    transitions: list[tuple[str, str]] = field(default_factory=list)
    unknown_states: list[str] = field(default_factory=list)
    end_status: str | None = None


class _Walker:
    """Feeds events one by one into a :class:`HistoryWalk`, tracking which top-level states are open."""

    def __init__(self, top: Mapping[str, Any]) -> None:
        self.top = top
        self.walk = HistoryWalk()
        self.open_states: list[str] = []
        self.last_entered: str | None = None
        self.just_exited: str | None = None

    def feed(self, index: int, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type", ""))
        details = event_details(event)
        raw_name = details.get("name")
        name = raw_name if isinstance(raw_name, str) else None
        if kind.endswith("StateEntered") and name is not None and name in self.top:
            self._enter(name, index)
        elif kind.endswith("StateExited") and name is not None and name in self.top:
            self._exit(name)
        elif kind in _EXECUTION_END:
            self.walk.end_status = _EXECUTION_END[kind]
        elif self.open_states:
            self._inside(self.walk.visits[self.open_states[-1]], index, kind, details)
        elif kind.endswith("StateEntered") and name is not None and name not in self.walk.unknown_states:
            self.walk.unknown_states.append(name)

    def _enter(self, name: str, index: int) -> None:
        visits = self.walk.visits
        if self.last_entered is not None:
            self.walk.transitions.append((self.last_entered, name))
        if self.just_exited is not None and self.just_exited in visits:
            visits[self.just_exited].routed_to = name
        previous = visits.get(name)
        visits[name] = _Visit(name, index, visits=previous.visits + 1 if previous else 1)
        self.open_states.append(name)
        self.last_entered, self.just_exited = name, None

    def _exit(self, name: str) -> None:
        if name in self.walk.visits:
            self.walk.visits[name].exited = True
        _close_last(self.open_states, name)
        self.just_exited = name

    def _inside(self, visit: _Visit, index: int, kind: str, details: Mapping[str, Any]) -> None:
        """An event of the open state ``visit``: a task scheduled, failed or succeeded."""
        if kind.endswith("StateEntered"):
            return  # a state inside a Parallel or Map branch
        if kind.endswith("Scheduled") and self.top[visit.name].get("Type") == "Task":
            visit.attempts += 1
        if is_failure(kind):
            visit.last_result, visit.failed_at = "failed", index
            visit.error = details.get("error") or visit.error
            visit.cause = details.get("cause") or visit.cause
        elif kind.endswith("Succeeded"):
            visit.last_result = "succeeded"


def walk_history(definition: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> HistoryWalk:
    """Walk ``events`` against the top-level states of ``definition`` (see the module's docstring)."""
    walker = _Walker(definition.get("States") or {})
    for index, event in enumerate(events):
        walker.feed(index, event)
    return walker.walk


def _status_of(walk: HistoryWalk, execution_status: str | None) -> str | None:
    return execution_status or walk.end_status


def _failed_state(
    definition: Mapping[str, Any], walk: HistoryWalk, status: str | None, error: str | None
) -> str | None:
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
    walk = walk_history(definition, events)
    status = _status_of(walk, execution_status)
    origin = _failed_state(definition, walk, status, execution_error)
    outcomes: dict[str, StateOutcome] = {}
    for name, state in top.items():
        visit = walk.visits.get(name)
        if visit is None:
            outcomes[name] = StateOutcome(name, "not_reached", "○ not reached")
        else:
            outcomes[name] = _outcome_of(visit, state, is_origin=name == origin, status=status)
    return outcomes


def _outcome_of(visit: _Visit, state: Mapping[str, Any], *, is_origin: bool, status: str | None) -> StateOutcome:
    """The outcome of a state that was entered, by the rules of :func:`state_outcomes`."""
    base = StateOutcome(
        visit.name,
        "succeeded",
        "",
        error=visit.error,
        cause=visit.cause,
        attempts=visit.attempts,
        routed_to=visit.routed_to,
        visits=visit.visits,
    )
    if state.get("Type") == "Fail":
        return replace(base, status="failed", label="✗ reached: execution failed")
    if is_origin:
        word = STATUS_WORDS.get(status or "", "failed")
        reason = f": {visit.error}" if visit.error and word == "failed" else ""
        return replace(base, status="failed", label=f"✗ {word}{reason}")
    if visit.exited and visit.last_result == "failed":
        target = f" → {visit.routed_to}" if visit.routed_to else ""
        return replace(base, status="caught", label=f"↪ caught {visit.error or 'error'}{target}")
    if visit.exited:
        return replace(base, label=f"✓ succeeded{_retries(visit.attempts)}")
    if status in TERMINAL:
        return replace(base, status="failed", label="✗ did not finish")
    attempt = f" · attempt {visit.attempts}" if visit.attempts > 1 else ""
    waiting = str(state.get("Resource", "")).endswith(".waitForTaskToken")
    return replace(base, status="running", label=f"● {'waiting for callback' if waiting else 'running'}{attempt}")


# -- why it failed --------------------------------------------------------------------------------
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
    walk = walk_history(walk_definition, events)
    status = _status_of(walk, described.get("status"))
    if status not in TERMINAL_FAILURES:
        return None
    error = described.get("error")
    cause = described.get("cause")
    if error is None and cause is None:
        error, cause = _execution_end_error(events)
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


def _execution_end_error(events: Sequence[Mapping[str, Any]]) -> tuple[Any, Any]:
    """Error and cause of the last ExecutionFailed/TimedOut/Aborted event, or ``(None, None)``."""
    for event in reversed(events):
        if str(event.get("type")) in {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}:
            details = event_details(event)
            return details.get("error"), details.get("cause")
    return None, None


def _definition_from(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for event in events:
        kind = str(event.get("type", ""))
        name = event_details(event).get("name")
        if kind.endswith("StateEntered") and isinstance(name, str):
            states.setdefault(name, {"Type": kind[: -len("StateEntered")] or "Task"})
    return {"States": states}


# -- the timeline ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimelineEntry:
    """One history event as the events table shows it."""

    event: Mapping[str, Any]
    kind: str
    #: The state the event belongs to: the state entered or exited, else the innermost open one ("" if none).
    state: str
    #: One line about it (:func:`event_detail`; "attempt n · ..." from a task's second attempt on).
    detail: str
    #: Seconds since the first event, None when either timestamp is unreadable.
    offset: float | None
    failed: bool
    details: dict[str, Any]


def timeline(definition: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[TimelineEntry]:
    """Every event with its state, detail and offset; unlike the walk, states of any depth count as open."""
    top: Mapping[str, Any] = definition.get("States") or {}
    start = parse_time(events[0].get("timestamp")) if events else None
    open_states: list[str] = []
    attempts: dict[str, int] = {}
    entries = []
    for event in events:
        kind = str(event.get("type", ""))
        details = event_details(event)
        name = details.get("name")
        detail = event_detail(event)
        if kind.endswith("StateEntered") and isinstance(name, str):
            open_states.append(name)
            attempts[name] = 0
            state, detail = name, ""
        elif kind.endswith("StateExited") and isinstance(name, str):
            _close_last(open_states, name)
            state, detail = name, ""
        else:
            state = open_states[-1] if open_states and not kind.startswith("Execution") else ""
            if state and kind.endswith("Scheduled") and top.get(state, {}).get("Type", "Task") == "Task":
                attempts[state] = attempts.get(state, 0) + 1
                if attempts[state] > 1:
                    detail = f"attempt {attempts[state]} · {detail}"
        moment = parse_time(event.get("timestamp"))
        offset = (moment - start).total_seconds() if moment and start else None
        failed = is_failure(kind) or kind == "FailStateEntered"
        entries.append(TimelineEntry(event, kind, state, detail, offset, failed, details))
    return entries
