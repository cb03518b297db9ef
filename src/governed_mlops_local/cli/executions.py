"""Reading executions: ``executions`` (list and filter) and ``history`` (one execution's events), local or --aws."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from governed_mlops.errors import PipelineError
from governed_mlops_local.cli.aws import echo as aws_echo
from governed_mlops_local.cli.aws import fail as aws_fail
from governed_mlops_local.cli.aws import reading_stack, stack_options
from governed_mlops_local.cli.aws_history import aws_options, history_from_aws, incident_from_aws
from governed_mlops_local.cli.aws_history import render as render_aws_history
from governed_mlops_local.cli.console import echo, fail, short_cause
from governed_mlops_local.cli.context import Context, execution_store

EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE", "INTERRUPTED")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``--since``: an ISO date or time (naive means UTC) or a duration back from now (``90s``, ``2h``, ``3d``)."""
    match = _DURATION.fullmatch(value.strip())
    if match:
        amount, unit = match.groups()
        return (now or datetime.now(UTC)) - timedelta(**{_DURATION_UNITS[unit]: float(amount)})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an ISO date/time (2026-05-01, 2026-05-01T14:00) nor a duration (30m, 2h, 7d)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filter_executions(
    rows: list[dict[str, Any]], statuses: tuple[str, ...] = (), since: datetime | None = None
) -> list[dict[str, Any]]:
    """The rows with one of ``statuses`` (all if empty) started at or after ``since``."""
    wanted = {s.upper() for s in statuses}
    kept = []
    for row in rows:
        if wanted and row["status"] not in wanted:
            continue
        if since is not None:
            started = row["startDate"]
            started = started if isinstance(started, datetime) else datetime.fromisoformat(started)
            if (started if started.tzinfo else started.replace(tzinfo=UTC)) < since:
                continue
        kept.append(row)
    return kept


@click.command()
@click.option("--json", "as_json", is_flag=True, help="ListExecutions-shaped JSON.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(EXECUTION_STATUSES, case_sensitive=False),
    help="Only executions with this status (repeatable).",
)
@click.option(
    "--since", default=None, metavar="WHEN", help="Only executions started since WHEN: an ISO date/time or 30m, 2h, 7d."
)
@click.option("--model", "model", default=None, help="Only this model's executions (local runtime).")
@stack_options
@click.pass_obj
def executions(
    obj: Context,
    as_json: bool,
    statuses: tuple[str, ...],
    since: str | None,
    model: str | None,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """List pipeline executions, newest first (--aws: ListExecutions of the stack's state machine)."""
    try:
        start = parse_since(since) if since is not None else None
    except click.BadParameter as exc:
        exc.param_hint = "'--since'"
        raise
    filtered = bool(statuses) or start is not None or model is not None
    if aws:
        if model is not None:
            aws_fail("--model filters local executions only; with --aws use the execution names (mlops history)")
        with reading_stack(stack_name, region, profile) as stack:
            rows = filter_executions(stack.executions().list_executions(), statuses, start)
        empty = "No executions match." if filtered else f"No executions of {stack.pipeline_arn} yet."
        aws_echo(_executions_text(rows, as_json, empty=empty))
        return
    wanted = obj.model(model) if model is not None else None
    rows = filter_executions(execution_store(obj).list_executions(), statuses, start)
    if wanted is not None:
        rows = [row for row in rows if row.get("model") == wanted]
    empty = "No executions match." if filtered else "No executions yet. Start one: mlops demo"
    echo(_executions_text(rows, as_json, empty=empty))


def _executions_text(rows: list[dict[str, Any]], as_json: bool, *, empty: str) -> str:
    if as_json:
        return json.dumps({"executions": rows}, indent=2)
    lines = [] if rows else [empty]
    lines.append(f"{'NAME':<36} {'MODEL':<20} {'STATUS':<12} {'STARTED':<26} {'DURATION':<10} ERROR")
    for r in rows:
        duration = ""
        if r.get("stopDate"):
            seconds = (datetime.fromisoformat(r["stopDate"]) - datetime.fromisoformat(r["startDate"])).total_seconds()
            duration = f"{seconds:.2f}s"
        colour = {"SUCCEEDED": "green", "RUNNING": "cyan"}.get(r["status"], "red")
        lines.append(
            f"{r['name']:<36} {r.get('model') or '-':<20} "
            + click.style(f"{r['status']:<12}", fg=colour)
            + f" {r['startDate'][:26]:<26} {duration:<10} {r.get('error') or ''}".rstrip()
        )
    return "\n".join(lines)


def _event_detail(event: dict[str, Any]) -> str:
    details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
    if "name" in details:
        return str(details["name"])
    if "error" in details:
        return f"{details['error']}: {short_cause(details.get('cause'))}"[:160]
    if "resource" in details:
        return f"{details.get('resourceType', 'lambda')} {details['resource'].rsplit(':', 1)[-1]}"
    return ""


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="GetExecutionHistory-shaped JSON.")
@aws_options
@click.pass_obj
def history(
    obj: Context,
    name: str,
    as_json: bool,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
    state_machine_arns: tuple[str, ...],
) -> None:
    """One execution's event history; a failed execution's error and cause come first (--aws: a deployed stack).

    NAME is an execution name, its ARN or (locally) a unique prefix of a name.
    """
    if aws:
        try:
            described, events = history_from_aws(
                name, region=region, profile=profile, state_machine_arns=state_machine_arns, stack_name=stack_name
            )
            incident = (
                None
                if as_json
                else incident_from_aws(described, events, region=region, profile=profile, stack_name=stack_name)
            )
        except PipelineError as exc:
            aws_fail(f"{type(exc).__name__}: {exc}")
        aws_echo(render_aws_history(described, events, as_json, incident))
        return
    store = execution_store(obj)
    try:
        name = store.resolve(name)
        described = store.describe(name)
        events = store.history(name)
    except PipelineError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    if as_json:
        echo(json.dumps({"events": events}, indent=2))
        return
    echo(f"{described['name']}  {described['status']}", bold=True)
    from governed_mlops_local.incident_text import echo_incident

    echo_incident(echo, obj.data_dir, store, described, events)
    start = datetime.fromisoformat(events[0]["timestamp"]) if events else None
    echo(f"{'ID':>4}  {'+SECONDS':>9}  {'TYPE':<28} DETAIL")
    for e in events:
        offset = (datetime.fromisoformat(e["timestamp"]) - start).total_seconds() if start else 0.0
        echo(f"{e['id']:>4}  {offset:9.3f}  {e['type']:<28} {_event_detail(e)}")
