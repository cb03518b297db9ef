"""Crash-safe histories and ``RedriveExecution`` for the local runtime, on moto's interpreter.

moto keeps executions in memory and has no ``RedriveExecution``. Two small extensions make the
local runtime behave as Step Functions does when a process dies:

* every history event is appended to the execution's journal on disk as moto records it
  (:func:`install_journal`), so after ``kill -9`` the history shows exactly how far it got;
* :func:`redrive` continues an unsuccessful execution from the state that did not finish, with the
  input that state had recorded, under the same execution ARN; the states that finished are not
  run again (their outputs are already in the recorded input). The ASL runs unchanged in moto's
  interpreter: only its ``StartAt`` is moved to the state being resumed.

The context object carries ``$$.Execution.RedriveCount`` as in AWS, so names that must be unique
per attempt (SageMaker job names) can include it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from moto.stepfunctions.parser.api import ExecutionRedrivenEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from governed_mlops.adapters.approvals import LocalApprovalStore
from governed_mlops.errors import RedriveNotPossible
from governed_mlops.models import ApprovalRecord
from governed_mlops_local.approval_client import link_for
from governed_mlops_local.executions import ExecutionStore, Journal, refuse_unless_redrivable

#: History events that mean the task of the current state did not succeed.
_TASK_FAILURES = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
    }
)
_TASK_SUCCESSES = frozenset({"TaskSucceeded", "LambdaFunctionSucceeded"})
_TERMINAL_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})


@dataclass(frozen=True)
class ResumePoint:
    state: str
    state_input: Any


def resume_point(
    events: list[dict[str, Any]], states: dict[str, dict[str, Any]], start: ResumePoint | None = None
) -> ResumePoint:
    """Where a redrive continues: the state that did not finish, with the input it was given.

    * An execution interrupted before it entered any state starts again at ``start`` (the definition's
      ``StartAt`` with the execution's input), when given.

    * An interrupted, timed-out, aborted or uncaught failure leaves a state entered and never exited.
    * A failure caught into a ``Fail`` state resumes at the state whose task failed (the fault),
      not at the ``Fail`` state, which would only fail again.
    * A ``Fail`` state reached by design (a rejection, an expired approval) is an outcome, not a
      fault: redriving it cannot change anything, so it is refused.
    """
    entered: dict[str, Any] = {}
    open_state: str | None = None
    last_exit: tuple[str, bool] | None = None
    failed = False
    for event in events:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            open_state = str(details["name"])
            entered[open_state] = json.loads(details.get("input") or "{}")
            failed = False
        elif kind.endswith("StateExited"):
            last_exit = (str(event["stateExitedEventDetails"]["name"]), failed)
            open_state = None
        elif kind in _TASK_FAILURES:
            failed = True
        elif kind in _TASK_SUCCESSES:
            failed = False
    if open_state is None and not entered and start is not None:
        return start
    if open_state is None:
        raise RedriveNotPossible("the recorded history has no unfinished state to continue from")
    if states.get(open_state, {}).get("Type") != "Fail":
        return ResumePoint(open_state, entered[open_state])
    if last_exit is not None and last_exit[1]:
        return ResumePoint(last_exit[0], entered[last_exit[0]])
    after = f" after {last_exit[0]!r}" if last_exit else ""
    raise RedriveNotPossible(
        f"the execution ended in the Fail state {open_state!r}{after} as the pipeline intends "
        "(an outcome, not a fault); redriving cannot change it: start a new execution"
    )


class _JournaledEvents(list[Any]):
    """moto's history event list for one execution, also appended to the journal on disk."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self._journal = journal

    def append(self, event: Any) -> None:
        self._journal.append(dict(event))
        super().append(event)
        if event.get("type") in _TERMINAL_EVENTS:
            self._journal.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        # GetExecutionHistory deep-copies the list: the copy is plain data, without the journal.
        return copy.deepcopy(list(self), memo)


def install_journal(store: ExecutionStore) -> Callable[[], None]:
    """Patch moto's execution worker: journal every event, expose ``RedriveCount``; returns the undo."""
    original = ExecutionWorker._get_evaluation_environment

    def environment(worker: ExecutionWorker) -> Environment:
        env = original(worker)
        arn = worker._evaluation_details.execution_details.arn
        attempt = store.attempt(arn)
        execution = env.states.context_object.context_object_data["Execution"]
        execution["RedriveCount"] = attempt  # type: ignore[typeddict-unknown-key]
        env.event_manager._history_event_list = _JournaledEvents(store.open_journal(arn, attempt))  # type: ignore[misc]
        return env

    ExecutionWorker._get_evaluation_environment = environment  # type: ignore[method-assign,assignment]

    def undo() -> None:
        ExecutionWorker._get_evaluation_environment = original  # type: ignore[method-assign]

    return undo


class _RedriveWorker(ExecutionWorker):
    """Runs the definition from the resumed state, with that state's recorded input."""

    def __init__(self, *args: Any, state_input: Any, redrive_count: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_input = state_input
        self._redrive_count = redrive_count

    def _execution_logic(self) -> None:
        program = self._get_evaluation_entrypoint()
        self.env = self._get_evaluation_environment()
        self.env.states.reset(input_value=self._state_input)
        self.env.event_manager.add_event(
            context=self.env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            # moto's EventDetails predates redrive; the event has AWS's shape all the same.
            event_details=cast(
                EventDetails,
                {"executionRedrivenEventDetails": ExecutionRedrivenEventDetails(redriveCount=self._redrive_count)},
            ),
            update_source_event_id=False,
        )
        program.eval(self.env)
        self._execution_communication.terminated()


class _RedrivenExecution(Execution):
    def __init__(self, *args: Any, state_input: Any, redrive_count: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resume_input = state_input
        self._redrive_count = redrive_count

    def _get_start_execution_worker(self) -> ExecutionWorker:
        plain = super()._get_start_execution_worker()
        return _RedriveWorker(
            evaluation_details=plain._evaluation_details,
            exec_comm=plain._execution_communication,
            cloud_watch_logging_session=plain._cloud_watch_logging_session,
            activity_store=plain._activity_store,
            state_input=self._resume_input,
            redrive_count=self._redrive_count,
        )


@dataclass(frozen=True)
class Redrive:
    execution_arn: str
    name: str
    resumed_state: str
    redrive_count: int
    previous_status: str


def redrive(backend: StepFunctionsParserBackend, store: ExecutionStore, name_or_arn: str) -> Redrive:
    """Continue an unsuccessful (or interrupted) execution from the state that did not finish."""
    described = store.describe(name_or_arn)
    refuse_unless_redrivable(described["name"], described["status"])
    state_machine = backend.describe_state_machine(described["stateMachineArn"])
    definition = json.loads(state_machine.definition)
    # Planned before the claim, so a refused redrive changes nothing on disk.
    first = ResumePoint(definition["StartAt"], json.loads(described.get("input") or "{}"))
    point = resume_point(store.history(described["executionArn"]), definition["States"], start=first)
    claimed = store.claim_redrive(described["executionArn"], datetime.now(UTC))
    arn = claimed["execution_arn"]
    # In this process an earlier attempt may still be known to moto: the redrive replaces it.
    state_machine.executions[:] = [e for e in state_machine.executions if e.execution_arn != arn]
    snapshot = copy.deepcopy(
        state_machine, {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend}
    )
    snapshot.definition = json.dumps({**definition, "StartAt": point.state})
    execution = _RedrivenExecution(
        name=claimed["name"],
        sm_type=snapshot.sm_type,
        role_arn=snapshot.roleArn,
        exec_arn=arn,
        account_id=backend.account_id,
        region_name=backend.region_name,
        state_machine=snapshot,
        start_date=datetime.fromisoformat(claimed["start_date"]),
        cloud_watch_logging_session=None,
        input_data=claimed["input"],
        activity_store={},
        state_input=point.state_input,
        redrive_count=claimed["redrive_count"],
    )
    # The snapshot starts at the resume point; DescribeStateMachineForExecution reports the definition.
    execution.definition_that_ran = state_machine.definition  # type: ignore[attr-defined]
    state_machine.executions.append(execution)  # type: ignore[arg-type]
    execution.start()
    return Redrive(arn, claimed["name"], point.state, claimed["redrive_count"], claimed["previous_status"])


def _pending_approvals(data_dir: Path, execution_arn: str) -> list[ApprovalRecord]:
    now = datetime.now(UTC)
    return [
        r
        for r in LocalApprovalStore(data_dir).list_records()
        if r.execution_arn == execution_arn and r.status == "pending" and r.expires_at > now
    ]


def pending_link_port(data_dir: Path, execution_arn: str) -> int | None:
    """The port in the link of the execution's pending approval (a redrive serves it there again)."""
    for approval in _pending_approvals(data_dir, execution_arn):
        link = link_for(data_dir, approval.approval_id)
        if link:
            return urlsplit(link).port
    return None


def interrupted_waiting_for_approval(store: ExecutionStore, data_dir: Path) -> list[dict[str, Any]]:
    """Executions whose process died while they waited for an approval that is still pending."""
    return [
        e
        for e in store.list_executions()
        if e["status"] == "INTERRUPTED" and _pending_approvals(data_dir, e["executionArn"])
    ]


def parser_executions(backend: StepFunctionsParserBackend) -> list[Execution]:
    """Every execution moto's interpreter knows in this process (typed as the interpreter's own)."""
    return [cast(Execution, e) for machine in backend.state_machines for e in list(machine.executions)]
