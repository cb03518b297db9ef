"""Execution history from AWS Step Functions, in the shapes the local ``ExecutionStore`` returns.

So the on-call pages and ``mlops history`` render an AWS execution exactly as a local one:
ListExecutions / DescribeExecution / GetExecutionHistory dicts with ISO-8601 strings where boto3
gives datetimes, no ``ResponseMetadata``, and task tokens redacted as the local store redacts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from governed_mlops.domain.task_tokens import redact_task_tokens
from governed_mlops.errors import ExecutionNotFoundError, TransientStorageError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
else:
    SFNClient = Any

_NOT_FOUND = {"ExecutionDoesNotExist", "InvalidArn", "StateMachineDoesNotExist"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def unqualified_state_machine_arn(arn: str) -> str:
    """The state machine's own ARN, without the version number or alias name a qualified ARN ends with."""
    head, marker, rest = arn.rpartition(":stateMachine:")
    return f"{head}{marker}{rest.split(':', 1)[0]}" if marker else arn


def execution_arn_for(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives execution ``name`` of a standard state machine (or of its alias/version)."""
    head, _, machine = unqualified_state_machine_arn(state_machine_arn).rpartition(":stateMachine:")
    return f"{head}:execution:{machine}:{name}"


class StepFunctionsHistory:
    """Read-only view of executions in AWS Step Functions.

    ``state_machine_arns`` are the machines :meth:`list_executions` covers when called without
    one, and the machines an execution *name* (rather than an ARN) is looked up in.
    """

    def __init__(self, sfn_client: SFNClient, state_machine_arns: Sequence[str] = (), *, page_size: int = 100) -> None:
        self._sfn = sfn_client
        self._machines = tuple(state_machine_arns)
        self._page_size = page_size

    def _call(self, what: str, pages: Iterable[Any]) -> list[Any]:
        try:
            return list(pages)
        except ClientError as exc:
            raise self._translate(exc, what) from exc

    @staticmethod
    def _translate(exc: ClientError, what: str) -> Exception:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _NOT_FOUND:
            return ExecutionNotFoundError(f"no execution {what!r} in Step Functions ({code})")
        return TransientStorageError(f"Step Functions {code or 'error'} reading {what!r}: {exc}")

    def list_executions(self, state_machine_arn: str | None = None, *, max_items: int = 1000) -> list[dict[str, Any]]:
        """ListExecutions ``executions`` of one machine (or of every configured one), newest first."""
        machines = [state_machine_arn] if state_machine_arn else list(self._machines)
        rows: list[dict[str, Any]] = []
        for machine in machines:
            paginator = self._sfn.get_paginator("list_executions")
            pages = paginator.paginate(
                stateMachineArn=machine, PaginationConfig={"PageSize": self._page_size, "MaxItems": max_items}
            )
            for page in self._call(machine, pages):
                rows += [_plain(row) for row in page["executions"]]
        rows.sort(key=lambda row: str(row.get("startDate", "")), reverse=True)
        return rows[:max_items]

    def _resolve(self, name_or_arn: str) -> list[str]:
        if name_or_arn.startswith("arn:"):
            return [name_or_arn]
        return [execution_arn_for(machine, name_or_arn) for machine in self._machines]

    def describe(self, name_or_arn: str) -> dict[str, Any]:
        """DescribeExecution, by ARN or by name within the configured state machines."""
        for arn in self._resolve(name_or_arn):
            try:
                return dict(_plain(self._sfn.describe_execution(executionArn=arn)))
            except ClientError as exc:
                error = self._translate(exc, name_or_arn)
                if not isinstance(error, ExecutionNotFoundError):
                    raise error from exc
        raise ExecutionNotFoundError(
            f"no execution named {name_or_arn!r} in {', '.join(self._machines) or 'Step Functions'}"
        )

    def history(self, name_or_arn: str) -> list[dict[str, Any]]:
        """GetExecutionHistory ``events`` in order (all pages, oldest first), task tokens redacted.

        AWS records the approval task's token in its ``TaskScheduled`` parameters; a reader of the
        history must not be able to resume the execution with it.
        """
        arn = name_or_arn if name_or_arn.startswith("arn:") else self.describe(name_or_arn)["executionArn"]
        paginator = self._sfn.get_paginator("get_execution_history")
        pages = paginator.paginate(
            executionArn=arn,
            reverseOrder=False,
            includeExecutionData=True,
            PaginationConfig={"PageSize": min(self._page_size, 1000)},
        )
        return [
            redact_task_tokens(_plain(event)) for page in self._call(name_or_arn, pages) for event in page["events"]
        ]

    def definition(self, state_machine_arn: str) -> dict[str, Any]:
        """The state machine's current ASL, parsed (for the state graph)."""
        try:
            described = self._sfn.describe_state_machine(stateMachineArn=state_machine_arn)
        except ClientError as exc:
            raise self._translate(exc, state_machine_arn) from exc
        parsed: dict[str, Any] = json.loads(described["definition"])
        return parsed
