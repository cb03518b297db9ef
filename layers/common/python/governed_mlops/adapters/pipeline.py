"""Starting pipeline executions (AWS Step Functions; locally the same API on moto)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from governed_mlops.errors import ExecutionNotFoundError, RedriveNotPossible

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
else:
    SFNClient = Any


@dataclass(frozen=True)
class StartOutcome:
    execution_arn: str
    started: bool


class Pipeline(Protocol):
    """What the trigger needs of the orchestrator."""

    def start(self, name: str, payload: dict[str, Any]) -> StartOutcome: ...


class StepFunctionsPipeline:
    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._sfn = client
        self._arn = state_machine_arn

    def execution_arn(self, name: str) -> str:
        prefix, _, machine = self._arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, payload: dict[str, Any]) -> StartOutcome:
        """Start ``name``; if it already exists, report it as a duplicate instead of failing.

        Step Functions keeps names unique per state machine (standard workflows, 90 days), so
        a redelivered event maps onto the execution its first delivery started.
        """
        try:
            answer = self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            return StartOutcome(execution_arn=self.execution_arn(name), started=False)
        return StartOutcome(execution_arn=answer["executionArn"], started=True)

    def describe(self, name: str) -> dict[str, Any]:
        try:
            return dict(self._sfn.describe_execution(executionArn=self.execution_arn(name)))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
                raise ExecutionNotFoundError(f"no execution named {name!r}") from exc
            raise

    def redrive(self, execution_arn: str) -> str:
        """RedriveExecution: continue an unsuccessful execution from its unsuccessful step; the redrive date."""
        try:
            answer = self._sfn.redrive_execution(executionArn=execution_arn)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ExecutionNotRedrivable":
                raise RedriveNotPossible(
                    f"Step Functions will not redrive it: {exc.response['Error']['Message']}"
                ) from exc
            if code in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise ExecutionNotFoundError(f"no execution {execution_arn!r} ({code})") from exc
            raise
        return str(answer["redriveDate"].isoformat())


@dataclass(frozen=True)
class DefinitionThatRan:
    """The state machine definition an execution ran (lineage): its sha256 and the published version."""

    sha256: str
    #: The version the execution ran (started through the alias); None when started unqualified.
    version_arn: str | None


def definition_that_ran(client: SFNClient, execution_arn: str) -> DefinitionThatRan | None:
    """What ``execution_arn`` ran, not what the state machine holds now; None without an ARN."""
    if not execution_arn:
        return None
    definition = client.describe_state_machine_for_execution(executionArn=execution_arn)["definition"]
    version = client.describe_execution(executionArn=execution_arn).get("stateMachineVersionArn")
    return DefinitionThatRan(hashlib.sha256(definition.encode()).hexdigest(), version or None)
