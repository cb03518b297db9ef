"""``mlops abandon NAME --reason TEXT --aws --stack S``: close a run in a deployed stack for good.

What the local ``abandon`` does for an interrupted execution, for a Step Functions execution that
waits: StopExecution with error ``Abandoned`` and the reason as cause (Step Functions records both in
the ``ExecutionAborted`` event, so ``mlops history --aws`` and the execution page show them), a
``pipeline.abandoned`` record in the stack's audit ledger, and the run's pending approval request
closed (expired, audited as ``approval.closed``) so its link says so instead of offering a decision
nothing waits for.

Only a run that *waits* is abandoned: for a person (a ``.waitForTaskToken`` task such as Request
Approval) or for time (a ``Wait`` state). A run whose task is in progress (a Lambda function or a
SageMaker job working now) is refused, as the local command refuses one a live process runs: stopping
it there would leave that task's work half done. An unknown execution is ``ExecutionNotFoundError``;
one that already ended is refused too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from governed_mlops.adapters.execution_history import StepFunctionsHistory
from governed_mlops.errors import AbandonNotPossible, ApprovalAlreadyDecided
from governed_mlops_local.aws_stack import StackResources, aws_errors

#: The error StopExecution records; the incident view reads it as "closed on purpose".
ABANDONED = "Abandoned"
_TASK_ENDS = ("Succeeded", "Failed", "TimedOut", "StartFailed", "SubmitFailed", "ScheduleFailed")


@dataclass(frozen=True)
class Abandoned:
    """What ``abandon --aws`` did: the execution, who, and the approval requests it closed."""

    name: str
    execution_arn: str
    actor: str
    principal: str
    closed_approvals: tuple[str, ...]


def waiting_on(events: Sequence[Mapping[str, Any]]) -> str | None:
    """What a running execution waits for (``"a person"``/``"time"``), or None when a task is working now.

    Tasks are matched to their ends in order (``*Scheduled`` opens one, ``*Succeeded``/``*Failed``/...
    closes the oldest open one); the execution waits when every open task is a ``.waitForTaskToken``
    task, or none is open and the last state entered is a ``Wait`` state.
    """
    open_tasks: list[str] = []
    last_entered = ""
    for event in events:
        kind = str(event.get("type", ""))
        details: Mapping[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
        if kind.endswith("StateEntered"):
            last_entered = kind
        elif kind.endswith("Scheduled") and "resource" in details:
            open_tasks.append(f"{details.get('resourceType', '')}:{details['resource']}")
        elif kind.startswith(("Task", "LambdaFunction")) and kind.endswith(_TASK_ENDS) and open_tasks:
            open_tasks.pop(0)
    if open_tasks:
        return "a person" if all(task.endswith(".waitForTaskToken") for task in open_tasks) else None
    return "time" if last_entered == "WaitStateEntered" else None


def abandon_in_aws(stack: StackResources, name: str, reason: str, *, actor: str | None, now: datetime) -> Abandoned:
    """Stop ``name`` (an execution name or ARN of the stack's pipeline) for good; see the module docstring.

    Raises:
        ExecutionNotFoundError: no such execution in the stack's pipeline.
        AbandonNotPossible: no reason given, it already ended, or a task of it is working now.
    """
    if not reason.strip():
        raise AbandonNotPossible("say why the execution is abandoned: --reason TEXT (it goes into its history)")
    with aws_errors(f"stack {stack.name!r}"):
        sfn = stack.client("stepfunctions")
        history = StepFunctionsHistory(sfn, [stack.pipeline_arn])
        described = history.describe(name)
        arn, status, run = described["executionArn"], described["status"], described["name"]
        scope = f"--aws --stack {stack.name}"
        if status != "RUNNING":
            hint = f" (mlops redrive {run} {scope} continues it)" if status in {"FAILED", "TIMED_OUT"} else ""
            raise AbandonNotPossible(f"{run} already ended ({status}): there is nothing to abandon{hint}")
        if waiting_on(history.history(arn)) is None:
            raise AbandonNotPossible(
                f"{run} is running a task in Step Functions now (a Lambda function or a SageMaker job): stopping "
                f"it there would leave that work half done. Abandon it once it waits (mlops history {run} {scope}) "
                "or ends"
            )
        principal = str(stack.client("sts").get_caller_identity()["Arn"])
        who = actor or principal
        sfn.stop_execution(executionArn=arn, error=ABANDONED, cause=reason)
        ledger = stack.audit_ledger()
        ledger.append(who, "pipeline.abandoned", run, {"reason": reason, "status": "ABORTED", "principal": principal})
        closed = _close_pending_approvals(stack, run, who, reason, now=now, ledger=ledger)
        ledger.seal()
    return Abandoned(run, arn, who, principal, tuple(closed))


def _close_pending_approvals(
    stack: StackResources, execution: str, who: str, reason: str, *, now: datetime, ledger: Any
) -> list[str]:
    """Expire the execution's pending approval requests (nothing waits for them any more), audited."""
    store = stack.approvals()
    closed = []
    for record in store.records_for_execution(execution):
        if record.status != "pending":
            continue
        try:
            store.decide(record.approval_id, "expired", who, f"execution abandoned: {reason}", now)
        except ApprovalAlreadyDecided:
            continue  # decided in the meantime
        ledger.append(
            who, "approval.closed", record.model_version, {"approval_id": record.approval_id, "reason": reason}
        )
        closed.append(record.approval_id)
    return closed
