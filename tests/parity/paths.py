"""Steps the pipeline-path modules share (tests/parity/test_pipeline_paths.py, test_pipeline_decisions.py)."""

from __future__ import annotations

from typing import Any

from tests.parity.world import World


def started(deliveries: list[Any], target: str = "TriggerFunction") -> str:
    """The execution the trigger started (exactly one delivery, no error)."""
    assert [(d.target, d.error_type) for d in deliveries] == [(target, None)], deliveries
    (run,) = deliveries[0].result["runs"]
    assert run["status"] == "started", run
    return str(run["execution_arn"])


def approved_and_deployed(
    world: World, execution_arn: str, approvers: tuple[str, ...] = ("carol.approver", "dave.risk")
) -> dict[str, Any]:
    """credit-risk is high risk: the first approver's approval waits (202) for the second's (200)."""
    link = world.approval_link(execution_arn)
    first, answer = world.decide(link, approvers[0], "approve")
    assert first == 202, answer
    assert world.runtime.sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    second, answer = world.decide(link, approvers[1], "approve")
    assert second == 200, answer
    return world.runtime.wait(execution_arn)
