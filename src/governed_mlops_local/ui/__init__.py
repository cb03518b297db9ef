"""Read-only, server-rendered pages for on-call staff: pipeline executions and their histories.

``history_view`` reads Step Functions shapes (DescribeExecution, GetExecutionHistory, the ASL
definition) into what happened to each state and why a run failed; ``graph_layout`` places the
state graph's boxes and lines; ``render`` turns both into HTML (with ``style``'s stylesheet), all
with no I/O. ``server`` routes requests to ``render`` from any execution source (the local
:class:`~governed_mlops_local.executions.ExecutionStore` or AWS through
:class:`~governed_mlops.adapters.execution_history.StepFunctionsHistory`).
"""

from governed_mlops_local.ui.graph_layout import layout_states
from governed_mlops_local.ui.history_view import Failure, StateOutcome, describe_failure, state_outcomes
from governed_mlops_local.ui.render import render_execution, render_executions

__all__ = [
    "Failure",
    "StateOutcome",
    "describe_failure",
    "layout_states",
    "render_execution",
    "render_executions",
    "state_outcomes",
]
