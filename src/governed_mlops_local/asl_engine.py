"""Fidelity fixes for moto's Step Functions interpreter (LocalStack's ASL engine), one patch each.

Each ``install_*`` function patches moto in place and returns the undo function; installing twice
is harmless (the second install changes nothing and its undo does nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from moto.stepfunctions.parser.asl.component.common.error_name import custom_error_name
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.state.fail import state_fail

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
