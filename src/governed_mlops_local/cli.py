"""``mlops``: the command line for engineers and on-call staff (local runtime by default)."""

from __future__ import annotations

import getpass
import json
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

from governed_mlops.errors import InvalidEventError, PipelineError
from governed_mlops_local import cli_aws
from governed_mlops_local.cli_aws import reading_stack, stack_options
from governed_mlops_local.cli_history_aws import aws_options, history_from_aws, redrive_in_aws
from governed_mlops_local.cli_history_aws import render as render_aws_history

DEFAULT_DATASET_KEY = "datasets/credit-risk/german_credit.csv"


class Context:
    def __init__(self, project_dir: Path, data_dir: Path) -> None:
        self.project_dir = project_dir
        self.data_dir = data_dir

    @contextmanager
    def runtime(self, *, user: str | None = None, port: int = 0) -> Iterator[Any]:
        from governed_mlops_local.runtime import LocalRuntime

        with LocalRuntime(self.project_dir, self.data_dir, local_user=user or _os_user(), port=port) as runtime:
            yield runtime

    def model(self, name: str | None) -> str:
        """The model a command is about: ``--model NAME``, or the only model project there is."""
        from governed_mlops.errors import UnknownModelError
        from governed_mlops.model_projects import load_project, project_configs

        projects = project_configs(self.project_dir)
        if name is None:
            if len(projects) == 1:
                return next(iter(projects))
            if not projects:
                _fail(
                    "no model project in models/",
                    "create one: mlops models add NAME --data FILE --target COLUMN --positive-label VALUE",
                )
            _fail(f"there are {len(projects)} models ({', '.join(projects)}): say which with --model NAME")
        try:
            load_project(self.project_dir, name)
        except UnknownModelError as exc:
            _fail(f"UnknownModelError: {exc}")
        except PipelineError as exc:
            _fail(f"{type(exc).__name__}: {exc}", f"fix models/{name}/config.yaml")
        return name


def _os_user() -> str:
    return getpass.getuser() or "local-user"


def _echo(text: str = "", *, err: bool = False, **style: Any) -> None:
    # Handlers' logs are routed to .mlops/logs; the console gets only what is meant for a person.
    stream = sys.__stderr__ if err else sys.__stdout__
    click.secho(text, file=stream, **style)


def _fail(message: str, hint: str = "") -> NoReturn:
    _echo(f"error: {message}", err=True, fg="red")
    if hint:
        _echo(f"  {hint}", err=True)
    raise SystemExit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="MLOPS_DATA_DIR",
    default=None,
    help="Where the local runtime keeps its state (default: .mlops in the project).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Governed MLOps: the AWS training pipeline, run locally from the same template and ASL."""
    from governed_mlops_local.project import find_project_dir

    try:
        project = find_project_dir()
    except FileNotFoundError as exc:
        _fail(str(exc))
    ctx.obj = Context(project, (data_dir or project / ".mlops").resolve())


# -- running the pipeline -------------------------------------------------------------------------
_FAILED_TASK_EVENTS = {
    "TaskFailed",
    "TaskTimedOut",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
}


def _progress() -> Any:
    """Per history event: a finished state in green ✓, a state whose task failed in red ✗ (with its error,
    and "retried" or "caught" when the run goes on), the end of a failed execution in red."""
    started: dict[tuple[str, str], float] = {}
    open_state: dict[str, str] = {}
    failed: dict[tuple[str, str], str] = {}

    def on_event(arn: str, event: dict[str, Any]) -> None:
        name = arn.rsplit(":", 1)[-1]
        kind = event["type"]
        details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        if kind.endswith("StateEntered"):
            state = details["name"]
            started[(arn, state)] = time.perf_counter()
            open_state[arn] = state
        elif kind in {"TaskSucceeded", "LambdaFunctionSucceeded"}:
            state = open_state.get(arn, "?")
            if failed.pop((arn, state), None) is not None:
                _echo(f"  {name}  ↻ {state:<22} retried: succeeded", fg="yellow")
        elif kind.endswith("StateExited"):
            state = details["name"]
            took = time.perf_counter() - started.get((arn, state), time.perf_counter())
            error = failed.pop((arn, state), None)
            if error is None:
                _echo(f"  {name}  ✓ {state:<22} {took:6.2f}s", fg="green")
            else:
                _echo(f"  {name}  ✗ {state:<22} {took:6.2f}s  {error} (caught: the run goes on)", fg="red")
        elif kind in _FAILED_TASK_EVENTS:
            state = open_state.get(arn, "?")
            failed[(arn, state)] = str(details.get("error") or kind)
            _echo(f"  {name}  ✗ {state:<22} {details.get('error') or kind}", fg="red")
        elif kind == "ExecutionFailed":
            _echo(f"  {name}  ✗ FAILED: {details.get('error')}", fg="red", bold=True)

    return on_event


def _report_deliveries(deliveries: list[Any]) -> list[str]:
    arns = []
    if not deliveries:
        _echo("No rule matched this event: nothing started.")
    for d in deliveries:
        if d.error:
            _echo(f"rule {d.rule} -> {d.target}: {d.error_type}: {d.error}", fg="red")
            continue
        for run in d.result.get("runs", []):
            _echo(f"rule {d.rule} -> {d.target}: {run['status']} {run['execution_name']} (model {run['model']})")
            if run["status"] == "started":
                arns.append(run["execution_arn"])
        for skipped in d.result.get("skipped", []):
            _echo(f"rule {d.rule} -> {d.target}: model {skipped['model']} not retrained: {skipped['reason']}")
    return arns


#: While a run waits for a person, how often the console says so (seconds).
WAITING_REMINDER_SECONDS = 30.0
_EXPIRES = re.compile(r"The link expires at (\S+?)\.?$", re.MULTILINE)


def _approval_watcher(
    runtime: Any,
    approve_as: tuple[str, ...],
    *,
    clock: Callable[[], float] = time.monotonic,
    every: float = WAITING_REMINDER_SECONDS,
) -> Any:
    """Print each new approval request, alert and notification as it reaches people; approve if asked.

    While a request is pending, a line every ``every`` seconds says who must decide, the link and the
    time left, so a long wait for a person never looks like a hang.
    """
    from governed_mlops.adapters.approvals import LocalApprovalStore, read_outbox
    from governed_mlops_local import approval_client

    seen = {m["message_id"] for m in read_outbox(runtime.data_dir)}
    waiting: dict[str, tuple[dict[str, Any], float]] = {}

    def remind(now: float) -> None:
        store = LocalApprovalStore(runtime.data_dir)
        for approval_id, (message, last) in list(waiting.items()):
            if store.get(approval_id).status != "pending":
                del waiting[approval_id]
                continue
            if now - last < every:
                continue
            waiting[approval_id] = (message, now)
            attributes = message["attributes"]
            expires = _EXPIRES.search(message.get("message", ""))
            left = ""
            if expires:
                remaining = datetime.fromisoformat(expires[1]) - datetime.now(UTC)
                left = f"; {max(0, int(remaining.total_seconds() // 60))} min left"
            needs = f"{attributes.get('approvals_required', '1')} approver(s) of {attributes.get('model', 'the model')}"
            _echo(f"  … still waiting for {needs} on {attributes.get('model_version')}{left}: {attributes['link']}")

    def tick() -> None:
        now = clock()
        for message in read_outbox(runtime.data_dir):
            if message["message_id"] in seen:
                continue
            seen.add(message["message_id"])
            attributes = message.get("attributes", {})
            if attributes.get("kind") == "alert":
                _echo(f"  ALERT (on-call): {message['subject']}  -> {attributes.get('history')}", fg="red")
                continue
            if attributes.get("kind") == "notification":
                _echo(f"  NOTICE (model owners): {message['subject']}  -> {attributes.get('history')}", fg="yellow")
                continue
            if "link" not in attributes:
                continue
            _echo(f"\n  ⏸ {message['subject']}", fg="yellow", bold=True)
            _echo(f"    Review and decide in a browser: {attributes['link']}")
            _echo(f"    or from another terminal: mlops approve {attributes['approval_id']} --as <approver>")
            waiting[attributes["approval_id"]] = (message, now)
            for approver in approve_as:
                answer = approval_client.decide(
                    attributes["link"], approver, "approve", "unattended approval (--approve-as)"
                )
                if answer.get("status") == "pending":
                    _echo(f"    approved as {approver}: {answer.get('message', 'waiting for another approver')}")
                    continue
                _echo(f"    approved as {approver}: model {answer['model_version']}\n", fg="green")
                break
        remind(now)

    return tick


def _finish(runtime: Any, arns: list[str], wait: bool, deliveries: list[Any], approve_as: tuple[str, ...] = ()) -> int:
    failed = any(d.error for d in deliveries)
    if arns:
        results = runtime.wait(
            arns, on_event=_progress() if wait else None, on_tick=_approval_watcher(runtime, approve_as)
        )
        for result in results:
            colour = "green" if result["status"] == "SUCCEEDED" else "red"
            _echo(f"{result['name']}: {result['status']}", fg=colour)
            if result["status"] != "SUCCEEDED":
                failed = True
                _echo(f"  error: {result.get('error')}\n  cause: {_short_cause(result.get('cause'))}")
                _echo(f"  details: mlops history {result['name']}")
    return 1 if failed else 0


def _short_cause(cause: str | None) -> str:
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed.get("FailureReason") or cause)
    return cause


def _server(obj: Context, port: int | None = None) -> Any:
    """The server of this data directory: the running one, or one started now in the background and left running."""
    from governed_mlops_local import local_server
    from governed_mlops_local.approval_client import serving_runtime

    serving = serving_runtime(obj.data_dir)
    if serving is not None:
        return serving
    try:
        wanted = local_server.configured_port(port)
        # An explicit port must be had; the default one, when taken (another data directory's server), need not.
        if port is None and wanted and not local_server.port_free(wanted):
            _echo(f"port {wanted} is in use: the server takes any free port", err=True)
            wanted = 0
        _echo(f"No local server serves {obj.data_dir}: starting one in the background ...")
        serving = local_server.start_in_background(obj.project_dir, obj.data_dir, wanted)
    except local_server.LocalServerError as exc:
        _fail(f"{type(exc).__name__}: {exc}", "start it yourself to see why: mlops serve")
    _echo(
        f"Local server {serving.url} (pid {serving.pid}) keeps the links answering; "
        f"log {local_server.log_path(obj.data_dir)}; stop it with: mlops serve --stop"
    )
    return serving


def _hand_over(obj: Context, serving: Any, user: str, action: str, **fields: Any) -> dict[str, Any]:
    from governed_mlops_local import local_server

    try:
        return local_server.hand_over(serving, user, action, **fields)
    except local_server.LocalServerError as exc:
        _fail(f"{type(exc).__name__}: {exc}", f"the server's log: {local_server.log_path(obj.data_dir)}")


def _follow(
    obj: Context,
    serving: Any,
    arns: list[str],
    deliveries: list[Any],
    approve_as: tuple[str, ...] = (),
    shown: dict[str, int] | None = None,
) -> int:
    """``_finish`` for executions the server runs: progress from the journal on disk, approvals through its API.

    ``shown``: how many history events of an execution are not news (a redriven one's earlier attempts).
    """
    from types import SimpleNamespace

    from governed_mlops_local.executions import ExecutionStore

    failed = any(d.error for d in deliveries)
    store = ExecutionStore(obj.data_dir)
    on_event = _progress()
    tick = _approval_watcher(SimpleNamespace(data_dir=obj.data_dir), approve_as)
    seen = {arn: (shown or {}).get(arn, 0) for arn in arns}
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(arns):
        for arn in arns:
            if arn in results:
                continue
            described = store.describe(arn)  # before the history: a finished run's last events are journaled
            events = store.history(arn)
            for event in events[seen[arn] :]:
                on_event(arn, event)
            seen[arn] = len(events)
            if described["status"] in _ENDED:
                results[arn] = described
        tick()
        if len(results) < len(arns):
            time.sleep(0.2)
    for arn in arns:
        result = results[arn]
        colour = "green" if result["status"] == "SUCCEEDED" else "red"
        _echo(f"{result['name']}: {result['status']}", fg=colour)
        if result["status"] == "INTERRUPTED":
            failed = True
            _echo(f"  the server (pid {serving.pid}) stopped; continue with: mlops redrive {result['name']}")
        elif result["status"] != "SUCCEEDED":
            failed = True
            _echo(f"  error: {result.get('error')}\n  cause: {_short_cause(result.get('cause'))}")
            _echo(f"  details: mlops history {result['name']}  or  {serving.url}/executions/{result['name']}")
    return 1 if failed else 0


#: Statuses after which nothing more happens to an execution until someone redrives it.
_ENDED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "INTERRUPTED"}


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


@main.command()
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
        _fail(f"InvalidEventError: {exc}", "an EventBridge event is one JSON object; see events/")
    from governed_mlops_local.local_server import deliveries_of

    serving = _server(obj)
    deliveries = deliveries_of(_hand_over(obj, serving, _os_user(), "trigger", event=event))
    arns = _report_deliveries(deliveries)
    if not wait:
        _running_on(serving, arns, approve_as)
        return
    raise SystemExit(_follow(obj, serving, arns, deliveries, approve_as))


def _running_on(serving: Any, arns: list[str], approve_as: tuple[str, ...]) -> None:
    if not arns:
        return
    _echo(f"Running on the local server {serving.url}; follow with: mlops executions")
    if approve_as:
        _echo("  (--approve-as approves while a command follows the run: add --wait)", fg="yellow")


@main.command()
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

    serving = _server(obj)
    answer = _hand_over(obj, serving, requester or _os_user(), "upload", path=str(csv_file.resolve()), key=key)
    _echo(f"uploaded {answer['uploaded']} (sha256 {answer['sha256'][:12]})")
    deliveries = deliveries_of(answer)
    arns = _report_deliveries(deliveries)
    if not wait:
        _running_on(serving, arns, approve_as)
        return
    raise SystemExit(_follow(obj, serving, arns, deliveries, approve_as))


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


@main.command()
@click.argument("name")
@click.option("--reason", required=True, help="Why it is closed (goes into its history and the audit ledger).")
@click.option("--as", "actor", default=None, help="Who closes it (default: OS user).")
@click.pass_obj
def abandon(obj: Context, name: str, reason: str, actor: str | None) -> None:
    """Close an INTERRUPTED execution for good: it ends ABORTED (error Abandoned) with REASON in its history.

    For an execution whose process stopped and that should not be continued (`mlops redrive` continues
    one instead). The decision is audited as pipeline.abandoned; a pending approval request of the run is
    closed (expired, audited as approval.closed), so its link says so. An execution still running in a live
    process, or one that already ended, is refused (exit 2).
    """
    from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key
    from governed_mlops.errors import AbandonNotPossible
    from governed_mlops_local.executions import ExecutionStore

    store = ExecutionStore(obj.data_dir)
    who = actor or _os_user()
    try:
        resolved = store.resolve(name)
        described = store.abandon(resolved, reason, datetime.now(UTC))
    except (AbandonNotPossible, PipelineError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    ledger = LocalAuditLedger(obj.data_dir, load_or_create_key(obj.data_dir))
    ledger.append(who, "pipeline.abandoned", resolved, {"reason": reason, "status": "ABORTED"})
    closed = _close_pending_approvals(obj.data_dir, resolved, who, reason, ledger)
    ledger.seal()
    _echo(f"{resolved}: ABORTED (Abandoned) by {who}: {reason}", fg="yellow")
    for approval_id in closed:
        _echo(f"  its pending approval request {approval_id[:8]}… is closed: its link now says so")
    _echo(f"  history: mlops history {described['name']}")


@main.command()
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
            cli_aws.fail(f"{type(exc).__name__}: {exc}")
        cli_aws.echo(f"redriven {arn} at {redrive_date}; follow with: mlops history {name} --aws")
        return
    from governed_mlops_local.redrive import pending_link_port

    try:
        described = _store(obj).describe(name)
    except PipelineError as exc:
        _fail(str(exc))
    if port is None:
        port = pending_link_port(obj.data_dir, described["executionArn"])
    from governed_mlops_local.approval_client import serving_runtime

    started_server = serving_runtime(obj.data_dir) is None
    arn = described["executionArn"]
    shown = {arn: len(_store(obj).history(arn))}
    serving = _server(obj, port)
    if started_server and _store(obj).describe(name)["status"] == "RUNNING":
        # A server that starts resumes the runs that waited for an approval: this one waits again.
        _echo(f"{described['name']}: the local server resumed it (it waits for its approval again, same link)")
    else:
        from governed_mlops_local import local_server

        try:
            started = local_server.hand_over(serving, _os_user(), "redrive", name=name)
        except local_server.WorkRefused as exc:
            _fail(str(exc), "see what happened with: mlops history " + name)
        except local_server.LocalServerError as exc:
            _fail(f"{type(exc).__name__}: {exc}")
        _echo(
            f"{started['name']}: redrive {started['redrive_count']} continues at state {started['resumed_state']!r} "
            f"(it was {started['previous_status']}); the states before it are not run again"
        )
    raise SystemExit(_follow(obj, serving, [arn], [], approve_as, shown))


#: The example model and its data: what `mlops demo` runs without options.
DEMO_MODEL = "credit-risk"
DEMO_DATA = Path("data") / "german_credit" / "german_credit.csv"


@main.command()
@click.option("--model", "model", default=None, help=f"The model project to run (default: {DEMO_MODEL}).")
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"Dataset CSV (default for {DEMO_MODEL}: the German credit data; required for other models).",
)
@click.option(
    "--approve-as",
    multiple=True,
    metavar="NAME",
    help="Approve through the approval API as NAME (an approver) instead of waiting for a person; "
    "repeat for a model whose risk tier needs two approvers.",
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port of the local API (approval and history pages); default: $MLOPS_PORT, else 8765 "
    "(any free port if taken).",
)
@click.pass_obj
def demo(
    obj: Context, model: str | None, data_file: Path | None, approve_as: tuple[str, ...], port: int | None
) -> None:
    """Fresh data directory, upload a model's dataset, run its pipeline end to end, then a canary push.

    The local server is left running on the same port, so the links the demo printed keep answering.
    """
    from governed_mlops_local import local_server
    from governed_mlops_local.approval_client import serving_runtime

    model = obj.model(model or DEMO_MODEL)
    if data_file is None:
        if model != DEMO_MODEL:
            _fail(f"--data FILE is required for model {model!r} (the bundled data is {DEMO_MODEL}'s)")
        data_file = obj.project_dir / DEMO_DATA
    running = serving_runtime(obj.data_dir)
    try:
        if running is not None:
            _echo(f"Stopping the local server {running.url} (pid {running.pid}): the demo starts from a fresh data dir")
            local_server.stop(obj.data_dir)
            port = port if port is not None else urlsplit(running.url).port
        explicit = port is not None
        port = local_server.configured_port(port)
    except local_server.LocalServerError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    if not explicit and port and not local_server.port_free(port):
        port = 0
    if obj.data_dir.exists():
        shutil.rmtree(obj.data_dir)
    _echo(f"Local runtime: template {obj.project_dir / 'template.yaml'}, data dir {obj.data_dir} (fresh)")
    begin = time.perf_counter()
    with obj.runtime(port=port) as runtime:
        _echo(
            f"Runtime ready in {time.perf_counter() - begin:.2f}s (local API {runtime.gateway.url}); "
            f"uploading {data_file.name} for model {model} as {runtime.local_user}"
        )
        _, deliveries = runtime.upload(
            data_file.read_bytes(), f"datasets/{model}/{data_file.name}", requester=runtime.local_user
        )
        arns = _report_deliveries(deliveries)
        code = _finish(runtime, arns, True, deliveries, approve_as)
        for arn in arns:
            _summary(runtime, runtime.executions.describe(arn))
        if code == 0:
            code = _canary_phase(runtime, model, data_file, approve_as)
        url = runtime.gateway.url
    _echo(f"Done in {time.perf_counter() - begin:.2f}s")
    try:
        serving = local_server.start_in_background(obj.project_dir, obj.data_dir, urlsplit(url).port or 0)
    except local_server.LocalServerError as exc:
        _echo(f"the links above stopped answering: {exc}", err=True, fg="red")
        raise SystemExit(code or 1) from exc
    _echo(
        f"The local server {serving.url} (pid {serving.pid}) keeps the links above answering "
        f"(log {local_server.log_path(obj.data_dir)}); stop it with: mlops serve --stop"
    )
    raise SystemExit(code)


def _canary_phase(runtime: Any, model: str, data_file: Path, approve_as: tuple[str, ...]) -> int:
    """A push of unchanged code ends as No Change; a new dataset version retrains and rolls out as a canary."""
    from governed_mlops.model_projects import load_project
    from governed_mlops_local.dataset_versions import reexported
    from governed_mlops_local.traffic import TrafficGenerator

    config, spec = load_project(runtime.project_dir, model)
    endpoint = spec.endpoint_name
    event = json.loads((runtime.project_dir / "events" / "codecommit_push.json").read_text())
    head = runtime.current_commit()
    if head:
        event["detail"]["commitId"] = head
    event["detail"]["callerUserArn"] = f"arn:aws:iam::000000000000:user/{runtime.local_user}"
    _echo(
        f"\nPhase 2: a push of commit {event['detail']['commitId'][:12]}: its data, job code and configuration "
        "are the champion's, so nothing is retrained",
        bold=True,
    )
    deliveries = runtime.send_event(event)
    arns = _report_deliveries(deliveries)
    code = _finish(runtime, arns, True, deliveries, approve_as)
    for arn in arns:
        _summary(runtime, runtime.executions.describe(arn))
    if code != 0:
        return code
    version = f"{data_file.stem}-reexport{data_file.suffix}"
    _echo(
        f"\nPhase 3: {version} arrives (the same rows, re-exported: new bytes, a new dataset version); it "
        f"retrains, is compared with the champion and rolls out to {endpoint} as a canary while clients send "
        "requests",
        bold=True,
    )
    features = config.dataset.features
    traffic = TrafficGenerator(
        runtime.gateway.url, endpoint, TrafficGenerator.rows_from_csv(data_file.read_bytes(), features)
    )
    traffic.start()
    try:
        _, deliveries = runtime.upload(
            reexported(data_file.read_bytes()), f"datasets/{model}/{version}", requester=runtime.local_user
        )
        arns = _report_deliveries(deliveries)
        code = _finish(runtime, arns, True, deliveries, approve_as)
    finally:
        traffic.stop()
    for arn in arns:
        _summary(runtime, runtime.executions.describe(arn))
    described = runtime.hosting.describe_endpoint(endpoint)
    _echo(
        f"\nEndpoint {endpoint}: {described['EndpointStatus']}, serving {described['EndpointConfigName']} "
        "(100% of traffic)",
        bold=True,
    )
    _echo(f"  client requests during the rollout: {traffic.sent}, failed: {sum(traffic.errors.values())}")
    for config_name, count in traffic.by_config.most_common():
        _echo(f"    {config_name:<52} {count:>5}  ({100 * count / max(1, traffic.sent):.0f}%)")
    return code


def _summary(runtime: Any, described: dict[str, Any]) -> None:
    _echo("")
    _echo(f"Execution  {described['name']}  {described['status']}", bold=True)
    if described["status"] != "SUCCEEDED":
        return
    output = json.loads(described["output"])
    if output.get("outcome") == "NoChange":
        _echo(f"  No Change: {output.get('reason') or 'an identical retrain'}; {output.get('champion')} stays")
        return
    for name, value in output.get("gates", {}).get("summary", {}).items():
        if name in {"auc", "ks", "accuracy", "precision", "recall", "f1"}:
            _echo(f"  {name:<10} {value:.4f}")
    registration = output.get("registration", {})
    outcome = output.get("outcome")
    status = (outcome.get("status") if isinstance(outcome, dict) else None) or registration.get("status")
    _echo(f"  model version  {registration.get('model_version')} ({status})")
    if output.get("approval"):
        _echo(f"  approved by    {output['approval'].get('decided_by')}")
    from governed_mlops.adapters.model_registry import LocalModelRegistry

    record = LocalModelRegistry(runtime.data_dir).get(registration["model_version"])
    _echo("  evidence (open the HTML report in a browser; it needs no server):")
    for name in (
        "evidence_report",
        "model_card",
        "bias_pre",
        "bias_post",
        "shap_plot",
        "explainability",
        "bias_pre_plot",
        "bias_post_plot",
        "evaluation",
        "validation",
        "gates",
    ):
        digest = record.reports.get(name)
        if digest is not None:
            _echo(f"    {name:<16} {runtime.store.mirror_path(digest.ref.bucket, digest.ref.key)}")
    _echo(f"  lineage        mlops lineage {record.model_version}")


# -- reading state --------------------------------------------------------------------------------
def _store(obj: Context) -> Any:
    from governed_mlops_local.executions import ExecutionStore

    return ExecutionStore(obj.data_dir)


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


@main.command()
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
            cli_aws.fail("--model filters local executions only; with --aws use the execution names (mlops history)")
        with reading_stack(stack_name, region, profile) as stack:
            rows = filter_executions(stack.executions().list_executions(), statuses, start)
        empty = "No executions match." if filtered else f"No executions of {stack.pipeline_arn} yet."
        cli_aws.echo(_executions_text(rows, as_json, empty=empty))
        return
    wanted = obj.model(model) if model is not None else None
    rows = filter_executions(_store(obj).list_executions(), statuses, start)
    if wanted is not None:
        rows = [row for row in rows if row.get("model") == wanted]
    empty = "No executions match." if filtered else "No executions yet. Start one: mlops demo"
    _echo(_executions_text(rows, as_json, empty=empty))


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
        return f"{details['error']}: {_short_cause(details.get('cause'))}"[:160]
    if "resource" in details:
        return f"{details.get('resourceType', 'lambda')} {details['resource'].rsplit(':', 1)[-1]}"
    return ""


@main.command()
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
        except PipelineError as exc:
            cli_aws.fail(f"{type(exc).__name__}: {exc}")
        cli_aws.echo(render_aws_history(described, events, as_json))
        return
    store = _store(obj)
    try:
        name = store.resolve(name)
        described = store.describe(name)
        events = store.history(name)
    except PipelineError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    if as_json:
        _echo(json.dumps({"events": events}, indent=2))
        return
    _echo(f"{described['name']}  {described['status']}", bold=True)
    from governed_mlops_local.incident_text import echo_incident

    echo_incident(_echo, obj.data_dir, store, described, events)
    start = datetime.fromisoformat(events[0]["timestamp"]) if events else None
    _echo(f"{'ID':>4}  {'+SECONDS':>9}  {'TYPE':<28} DETAIL")
    for e in events:
        offset = (datetime.fromisoformat(e["timestamp"]) - start).total_seconds() if start else 0.0
        _echo(f"{e['id']:>4}  {offset:9.3f}  {e['type']:<28} {_event_detail(e)}")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@stack_options
@click.pass_context
def models(
    ctx: click.Context, as_json: bool, aws: bool, region: str | None, profile: str | None, stack_name: str | None
) -> None:
    """The model inventory: every model project with tier, champion, endpoint, last run and monitoring.

    With --aws: every registered version of the stack's registry (as `mlops models versions`).
    Subcommands: `add` onboards a dataset, `versions` lists registered versions.
    """
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            records = stack.registry().list_versions()
        cli_aws.echo(_models_text(records, as_json))
        return
    from governed_mlops_local.inventory import inventory, render

    _echo(render(inventory(obj.project_dir, obj.data_dir), as_json))


@models.command("versions")
@click.option("--model", "model", default=None, help="Only this model's registry group.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def model_versions(obj: Context, model: str | None, as_json: bool) -> None:
    """Registered model versions with status and headline metrics."""
    from governed_mlops.adapters.model_registry import LocalModelRegistry
    from governed_mlops.model_projects import load_project

    records = LocalModelRegistry(obj.data_dir).list_versions()
    if model is not None:
        group = load_project(obj.project_dir, obj.model(model))[1].model_package_group
        records = [r for r in records if r.model_package_group == group]
    _echo(_models_text(records, as_json))


def _models_text(records: list[Any], as_json: bool) -> str:
    if as_json:
        return json.dumps([r.model_dump(mode="json") for r in records], indent=2)
    if not records:
        return "No model versions registered yet."
    return "\n".join(
        f"{r.model_version:<20} {r.status:<24} auc={r.metrics.get('auc', float('nan')):.4f} "
        f"execution={r.execution_name} commit={r.code.commit_id[:12]}"
        for r in records
    )


@main.command()
@click.argument("model_version")
@click.option("--json", "as_json", is_flag=True, help="The full lineage record as JSON.")
@stack_options
@click.pass_obj
def lineage(
    obj: Context,
    model_version: str,
    as_json: bool,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """What produced this model: data, code, configuration, job, hyperparameters, metrics, approval."""
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            remote = stack.registry().get(model_version)
        cli_aws.echo(_lineage_text(remote, as_json))
        return
    from governed_mlops.adapters.model_registry import LocalModelRegistry

    try:
        record = LocalModelRegistry(obj.data_dir).get(model_version)
    except PipelineError as exc:
        _fail(str(exc))
    _echo(_lineage_text(record, as_json))


def _lineage_text(record: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True)
    rows: list[tuple[str, str]] = [
        (
            "model version",
            f"{record.model_version}  [{record.status}]  registered {record.created_at:%Y-%m-%d %H:%M:%S}Z",
        ),
        ("model artifact", f"{record.model_artifact.ref.pinned_uri}  sha256 {record.model_artifact.sha256}"),
        ("execution", f"{record.execution_name}  (ASL sha256 {record.definition_sha256 or '-'})"),
        (
            "trigger",
            f"{record.trigger.kind} by {record.trigger.principal} at {record.trigger.event_time:%Y-%m-%d %H:%M:%S}Z "
            f"(event {record.trigger.event_id})",
        ),
        ("data", f"{record.data.ref.pinned_uri}  sha256 {record.data.sha256}  ({record.data.size} bytes)"),
        ("code", f"{record.code.repository}@{record.code.branch} commit {record.code.commit_id}"),
        ("job code", f"sourcedir sha256 {record.source_sha256}"),
        ("config", f"{record.config.ref.pinned_uri}  sha256 {record.config.sha256}"),
        ("training job", f"{record.training_job_name} on {record.training_image}"),
        (
            "hyperparameters",
            ", ".join(f"{k}={v}" for k, v in sorted(record.hyperparameters.items()) if not k.startswith("sagemaker_")),
        ),
        ("seed", str(record.seed)),
        ("libraries", ", ".join(f"{k} {v}" for k, v in sorted(record.library_versions.items()))),
        ("metrics", ", ".join(f"{k}={v:.4f}" for k, v in sorted(record.metrics.items()))),
    ]
    rows += [(f"report {name}", f"{d.ref.uri}  sha256 {d.sha256}") for name, d in sorted(record.reports.items())]
    if record.approval is not None:
        a = record.approval
        rows.append(("approval", f"{a.decision} by {a.decided_by} at {a.decided_at:%Y-%m-%d %H:%M:%S}Z  {a.reason}"))
    rows += [("deployment", ", ".join(f"{k}={v}" for k, v in d.items())) for d in record.deployments]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


# -- manual approval ------------------------------------------------------------------------------
def _serving(obj: Context) -> Any:
    from governed_mlops_local import approval_client

    serving = approval_client.serving_runtime(obj.data_dir)
    if serving is None:
        _fail(
            "no local runtime is serving the approval API for this data directory",
            "the run waiting for approval lives in the local server that ran it; see: mlops serve --status",
        )
    return serving


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "user", default=None, help="Who is asking (default: the OS user).")
@click.option("--model", "model", default=None, help="Only this model's approval requests.")
@stack_options
@click.pass_obj
def approvals(
    obj: Context,
    as_json: bool,
    user: str | None,
    model: str | None,
    aws: bool,
    region: str | None,
    profile: str | None,
    stack_name: str | None,
) -> None:
    """List approval requests, pending first (through the approval API, or from disk if none is serving).

    With --aws: the stack's approvals table (the records only: task tokens are never read).
    """
    if aws:
        with reading_stack(stack_name, region, profile) as stack:
            records = stack.approvals().list_records()
        rows = [r.model_dump(mode="json") for r in records]
        cli_aws.echo(_approvals_text([r for r in rows if model is None or r.get("model_name") == model], as_json))
        return
    from governed_mlops.adapters.approvals import LocalApprovalStore
    from governed_mlops_local import approval_client

    wanted = obj.model(model) if model is not None else None
    serving = approval_client.serving_runtime(obj.data_dir)
    if serving is not None:
        rows = approval_client.list_approvals(serving.url, user or _os_user())
    else:
        rows = [r.model_dump(mode="json") for r in LocalApprovalStore(obj.data_dir).list_records()]
    if wanted is not None:
        rows = [r for r in rows if r.get("model_name") == wanted]
    _echo(_approvals_text(rows, as_json))


def _approvals_text(rows: list[dict[str, Any]], as_json: bool) -> str:
    rows = sorted(rows, key=lambda r: (r["status"] != "pending", r["requested_at"]))
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "No approval requests."
    lines = []
    for r in rows:
        decided = f" by {r['decided_by']}" if r.get("decided_by") else ""
        progress = f"  {r['progress']}" if r.get("progress") and r["status"] == "pending" else ""
        tier = f" ({r['risk_tier']} risk)" if r.get("risk_tier") else ""
        lines.append(
            f"{r['approval_id']}  {r['status']:<9}{decided}  {r['model_version']}{tier}{progress}  "
            f"execution={r['execution_name']} triggered_by={r['triggered_by']}  expires={r['expires_at'][:19]}"
        )
    return "\n".join(lines)


def _decide(obj: Context, approval_id: str, user: str, decision: str, reason: str) -> None:
    from governed_mlops_local import approval_client

    serving = _serving(obj)
    link = approval_client.link_for(obj.data_dir, approval_id)
    if link is None:
        _fail(f"no approval request {approval_id!r} was notified here", "list them with: mlops approvals")
    # The signed path and query are what count; the runtime serving them now may listen elsewhere.
    link = approval_client.rebase(link, serving.url)
    try:
        answer = approval_client.decide(link, user, decision, reason)
    except approval_client.ApprovalClientError as exc:
        _fail(f"HTTP {exc.status}: {exc}")
    if answer.get("status") == "pending":
        _echo(f"{answer['model_version']}: {answer.get('message') or answer.get('progress')}", fg="yellow")
        return
    _echo(f"{answer['model_version']}: {answer['status']} by {answer['decided_by']}", fg="green")


@main.command()
@click.argument("approval_id")
@click.option("--as", "user", required=True, help="The approver (must be in the approvers group).")
@click.option("--reason", default="", help="Optional comment recorded with the approval.")
@click.pass_obj
def approve(obj: Context, approval_id: str, user: str, reason: str) -> None:
    """Approve a model version through the approval API (same checks as the web page)."""
    _decide(obj, approval_id, user, "approve", reason)


@main.command()
@click.argument("approval_id")
@click.option("--as", "user", required=True, help="The approver (must be in the approvers group).")
@click.option("--reason", required=True, help="Why the model is rejected (recorded in its lineage).")
@click.pass_obj
def reject(obj: Context, approval_id: str, user: str, reason: str) -> None:
    """Reject a model version through the approval API; the execution ends and nothing is deployed."""
    _decide(obj, approval_id, user, "reject", reason)


@main.command()
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: $MLOPS_PORT, else 8765).")
@click.option("--as", "user", default=None, help="The local user the pages act as (default: the OS user).")
@click.option(
    "--background", is_flag=True, help="Start detached (output in <data dir>/logs/serve.log); return once it serves."
)
@click.option("--status", "show_status", is_flag=True, help="Which server serves this data directory (exit 1 if none).")
@click.option("--stop", is_flag=True, help="Stop the server of this data directory and wait until it has exited.")
@click.pass_obj
def serve(obj: Context, port: int | None, user: str | None, background: bool, show_status: bool, stop: bool) -> None:
    """Run the local runtime as the long-lived server every link points at: approval pages and API, history
    pages, endpoints; `upload`, `trigger` and `redrive` hand their work to it."""
    from governed_mlops_local import local_server
    from governed_mlops_local.approval_client import serving_runtime

    if background + show_status + stop > 1:
        _fail("--background, --status and --stop exclude each other")
    if show_status or stop:
        stale = local_server.stale_runtime_json(obj.data_dir)
        if stale is not None:
            _echo(f"removed a stale runtime.json: its process (pid {stale or '?'}) is gone", fg="yellow")
    if show_status:
        _serve_status(obj)
        return
    if stop:
        try:
            stopped = local_server.stop(obj.data_dir)
        except local_server.LocalServerError as exc:
            _fail(f"{type(exc).__name__}: {exc}")
        _echo(f"stopped {stopped.url} (pid {stopped.pid})" if stopped else f"no local server serves {obj.data_dir}")
        return
    running = serving_runtime(obj.data_dir)
    if running is not None:
        _fail(
            f"{running.url} (pid {running.pid}) already serves {obj.data_dir}",
            "see it with: mlops serve --status; stop it with: mlops serve --stop",
        )
    try:
        port = local_server.configured_port(port)
        if port and not local_server.port_free(port):
            raise local_server.LocalServerError(f"port {port} is in use on 127.0.0.1")
        if background:
            serving = local_server.start_in_background(obj.project_dir, obj.data_dir, port, user=user)
    except local_server.LocalServerError as exc:
        _fail(f"{type(exc).__name__}: {exc}", "choose another port with --port (or $MLOPS_PORT)")
    if background:
        _echo(f"Local runtime serving on {serving.url} (pid {serving.pid}); log {local_server.log_path(obj.data_dir)}")
        _echo("stop it with: mlops serve --stop")
        return
    _serve_here(obj, port, user)


def _serve_status(obj: Context) -> None:
    from governed_mlops_local import local_server
    from governed_mlops_local.approval_client import serving_runtime

    serving = serving_runtime(obj.data_dir)
    if serving is None:
        _echo(f"no local server serves {obj.data_dir}")
        raise SystemExit(1)
    if not local_server.identify(serving, obj.data_dir):
        _echo(f"pid {serving.pid} holds runtime.json ({serving.url}) but does not answer as this data dir's server")
        raise SystemExit(1)
    _echo(f"serving {serving.url} (pid {serving.pid}) for {obj.data_dir}")
    _echo(f"  log: {local_server.log_path(obj.data_dir)} (when started in the background)")


def _serve_here(obj: Context, port: int, user: str | None) -> None:
    from governed_mlops_local import local_server
    from governed_mlops_local.redrive import interrupted_waiting_for_approval

    def terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # `mlops serve --stop`: leave as on Ctrl-C (runtime.json removed, jobs stopped)

    signal.signal(signal.SIGTERM, terminate)
    try:
        with obj.runtime(user=user, port=port) as runtime:
            runtime.gateway.mount("/local", local_server.work_routes(runtime))
            tick = _approval_watcher(runtime, ())
            # A run that waited for a person when its process died waits again: its link still works.
            for execution in interrupted_waiting_for_approval(runtime.executions, runtime.data_dir):
                started = runtime.redrive(execution["executionArn"])
                runtime.wait_until_waiting(started.execution_arn)
                _echo(f"resumed {started.name}: waiting at {started.resumed_state!r} again (same approval link)")
            for execution in runtime.executions.list_executions():
                if execution["status"] == "INTERRUPTED":
                    _echo(f"INTERRUPTED: {execution['name']} (continue it with: mlops redrive {execution['name']})")
            local_server.mark_ready(obj.data_dir, runtime.gateway.url)
            _echo(f"Local runtime serving on {runtime.gateway.url} (Ctrl-C or `mlops serve --stop` to stop)")
            while True:
                tick()
                time.sleep(0.5)
    except KeyboardInterrupt:
        _echo("stopped")


def _register_command_modules() -> None:
    """Feature areas contribute their own command modules."""
    from governed_mlops_local.cli_audit import audit
    from governed_mlops_local.cli_deploy import deploy_params
    from governed_mlops_local.cli_explain import explain
    from governed_mlops_local.cli_githook import git_hook
    from governed_mlops_local.cli_labels import labels
    from governed_mlops_local.cli_monitor import endpoints, invoke, monitor
    from governed_mlops_local.cli_release import package_jobs
    from governed_mlops_local.cli_reproduce import reproduce
    from governed_mlops_local.cli_ui import ui

    main.add_command(audit)
    main.add_command(ui)
    main.add_command(deploy_params)
    main.add_command(explain)
    main.add_command(git_hook)
    main.add_command(monitor)
    main.add_command(endpoints)
    main.add_command(invoke)
    main.add_command(labels)
    main.add_command(reproduce)
    main.add_command(package_jobs)
    models.add_command(_models_add())


def _models_add() -> click.Command:
    from governed_mlops_local.cli_models import models_add

    return models_add


_register_command_modules()

if __name__ == "__main__":
    main()
