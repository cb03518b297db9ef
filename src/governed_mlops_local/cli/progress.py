"""Following runs on the console: each state as it ends, approval requests as they reach people, the result.

Used by the commands that start or continue executions (``upload``, ``trigger``, ``redrive``, ``demo``) and by
``serve``; the local runtime calls the printers it is given (``on_event`` / ``on_tick``) and knows nothing of them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from governed_mlops_local.cli.console import echo, short_cause
from governed_mlops_local.cli.context import Context

_FAILED_TASK_EVENTS = {
    "TaskFailed",
    "TaskTimedOut",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
}


def progress() -> Any:
    """Per history event: a finished state in green ✓, a state whose task failed in red ✗ (with its error),
    then in yellow ↻ "retried" or ↷ "caught" when the run goes on, the end of a failed execution in red."""
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
                echo(f"  {name}  ↻ {state:<22} retried: succeeded", fg="yellow")
        elif kind.endswith("StateExited"):
            state = details["name"]
            took = time.perf_counter() - started.get((arn, state), time.perf_counter())
            error = failed.pop((arn, state), None)
            if error is None:
                echo(f"  {name}  ✓ {state:<22} {took:6.2f}s", fg="green")
            else:
                echo(f"  {name}  ↷ {state:<22} {took:6.2f}s  {error} caught: the run goes on", fg="yellow")
        elif kind in _FAILED_TASK_EVENTS:
            state = open_state.get(arn, "?")
            failed[(arn, state)] = str(details.get("error") or kind)
            echo(f"  {name}  ✗ {state:<22} {details.get('error') or kind}", fg="red")
        elif kind == "ExecutionFailed":
            echo(f"  {name}  ✗ FAILED: {details.get('error')}", fg="red", bold=True)

    return on_event


def report_deliveries(deliveries: list[Any]) -> list[str]:
    arns = []
    if not deliveries:
        echo("No rule matched this event: nothing started.")
    for d in deliveries:
        if d.error:
            echo(f"rule {d.rule} -> {d.target}: {d.error_type}: {d.error}", fg="red")
            continue
        for run in d.result.get("runs", []):
            echo(f"rule {d.rule} -> {d.target}: {run['status']} {run['execution_name']} (model {run['model']})")
            if run["status"] == "started":
                arns.append(run["execution_arn"])
        for skipped in d.result.get("skipped", []):
            echo(f"rule {d.rule} -> {d.target}: model {skipped['model']} not retrained: {skipped['reason']}")
    return arns


#: While a run waits for a person, how often the console says so (seconds).
WAITING_REMINDER_SECONDS = 30.0
_EXPIRES = re.compile(r"The link expires at (\S+?)\.?$", re.MULTILINE)


def approval_watcher(
    runtime: Any,
    approve_as: tuple[str, ...],
    *,
    arns: Collection[str] = (),
    clock: Callable[[], float] = time.monotonic,
    every: float = WAITING_REMINDER_SECONDS,
) -> Any:
    """Print each new approval request, alert and notification as it reaches people; approve if asked.

    ``arns``: the runs this watcher follows, already started: a request one of them published before the
    watcher was made is shown (and approved) too; anything else already in the outbox is earlier runs'.
    While a request is pending, a line every ``every`` seconds says who must decide, the link and the
    time left, so a long wait for a person never looks like a hang.
    """
    from governed_mlops.adapters.approvals import LocalApprovalStore, OutboxFollower
    from governed_mlops_local import approval_client

    outbox = OutboxFollower(runtime.data_dir)
    backlog = approval_client.approval_backlog(runtime.data_dir, outbox, approval_client.execution_names(arns))
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
            echo(f"  … still waiting for {needs} on {attributes.get('model_version')}{left}: {attributes['link']}")

    def tick() -> None:
        now = clock()
        messages = [*backlog, *outbox.new_messages()]
        backlog.clear()
        for message in messages:
            attributes = message.get("attributes", {})
            if attributes.get("kind") == "alert":
                echo(f"  ALERT (on-call): {message['subject']}  -> {attributes.get('history')}", fg="red")
                continue
            if attributes.get("kind") == "notification":
                echo(f"  NOTICE (model owners): {message['subject']}  -> {attributes.get('history')}", fg="yellow")
                continue
            if "link" not in attributes:
                continue
            echo(f"\n  ⏸ {message['subject']}", fg="yellow", bold=True)
            echo(f"    Review and decide in a browser: {attributes['link']}")
            echo(f"    or from another terminal: mlops approve {attributes['approval_id']} --as <approver>")
            waiting[attributes["approval_id"]] = (message, now)
            for approver in approve_as:
                answer = approval_client.decide(
                    attributes["link"], approver, "approve", "unattended approval (--approve-as)"
                )
                if answer.get("status") == "pending":
                    echo(f"    approved as {approver}: {answer.get('message', 'waiting for another approver')}")
                    continue
                echo(f"    approved as {approver}: model {answer['model_version']}\n", fg="green")
                break
        remind(now)

    return tick


def finish(runtime: Any, arns: list[str], wait: bool, deliveries: list[Any], approve_as: tuple[str, ...] = ()) -> int:
    failed = any(d.error for d in deliveries)
    if arns:
        results = runtime.wait(
            arns, on_event=progress() if wait else None, on_tick=approval_watcher(runtime, approve_as, arns=arns)
        )
        for result in results:
            colour = "green" if result["status"] == "SUCCEEDED" else "red"
            echo(f"{result['name']}: {result['status']}", fg=colour)
            if result["status"] != "SUCCEEDED":
                failed = True
                echo(f"  error: {result.get('error')}\n  cause: {short_cause(result.get('cause'))}")
                echo(f"  details: mlops history {result['name']}")
    return 1 if failed else 0


def follow(
    obj: Context,
    serving: Any,
    arns: list[str],
    deliveries: list[Any],
    approve_as: tuple[str, ...] = (),
    shown: dict[str, int] | None = None,
) -> int:
    """``finish`` for executions the server runs: progress from the journal on disk, approvals through its API.

    ``shown``: how many history events of an execution are not news (a redriven one's earlier attempts).
    """

    from governed_mlops_local.executions import ExecutionStore

    failed = any(d.error for d in deliveries)
    store = ExecutionStore(obj.data_dir)
    on_event = progress()
    tick = approval_watcher(SimpleNamespace(data_dir=obj.data_dir), approve_as, arns=arns)
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
            if described["status"] in ENDED:
                results[arn] = described
        tick()
        if len(results) < len(arns):
            time.sleep(0.2)
    for arn in arns:
        result = results[arn]
        colour = "green" if result["status"] == "SUCCEEDED" else "red"
        echo(f"{result['name']}: {result['status']}", fg=colour)
        if result["status"] == "INTERRUPTED":
            failed = True
            echo(f"  the server (pid {serving.pid}) stopped; continue with: mlops redrive {result['name']}")
        elif result["status"] != "SUCCEEDED":
            failed = True
            echo(f"  error: {result.get('error')}\n  cause: {short_cause(result.get('cause'))}")
            echo(f"  details: mlops history {result['name']}  or  {serving.url}/executions/{result['name']}")
    return 1 if failed else 0


#: Statuses after which nothing more happens to an execution until someone redrives it.
ENDED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "INTERRUPTED"}


def running_on(serving: Any, arns: list[str], approve_as: tuple[str, ...]) -> None:
    if not arns:
        return
    echo(f"Running on the local server {serving.url}; follow with: mlops executions")
    if approve_as:
        echo("  (--approve-as approves while a command follows the run: add --wait)", fg="yellow")
