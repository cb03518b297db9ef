"""Read-only, server-rendered pages for on-call staff: pipeline executions and their histories.

``history_view`` reads Step Functions shapes (DescribeExecution, GetExecutionHistory, the ASL
definition) into what happened to each state and why a run failed; ``graph_layout`` places the
state graph's boxes and lines; ``render`` turns both into HTML (with ``style``'s stylesheet), all
with no I/O. ``server`` routes requests to ``render`` from any execution source (the local
:class:`~governed_mlops_local.executions.ExecutionStore` or AWS through
:class:`~governed_mlops.adapters.execution_history.StepFunctionsHistory`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded on first use: the incident logic (governed_mlops_local.incident) reads history_view, and render
# reads the incident logic, so importing render here would make importing the incident logic circular.
_EXPORTS = {
    "layout_states": "graph_layout",
    "Failure": "history_view",
    "StateOutcome": "history_view",
    "describe_failure": "history_view",
    "state_outcomes": "history_view",
    "render_execution": "render",
    "render_executions": "render",
}

__all__ = [
    "Failure",
    "StateOutcome",
    "describe_failure",
    "layout_states",
    "render_execution",
    "render_executions",
    "state_outcomes",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
