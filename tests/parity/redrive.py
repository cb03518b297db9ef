"""Step Functions' ``RedriveExecution`` API on the parity stack (moto has none).

It continues a FAILED, TIMED_OUT or ABORTED execution under the same ARN from the state that did not
finish, with the input that state had recorded: the same rule as the embedded runtime's redrive
(:func:`governed_mlops_local.redrive.resume_point`), run by moto's own interpreter. What it refuses,
it refuses with AWS's error name, ``ExecutionNotRedrivable``. ``$$.Execution.RedriveCount`` counts
the attempts, so SageMaker job names stay unique.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.stepfunctions.responses import StepFunctionResponse

from governed_mlops.errors import RedriveNotPossible
from governed_mlops_local.redrive import _RedrivenExecution, resume_point

_REDRIVABLE = {"FAILED", "TIMED_OUT", "ABORTED"}
#: execution ARN -> how often it was redriven ($$.Execution.RedriveCount)
_COUNTS: dict[str, int] = {}


def redrive_count(execution_arn: str) -> int:
    return _COUNTS.get(execution_arn, 0)


class ExecutionNotRedrivable(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ExecutionNotRedrivable", message)


def install_redrive_api() -> Callable[[], None]:
    """Add ``RedriveExecution`` to moto's Step Functions; returns the undo function."""
    counts = _COUNTS

    def redrive_execution(response: StepFunctionResponse) -> ActionResult:
        arn = response._get_param("executionArn")
        backend: Any = response.stepfunction_backend
        execution = backend.describe_execution(arn)
        if execution.status not in _REDRIVABLE:
            raise ExecutionNotRedrivable(f"Execution {arn} is {execution.status} and cannot be redriven")
        state_machine = backend.describe_state_machine(execution.state_machine_arn)
        definition = json.loads(state_machine.definition)
        # As GetExecutionHistory answers: event types as their names (moto keeps str-enums in memory).
        history = [
            {**e, "type": getattr(e["type"], "value", e["type"])} for e in backend.get_execution_history(arn)["events"]
        ]
        try:
            point = resume_point(list(history), definition["States"])
        except RedriveNotPossible as exc:
            raise ExecutionNotRedrivable(str(exc)) from exc
        counts[arn] = counts.get(arn, 0) + 1
        state_machine.executions[:] = [e for e in state_machine.executions if e.exec_arn != arn]
        snapshot = copy.deepcopy(
            state_machine, {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend}
        )
        snapshot.definition = json.dumps({**definition, "StartAt": point.state})
        redriven = _RedrivenExecution(
            name=execution.name,
            sm_type=snapshot.sm_type,
            role_arn=snapshot.roleArn,
            exec_arn=arn,
            account_id=backend.account_id,
            region_name=backend.region_name,
            state_machine=snapshot,
            start_date=execution.start_date,
            cloud_watch_logging_session=None,
            input_data=execution.execution_input or "{}",
            activity_store={},
            state_input=point.state_input,
            redrive_count=counts[arn],
        )
        state_machine.executions.append(redriven)
        redriven.start()
        return ActionResult({"redriveDate": datetime.now(UTC)})

    StepFunctionResponse.redrive_execution = redrive_execution  # type: ignore[attr-defined]

    def undo() -> None:
        del StepFunctionResponse.redrive_execution  # type: ignore[attr-defined]

    return undo
