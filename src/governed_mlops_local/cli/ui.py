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
from typing import Any, Protocol

import click

from governed_mlops_local.ui.evidence_links import local_evidence_links
from governed_mlops_local.ui.history_view import describe_failure, event_detail

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


def render_history_table(described: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    """``mlops history`` as plain text, for a local or an AWS execution (same shapes).

    Failed state, error and cause first (the same choice of failed state as the page), then one line
    per event: id, seconds since the first event, type, detail.
    """
    lines = [f"{described.get('name', '')}  {described.get('status', '')}"]
    failure = describe_failure(described, events)
    if failure is not None:
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


def _aws_source(region: str | None, state_machine_arns: Sequence[str]) -> tuple[Any, dict[str, dict[str, Any]], str]:
    import boto3

    from governed_mlops.adapters.execution_history import StepFunctionsHistory

    client = boto3.client("stepfunctions", region_name=region) if region else boto3.client("stepfunctions")
    history = StepFunctionsHistory(client, state_machine_arns)
    definitions = {arn: history.definition(arn) for arn in state_machine_arns}
    return history, definitions, f"AWS Step Functions ({client.meta.region_name})"


@click.command("ui")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1 (0: any free).")
@click.option("--open", "open_browser", is_flag=True, help="Open the executions page in the default browser.")
@click.option("--aws", is_flag=True, help="Read executions from AWS Step Functions instead of the data dir.")
@click.option(
    "--state-machine-arn",
    "state_machine_arns",
    multiple=True,
    help="With --aws: the state machine(s) to show (repeat for several).",
)
@click.option("--region", default=None, help="With --aws: the region (default: the AWS configuration's).")
@click.pass_obj
def ui(
    obj: _Obj,
    port: int,
    open_browser: bool,
    aws: bool,
    state_machine_arns: tuple[str, ...],
    region: str | None,
) -> None:
    """Serve read-only execution pages (list, failed state, state graph, events) on localhost."""
    from governed_mlops_local.ui.server import UiRoutes, serve_ui

    if aws:
        if not state_machine_arns:
            raise click.UsageError("--aws needs --state-machine-arn (the TrainingPipeline ARN from the stack outputs)")
        store, definitions, source = _aws_source(region, state_machine_arns)
        evidence = None
        incidents = None
    else:
        from governed_mlops_local.executions import ExecutionStore

        store = ExecutionStore(obj.data_dir)
        definitions = local_definitions(obj.project_dir)
        source = f"local data dir {obj.data_dir}"
        evidence = local_evidence_links(obj.data_dir)
        from governed_mlops_local.incident_sources import LocalIncidentSources

        incidents = LocalIncidentSources(obj.data_dir, store).view
    routes = UiRoutes(store, definitions, evidence, incidents=incidents, source=source)
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
