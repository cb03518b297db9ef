"""Read-only, server-rendered pages for on-call staff: pipeline executions and their histories.

``pages`` turns Step Functions shapes (ListExecutions, DescribeExecution, GetExecutionHistory, the
ASL definition) into HTML with no I/O; ``server`` routes requests to it from any execution source
(the local :class:`~governed_mlops_local.executions.ExecutionStore` or AWS through
:class:`~governed_mlops.adapters.execution_history.StepFunctionsHistory`).
"""

from governed_mlops_local.ui.pages import (
    Failure,
    StateOutcome,
    describe_failure,
    layout_states,
    render_execution,
    render_executions,
    state_outcomes,
)

__all__ = [
    "Failure",
    "StateOutcome",
    "describe_failure",
    "layout_states",
    "render_execution",
    "render_executions",
    "state_outcomes",
]
