"""The failed state an alert names, from an execution history (AWS's GetExecutionHistory shape)."""

from __future__ import annotations

from typing import Any

import pytest

from governed_mlops.domain.outcomes import failed_state


def history(*steps: tuple[str, str | None]) -> list[dict[str, Any]]:
    """Events from (type, state name) pairs; ids count from 1 as in AWS."""
    events: list[dict[str, Any]] = []
    for index, (kind, name) in enumerate(steps, start=1):
        event: dict[str, Any] = {"id": index, "type": kind}
        if kind.endswith("StateEntered"):
            event["stateEnteredEventDetails"] = {"name": name}
        elif kind.endswith("StateExited"):
            event["stateExitedEventDetails"] = {"name": name}
        events.append(event)
    return events


def failing_task(name: str, outcome: str) -> list[tuple[str, str | None]]:
    return [
        ("TaskStateEntered", name),
        ("LambdaFunctionScheduled", None),
        ("LambdaFunctionStarted", None),
        (outcome, None),
        ("TaskStateExited", name),
    ]


@pytest.mark.parametrize("outcome", ["LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed", "TaskTimedOut"])
def test_a_task_that_failed_or_timed_out_and_was_caught_is_the_failed_state(outcome: str) -> None:
    # Given a task caught into the pipeline's Fail state after it failed or timed out
    events = history(
        ("ExecutionStarted", None),
        *failing_task("Train Model", "LambdaFunctionSucceeded"),
        *failing_task("Evaluate Model", outcome),
        ("FailStateEntered", "Pipeline Failed"),
        ("ExecutionFailed", None),
    )

    # Then the alert names the task, not the Fail state
    assert failed_state(events) == "Evaluate Model"


def test_a_fail_state_reached_normally_is_the_failed_state() -> None:
    events = history(
        ("ExecutionStarted", None),
        *failing_task("Record Rejection", "LambdaFunctionSucceeded"),
        ("FailStateEntered", "Model Rejected"),
        ("ExecutionFailed", None),
    )

    assert failed_state(events) == "Model Rejected"
