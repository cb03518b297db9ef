"""State machine ARNs with and without a qualifier (the trigger starts the pipeline's "live" alias)."""

from __future__ import annotations

import pytest

from governed_mlops.adapters.execution_history import execution_arn_for, unqualified_state_machine_arn

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:gm-training-pipeline"


@pytest.mark.parametrize("arn", [MACHINE, f"{MACHINE}:live", f"{MACHINE}:12"])
def test_an_alias_or_version_arn_names_its_machine(arn: str) -> None:
    assert unqualified_state_machine_arn(arn) == MACHINE


@pytest.mark.parametrize("arn", [MACHINE, f"{MACHINE}:live"])
def test_executions_started_through_an_alias_belong_to_the_machine(arn: str) -> None:
    assert (
        execution_arn_for(arn, "data-1")
        == "arn:aws:states:eu-west-1:123456789012:execution:gm-training-pipeline:data-1"
    )


def test_an_arn_that_is_not_a_state_machine_is_left_alone() -> None:
    other = "arn:aws:lambda:eu-west-1:123456789012:function:f"
    assert unqualified_state_machine_arn(other) == other
