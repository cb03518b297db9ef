"""The deployed stack answers: its training pipeline exists and its executions can be listed."""

from __future__ import annotations

import os
from typing import Any


def test_training_pipeline_is_deployed_and_lists_executions(stack_outputs: dict[str, str], sfn: Any) -> None:
    # Given the stack named by MLOPS_STACK_NAME
    arn = stack_outputs["TrainingPipelineArn"]

    # When its state machine is described and its executions listed
    machine = sfn.describe_state_machine(stateMachineArn=arn)
    executions = sfn.list_executions(stateMachineArn=arn, maxResults=20)["executions"]

    # Then it is the stack's pipeline, active, logging everything, and every execution belongs to it
    assert machine["name"] == f"{os.environ['MLOPS_STACK_NAME']}-training-pipeline"
    assert machine["status"] == "ACTIVE"
    assert machine["loggingConfiguration"]["level"] == "ALL"
    assert machine["tracingConfiguration"]["enabled"] is True
    assert all(e["stateMachineArn"] == arn for e in executions)
