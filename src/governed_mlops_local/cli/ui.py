"""``mlops ui``: the on-call execution pages on localhost; and the text history both sources share.

Registered in :mod:`governed_mlops_local.cli` with ``main.add_command(ui)``. It reads the same data
directory as every other command (``--data-dir`` / ``MLOPS_DATA_DIR``), or AWS Step Functions with ``--aws``.
"""

from __future__ import annotations

import json
import time
import webbrowser
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from governed_mlops_local.ui.evidence_links import local_evidence_links
from governed_mlops_local.ui.history_view import describe_failure, event_detail

if TYPE_CHECKING:
    from governed_mlops_local.ui.server import UiRoutes

DEFAULT_PORT = 8765


class _Obj(Protocol):
    data_dir: Path
    project_dir: Path


def local_definitions(project_dir: Path) -> dict[str, dict[str, Any]]:
    """State machine ARN → parsed ASL, from template.yaml as the local runtime deploys it."""
    from governed_mlops_local.runtime import LOCAL_IMAGES, STACK_NAME
    from governed_mlops_local.template import load_template

    template = load_template(
        project_dir / "template.yaml", stack_name=STACK_NAME, parameter_overrides=dict(LOCAL_IMAGES)
    )
    return {spec.arn: json.loads(spec.definition) for spec in template.state_machines.values()}


def render_history_table(
    described: Mapping[str, Any], events: Sequence[Mapping[str, Any]], incident: str | None = None
) -> str:
    """``mlops history`` as plain text, for a local or an AWS execution (same shapes).

    ``incident`` (the text of :func:`governed_mlops_local.incident_text.render_incident_text`) comes first
    when given; else the failed state, error and cause (the same choice of failed state as the page).
    Then one line per event: id, seconds since the first event, type, detail.
    """
    lines = [f"{described.get('name', '')}  {described.get('status', '')}"]
    failure = describe_failure(described, events)
    if incident:
        lines.append(incident.rstrip("\n"))
    elif failure is not None:
        lines += [
            f"FAILED in state: {failure.state or '?'}",
            f"error: {failure.error}",
            f"cause: {failure.message}",
            f"outcome: {failure.outcome}",
            "",
        ]
    start = _timestamp(events[0].get("timestamp")) if events else None
    lines.append(f"{'ID':>4}  {'+SECONDS':>9}  {'TYPE':<28} DETAIL")
    for event in events:
        moment = _timestamp(event.get("timestamp"))
        offset = (moment - start).total_seconds() if moment and start else 0.0
        lines.append(
            f"{event.get('id', ''):>4}  {offset:9.3f}  {event.get('type', ''):<28} {event_detail(event)[:160]}"
        )
    return "\n".join(lines)


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def aws_routes(
    state_machine_arns: Sequence[str], *, stack_name: str | None, region: str | None, profile: str | None
) -> UiRoutes:
    """The pages of a deployed stack's executions (``mlops ui --aws``), with the incident view of failed runs.

    The stack (``--stack`` or ``$MLOPS_STACK_NAME``) gives the pipeline's ARN and everything the incident
    view reads (:mod:`governed_mlops_local.aws_incident_sources`); ``--state-machine-arn`` adds machines.
    Without a stack, only the named machines are shown, with the failure box but no incident view.
    """
    import os

    from governed_mlops.adapters.execution_history import StepFunctionsHistory
    from governed_mlops_local.aws_stack import StackResources, aws_errors, aws_session
    from governed_mlops_local.project import STACK_ENV
    from governed_mlops_local.ui.server import UiRoutes

    stack_name = stack_name or os.environ.get(STACK_ENV)
    machines = list(state_machine_arns)
    if not stack_name and not machines:
        raise click.UsageError(
            f"--aws needs the deployed stack: --stack NAME (or ${STACK_ENV}), or --state-machine-arn ARN"
        )
    session = aws_session(region, profile)
    incidents = None
    if stack_name:
        from governed_mlops_local.aws_incident_sources import AwsIncidentSources

        stack = StackResources.from_cloudformation(session, stack_name)
        machines = [stack.pipeline_arn, *[arn for arn in machines if arn != stack.pipeline_arn]]
        incidents = AwsIncidentSources(stack, region).view
    with aws_errors("Step Functions"):
        client = session.client("stepfunctions")
        history = StepFunctionsHistory(client, machines)
        definitions = {arn: history.definition(arn) for arn in machines}
    where = f"stack {stack_name}, " if stack_name else ""
    source = f"AWS Step Functions ({where}{client.meta.region_name})"
    return UiRoutes(history, definitions, None, incidents=incidents, source=source)


def local_routes(obj: _Obj) -> UiRoutes:
    """The pages of the data directory's executions (``mlops ui``)."""
    from governed_mlops_local.executions import ExecutionStore
    from governed_mlops_local.incident_sources import LocalIncidentSources
    from governed_mlops_local.ui.server import UiRoutes

    store = ExecutionStore(obj.data_dir)
    return UiRoutes(
        store,
        local_definitions(obj.project_dir),
        local_evidence_links(obj.data_dir),
        incidents=LocalIncidentSources(obj.data_dir, store).view,
        source=f"local data dir {obj.data_dir}",
    )


@click.command("ui")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1 (0: any free).")
@click.option("--open", "open_browser", is_flag=True, help="Open the executions page in the default browser.")
@click.option("--aws", is_flag=True, help="Read executions from AWS Step Functions instead of the data dir.")
@click.option(
    "--stack",
    "stack_name",
    default=None,
    metavar="NAME",
    help="With --aws: the CloudFormation stack (default: $MLOPS_STACK_NAME); its pipeline and incident sources.",
)
@click.option(
    "--state-machine-arn",
    "state_machine_arns",
    multiple=True,
    help="With --aws: more state machine(s) to show (repeat for several).",
)
@click.option("--region", default=None, help="With --aws: the region (default: the AWS configuration's).")
@click.option("--profile", default=None, help="With --aws: the AWS profile (default: boto3's).")
@click.pass_obj
def ui(
    obj: _Obj,
    port: int,
    open_browser: bool,
    aws: bool,
    stack_name: str | None,
    state_machine_arns: tuple[str, ...],
    region: str | None,
    profile: str | None,
) -> None:
    """Serve read-only execution pages (list, failed state, state graph, events) on localhost."""
    from governed_mlops.errors import PipelineError
    from governed_mlops_local.ui.server import serve_ui

    if aws:
        try:
            routes = aws_routes(state_machine_arns, stack_name=stack_name, region=region, profile=profile)
        except PipelineError as exc:
            click.secho(f"error: {type(exc).__name__}: {exc}", err=True, fg="red")
            raise SystemExit(2) from exc
    else:
        routes = local_routes(obj)
    source = routes.source
    try:
        server, thread = serve_ui(routes, port=port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); try --port 0") from exc
    url = f"http://127.0.0.1:{server.server_address[1]}/executions"
    click.echo(f"Execution pages for {source}:\n  {url}\nCtrl-C stops the server.")
    if open_browser:
        webbrowser.open(url)
    try:
        while thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\nStopped.")
    finally:
        server.shutdown()
        server.server_close()
