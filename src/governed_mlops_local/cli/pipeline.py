"""Running the pipeline: ``upload``, ``trigger``, ``redrive`` (local server or ``--aws``) and ``abandon``."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from governed_mlops.errors import InvalidEventError, PipelineError
from governed_mlops_local.cli.aws import echo as aws_echo
from governed_mlops_local.cli.aws import fail as aws_fail
from governed_mlops_local.cli.aws import reading_stack, stack_options
from governed_mlops_local.cli.aws_history import aws_options, redrive_in_aws
from governed_mlops_local.cli.console import echo, fail
from governed_mlops_local.cli.context import Context, execution_store, os_user
from governed_mlops_local.cli.progress import follow, report_deliveries, running_on
from governed_mlops_local.cli.serving import hand_over, server_for


def load_event(event_file: Path) -> dict[str, Any]:
    """The EventBridge event in ``event_file``; ``InvalidEventError`` if it is missing or not one JSON object."""
    try:
        text = event_file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidEventError(f"{event_file} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"cannot read {event_file}: {exc}") from exc
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"{event_file} is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidEventError(f"{event_file} holds a JSON {type(event).__name__}, not an event object")
    return event


@click.command()
@click.argument("event_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--wait", is_flag=True, help="Return when the started executions end; exit 1 if one failed.")
@click.option(
    "--approve-as",
    multiple=True,
    metavar="NAME",
    help="Approve through the API as NAME (unattended runs); repeat for a model that needs two approvers.",
)
@click.pass_obj
def trigger(obj: Context, event_file: Path, wait: bool, approve_as: tuple[str, ...]) -> None:
    """Send an EventBridge event (e.g. events/codecommit_push.json) through the template's rules."""
    # Checked here, before a background process or the runtime starts: bad input fails in milliseconds.
    try:
        event = load_event(event_file)
    except InvalidEventError as exc:
        fail(f"InvalidEventError: {exc}", "an EventBridge event is one JSON object; see events/")
    from governed_mlops_local.local_server import deliveries_of

    serving = server_for(obj)
    deliveries = deliveries_of(hand_over(obj, serving, os_user(), "trigger", event=event))
    arns = report_deliveries(deliveries)
    if not wait:
        running_on(serving, arns, approve_as)
        raise SystemExit(1 if any(d.error for d in deliveries) else 0)  # a target refused the event
    raise SystemExit(follow(obj, serving, arns, deliveries, approve_as))


@click.command()
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model", default=None, help="The model this data is for (optional when there is one model).")
@click.option("--key", default=None, help="Object key (default: datasets/<model>/<file name>).")
@click.option("--wait", is_flag=True, help="Return when the started execution ends; exit 1 if it failed.")
@click.option("--as", "requester", default=None, help="Who uploads (the S3 event's requester; default: OS user).")
@click.option(
    "--approve-as",
    multiple=True,
    metavar="NAME",
    help="Approve through the API as NAME (unattended runs); repeat for a model that needs two approvers.",
)
@click.pass_obj
def upload(
    obj: Context,
    csv_file: Path,
    model: str | None,
    key: str | None,
    wait: bool,
    requester: str | None,
    approve_as: tuple[str, ...],
) -> None:
    """Put a CSV under datasets/<model>/ in the local data bucket; 'Object Created' runs that model's pipeline."""
    if key is None:
        key = f"datasets/{obj.model(model)}/{csv_file.name}"
    from governed_mlops_local.local_server import deliveries_of

    serving = server_for(obj)
    answer = hand_over(obj, serving, requester or os_user(), "upload", path=str(csv_file.resolve()), key=key)
    echo(f"uploaded {answer['uploaded']} (sha256 {answer['sha256'][:12]})")
    deliveries = deliveries_of(answer)
    arns = report_deliveries(deliveries)
    if not wait:
        running_on(serving, arns, approve_as)
        raise SystemExit(1 if any(d.error for d in deliveries) else 0)  # a target refused the event
    raise SystemExit(follow(obj, serving, arns, deliveries, approve_as))


def _close_pending_approvals(data_dir: Path, execution: str, who: str, reason: str, ledger: Any) -> list[str]:
    """Expire the execution's pending approval requests (nothing waits for them any more), audited."""
    from governed_mlops.adapters.approvals import LocalApprovalStore
    from governed_mlops.errors import ApprovalAlreadyDecided

    if not (data_dir / "approvals.db").exists():
        return []
    store = LocalApprovalStore(data_dir)
    closed = []
    for record in store.records_for_execution(execution):
        if record.status != "pending":
            continue
        try:
            store.decide(record.approval_id, "expired", who, f"execution abandoned: {reason}", datetime.now(UTC))
        except ApprovalAlreadyDecided:
            continue  # decided in the meantime
        ledger.append(
            who, "approval.closed", record.model_version, {"approval_id": record.approval_id, "reason": reason}
        )
        closed.append(record.approval_id)
    return closed


@click.command()
@click.argument("name")
@click.option("--reason", required=True, help="Why it is closed (goes into its history and the audit ledger).")
@click.option("--as", "actor", default=None, help="Who closes it (default: OS user; with --aws: the AWS caller).")
@stack_options
@click.pass_obj
def abandon(
    obj: Context,
    name: str,
    reason: str,
    actor: str | None,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """Close an INTERRUPTED execution for good: it ends ABORTED (error Abandoned) with REASON in its history.

    For an execution whose process stopped and that should not be continued (`mlops redrive` continues
    one instead). The decision is audited as pipeline.abandoned; a pending approval request of the run is
    closed (expired, audited as approval.closed), so its link says so. An execution still running in a live
    process, or one that already ended, is refused (exit 2).

    With --aws: a run of the stack's pipeline that waits (for an approval, or in a Wait state) is stopped
    (StopExecution, error Abandoned, REASON as cause) and audited in the stack's ledger; one whose task is
    working now, or that already ended, is refused (exit 2).
    """
    if aws:
        _abandon_in_aws(name, reason, actor, stack_name, region, profile)
        return
    from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key
    from governed_mlops.errors import AbandonNotPossible
    from governed_mlops_local.executions import ExecutionStore

    store = ExecutionStore(obj.data_dir)
    who = actor or os_user()
    try:
        resolved = store.resolve(name)
        described = store.abandon(resolved, reason, datetime.now(UTC))
    except (AbandonNotPossible, PipelineError) as exc:
        fail(f"{type(exc).__name__}: {exc}")
    ledger = LocalAuditLedger(obj.data_dir, load_or_create_key(obj.data_dir))
    ledger.append(who, "pipeline.abandoned", resolved, {"reason": reason, "status": "ABORTED"})
    closed = _close_pending_approvals(obj.data_dir, resolved, who, reason, ledger)
    ledger.seal()
    echo(f"{resolved}: ABORTED (Abandoned) by {who}: {reason}", fg="yellow")
    for approval_id in closed:
        echo(f"  its pending approval request {approval_id[:8]}… is closed: its link now says so")
    echo(f"  history: mlops history {described['name']}")


def _abandon_in_aws(
    name: str, reason: str, actor: str | None, stack_name: str | None, region: str | None, profile: str | None
) -> None:
    from governed_mlops_local.aws_abandon import abandon_in_aws

    with reading_stack(stack_name, region, profile) as stack:
        done = abandon_in_aws(stack, name, reason, actor=actor, now=datetime.now(UTC))
    scope = f"--aws --stack {shlex.quote(stack.name)}" + (f" --region {shlex.quote(region)}" if region else "")
    aws_echo(f"{done.name}: ABORTED (Abandoned) by {done.actor}: {reason}", fg="yellow")
    for approval_id in done.closed_approvals:
        aws_echo(f"  its pending approval request {approval_id[:8]}… is closed: its link now says so")
    aws_echo(f"  history: mlops history {shlex.quote(done.name)} {scope}")


@click.command()
@click.argument("name")
@click.option(
    "--approve-as",
    multiple=True,
    metavar="NAME",
    help="Approve through the API as NAME (unattended runs); repeat for a model that needs two approvers.",
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port for the local server when none runs (default: the port of a pending approval's link, so the link "
    "sent still works).",
)
@aws_options
@click.pass_obj
def redrive(
    obj: Context,
    name: str,
    approve_as: tuple[str, ...],
    port: int | None,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
    state_machine_arns: tuple[str, ...],
) -> None:
    """Continue a failed or interrupted execution from the state that did not finish (RedriveExecution).

    The states that finished are not run again; the execution keeps its name and ARN. Locally the local
    server runs it (started in the background if none runs) and the command follows it until it ends
    (exit 1 if it fails again); with --aws it calls Step Functions' RedriveExecution and returns.
    """
    if aws:
        try:
            arn, redrive_date = redrive_in_aws(
                name, region=region, profile=profile, state_machine_arns=state_machine_arns, stack_name=stack_name
            )
        except PipelineError as exc:
            aws_fail(f"{type(exc).__name__}: {exc}")
        aws_echo(f"redriven {arn} at {redrive_date}; follow with: mlops history {name} --aws")
        return
    from governed_mlops_local.redrive import pending_link_port

    try:
        described = execution_store(obj).describe(name)
    except PipelineError as exc:
        fail(str(exc))
    if port is None:
        port = pending_link_port(obj.data_dir, described["executionArn"])
    from governed_mlops_local.approval_client import serving_runtime

    started_server = serving_runtime(obj.data_dir) is None
    arn = described["executionArn"]
    shown = {arn: len(execution_store(obj).history(arn))}
    serving = server_for(obj, port)
    if started_server and execution_store(obj).describe(name)["status"] == "RUNNING":
        # A server that starts resumes the runs that waited for an approval: this one waits again.
        echo(f"{described['name']}: the local server resumed it (it waits for its approval again, same link)")
    else:
        from governed_mlops_local import local_server

        try:
            started = local_server.hand_over(serving, os_user(), "redrive", name=name)
        except local_server.WorkRefused as exc:
            fail(str(exc), "see what happened with: mlops history " + name)
        except local_server.LocalServerError as exc:
            fail(f"{type(exc).__name__}: {exc}")
        echo(
            f"{started['name']}: redrive {started['redrive_count']} continues at state {started['resumed_state']!r} "
            f"(it was {started['previous_status']}); the states before it are not run again"
        )
    raise SystemExit(follow(obj, serving, [arn], [], approve_as, shown))
