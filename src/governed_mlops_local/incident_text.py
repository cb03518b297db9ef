"""``mlops history NAME``'s incident, as text: what the execution page shows, in the same words.

The first lines keep their long-standing shape (``FAILED in state: X``, ``error:``, ``cause:``,
``outcome:``), then the meaning, the next action with its command, production now, the trigger,
the comparison with the model's last successful run, and the failed state's logs and files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from governed_mlops_local.incident import Incident, when
from governed_mlops_local.incident_sources import IncidentView, LocalIncidentSources

#: Log lines the terminal shows per source (the page shows more).
TEXT_LOG_LINES = 8
Echo = Callable[..., None]
#: The lines of the block printed in the outcome's colour: state, error, cause, outcome, meaning.
HEAD_LINES = 5


def incident_view(
    data_dir: Path, store: Any, described: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
) -> IncidentView | None:
    """The incident of a local execution (None when it succeeded or is running)."""
    return LocalIncidentSources(data_dir, store).view(described, events)


def _head(incident: Incident) -> list[str]:
    where = incident.state or "?"
    return [
        f"{incident.status} in state: {where}",
        f"error: {incident.error}",
        f"cause: {incident.message or '(no cause recorded)'}",
        f"outcome: {incident.outcome_label}",
        f"means: {incident.meaning}",
    ]


def _actions(incident: Incident) -> list[str]:
    lines = []
    for index, action in enumerate(incident.actions):
        lines.append(f"{'next action' if index == 0 else 'or'}: {action.title}. {action.why}")
        if action.command:
            lines.append(f"  {action.command}")
    return lines


def _production(incident: Incident) -> str:
    serving = incident.serving
    if serving is None:
        return f"production: nothing deployed (endpoint {incident.endpoint or '?'} does not exist)"
    total = sum(weight for _, _, weight in serving.variants) or 1.0
    served = ", ".join(f"{version} ({variant} {weight / total:.0%})" for variant, version, weight in serving.variants)
    return f"production: endpoint {serving.endpoint} ({serving.status}) serves {served} since {when(serving.since)}"


def _comparison(incident: Incident) -> list[str]:
    if incident.baseline is None:
        return [f"since last success: no earlier successful run of {incident.model or 'this model'}"]
    lines = [f"since last success ({incident.baseline.name}, started {when(incident.baseline.started)}):"]
    for diff in incident.differences:
        lines.append(f"  {diff.aspect:<7} {'changed' if diff.changed else 'same':<8} {diff.summary}")
        if diff.aspect == "config" and diff.changed:
            lines += [f"    {line}" for line in diff.lines]
    if incident.metrics and all(row.now is None for row in incident.metrics):
        shown = ", ".join(f"{row.name} {_number(row.before)}" for row in incident.metrics)
        lines.append(f"  metrics of the last success: {shown} (this run stopped before it was evaluated)")
    elif incident.metrics:
        shown = ", ".join(f"{row.name} {_number(row.before)} → {_number(row.now)}" for row in incident.metrics)
        lines.append(f"  metrics: {shown}")
    return lines


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def render_incident_text(view: IncidentView) -> str:
    """The incident block ``mlops history`` prints above the event table."""
    incident = view.incident
    lines = _head(incident)
    lines += ["", *_actions(incident), "", _production(incident), f"trigger: {incident.trigger.summary}"]
    lines += _comparison(incident)
    for source, log_lines in view.logs:
        lines.append(f"logs ({source}, last {min(len(log_lines), TEXT_LOG_LINES)} lines):")
        lines += [f"  {line[:240]}" for line in log_lines[-TEXT_LOG_LINES:]]
    if view.evidence:
        lines.append("files the run wrote:")
        lines += [f"  {item.path}" for item in view.evidence]
    return "\n".join(lines) + "\n"


def echo_incident(
    echo: Echo, data_dir: Path, store: Any, described: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
) -> None:
    """Print the incident of a local execution that did not succeed (nothing for one that did), red for a
    fault, yellow for anything else (a gate, a person, an interrupted process)."""
    view = incident_view(data_dir, store, described, events)
    if view is None:
        return
    colour = "red" if view.incident.outcome == "fault" and view.incident.status != "INTERRUPTED" else "yellow"
    lines = render_incident_text(view).split("\n")
    echo(lines[0], fg=colour, bold=True)
    echo("\n".join(lines[1:HEAD_LINES]), fg=colour)
    echo("\n".join(lines[HEAD_LINES:]))
