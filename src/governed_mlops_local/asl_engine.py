"""Fidelity fixes for moto's Step Functions interpreter (LocalStack's ASL engine), one patch each.

Each ``install_*`` function patches moto in place and returns the undo function; installing twice
is harmless (the second install changes nothing and its undo does nothing).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.exceptions import StateMachineDoesNotExist
from moto.stepfunctions.models import StateMachine, StateMachineVersion
from moto.stepfunctions.parser.asl.component.common.error_name import custom_error_name
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

#: The name StateFail._eval_state builds its error with (a module global of moto's state_fail module).
_FAIL_STATE_ERROR_NAME = "CustomErrorName"


def _fail_state_error_name(error: str) -> ErrorName:
    """The error name a Fail state reports: a ``States.*`` name it was handed stays that name."""
    if error.startswith(custom_error_name.ILLEGAL_CUSTOM_ERROR_PREFIX):
        try:
            return StatesErrorName.from_name(error)
        except ValueError:
            pass  # not a known States.* name: let CustomErrorName refuse it, as the engine does
    return custom_error_name.CustomErrorName(error)


def install_fail_state_forwards_states_errors() -> Callable[[], None]:
    """A Fail state whose ``ErrorPath`` selects a caught ``States.*`` error ends the run with that error.

    The pipeline's Catch-all forwards the caught error through "Pipeline Failed" (``ErrorPath:
    $.error.Error``). moto's engine builds the Fail state's error with ``CustomErrorName``, which
    refuses the ``States.`` prefix, so a caught ``States.Timeout`` (or ``States.TaskFailed``...)
    ended the execution as ``States.Runtime`` with a ValueError as cause, hiding what failed.
    """
    if getattr(state_fail, _FAIL_STATE_ERROR_NAME) is not custom_error_name.CustomErrorName:
        return lambda: None
    setattr(state_fail, _FAIL_STATE_ERROR_NAME, _fail_state_error_name)

    def undo() -> None:
        setattr(state_fail, _FAIL_STATE_ERROR_NAME, custom_error_name.CustomErrorName)

    return undo


#: ``arn:...:stateMachine:NAME:QUALIFIER``: a version number or an alias name after the machine's name.
_QUALIFIED_ARN = re.compile(r"^(?P<machine>arn:[^:]+:states:[^:]+:[^:]+:stateMachine:[^:]+):(?P<qualifier>[^:]+)$")
#: Execution attributes this fix adds, and the DescribeExecution fields that report them.
_EXECUTION_FIELDS = (
    ("state_machine_version_arn", "stateMachineVersionArn"),
    ("state_machine_alias_arn", "stateMachineAliasArn"),
)


def _version_for(machine: StateMachine, qualifier: str, arn: str) -> tuple[StateMachineVersion, str | None]:
    """The version a qualified ARN runs, and the alias it went through (None for a version ARN)."""
    if qualifier.isdigit():
        version = machine.versions.get(int(qualifier))
        if version is None:
            raise StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        return version, None
    alias = machine.aliases.get(qualifier)
    if alias is None:
        raise StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
    # An alias routes each execution to one of its (at most two) versions by weight.
    routes = alias.routing_configuration
    weights = [int(r["weight"]) for r in routes]
    chosen = random.choices(routes, weights=weights)[0]["stateMachineVersionArn"]  # noqa: S311 (traffic split, not a secret)
    return machine.versions[int(str(chosen).rsplit(":", 1)[1])], alias.arn


def install_qualified_start_execution() -> Callable[[], None]:
    """StartExecution takes a version or alias ARN and runs that version, as Step Functions does.

    The template publishes the pipeline as versions behind an alias (``AutoPublishAlias``) and the
    trigger starts the alias. moto 5.2.5 models versions and aliases but its StartExecution refuses an
    alias ARN (StateMachineDoesNotExist) and, given a version ARN, files the execution under the
    version, so ListExecutions on the state machine never shows it. With this fix the execution runs
    the definition of the version the ARN resolves to, is listed under the state machine (whose ARN
    its ARN and ``stateMachineArn`` carry, as in AWS), and DescribeExecution reports
    ``stateMachineVersionArn`` and ``stateMachineAliasArn``; DescribeStateMachineForExecution returns
    the definition that ran (moto's returns the machine's current definition, for any execution).
    Unqualified ARNs start as before.
    """
    original = StepFunctionsParserBackend.start_execution
    if getattr(original, "_runs_qualified_arns", False):
        return lambda: None
    original_describe = StepFunctionResponse.describe_execution
    original_definition = StepFunctionResponse.describe_state_machine_for_execution
    swapping = threading.Lock()  # a start briefly shows the version's definition as the machine's

    def start_execution(
        backend: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: Any = None,
    ) -> Any:
        match = _QUALIFIED_ARN.match(state_machine_arn)
        if match is None:
            return original(backend, state_machine_arn, name, execution_input, trace_header)  # type: ignore[arg-type]
        machine = backend.describe_state_machine(match["machine"])
        version, alias_arn = _version_for(machine, match["qualifier"], state_machine_arn)
        with swapping:  # start_execution snapshots the machine's definition: let it snapshot the version's
            current, machine.definition = machine.definition, version.definition
            try:
                execution = original(backend, machine.arn, name, execution_input, trace_header)  # type: ignore[arg-type]
            finally:
                machine.definition = current
        execution.state_machine_version_arn = version.arn  # type: ignore[attr-defined]
        execution.state_machine_alias_arn = alias_arn  # type: ignore[attr-defined]
        return execution

    def describe_execution(response: StepFunctionResponse) -> Any:
        result = original_describe(response)
        execution = response.stepfunction_backend.describe_execution(response._get_param("executionArn"))
        for attribute, field in _EXECUTION_FIELDS:
            if getattr(execution, attribute, None):
                result.result[field] = getattr(execution, attribute)  # type: ignore[index]
        return result

    def describe_state_machine_for_execution(response: StepFunctionResponse) -> Any:
        result = original_definition(response)
        execution = response.stepfunction_backend.describe_execution(response._get_param("executionArn"))
        snapshot = getattr(execution, "state_machine", None)  # what start_execution snapshotted
        ran = getattr(execution, "definition_that_ran", None) or getattr(snapshot, "definition", None)
        if ran is not None:  # (a local redrive's snapshot starts mid-way: it names the definition apart)
            result.result["definition"] = ran  # type: ignore[index]
        return result

    start_execution._runs_qualified_arns = True  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign,assignment]
    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign,assignment]
    StepFunctionResponse.describe_state_machine_for_execution = describe_state_machine_for_execution  # type: ignore[method-assign,assignment]

    def undo() -> None:
        StepFunctionsParserBackend.start_execution = original  # type: ignore[method-assign]
        StepFunctionResponse.describe_execution = original_describe  # type: ignore[method-assign]
        StepFunctionResponse.describe_state_machine_for_execution = original_definition  # type: ignore[method-assign]

    return undo
