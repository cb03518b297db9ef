"""TrafficShiftType LINEAR on the parity stack: the state machine's linear update, as SageMaker drives it.

A stack deployed with ``TrafficShiftType=LINEAR`` and ``LinearStepPercent=50`` redeploys a model's
endpoint through "Update Endpoint Linearly": the blue/green update turns on half of the new fleet, bakes,
then all of it, bakes again, and the endpoint serves the new config. The calls are IAM-checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GERMAN_CONFIG
from tests.parity.world import MODEL, World, parity_world

pytestmark = [pytest.mark.parity, pytest.mark.schedule_early]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    linear = {"TrafficShiftType": "LINEAR", "LinearStepPercent": "50"}
    with parity_world(tmp_path_factory.mktemp("parity-linear"), "gm-linear", parameters=linear) as active:
        yield active


def _deployed(world: World, commit: str | None = None) -> dict[str, Any]:
    deliveries = world.push(commit)
    (run,) = deliveries[0].result["runs"]
    status, answer = world.approve(world.approval_link(str(run["execution_arn"])))
    assert status == 200, answer
    described = world.runtime.wait(str(run["execution_arn"]), timeout=300)
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    return described


def test_a_linear_update_shifts_traffic_in_steps_and_serves_the_new_model(world: World) -> None:
    # Given an endpoint serving credit-risk/1
    world.seed_dataset()
    _deployed(world)
    # When a changed configuration (a looser latency limit) is pushed and approved
    changed = GERMAN_CONFIG.read_text().replace("max_latency_ms: 500", "max_latency_ms: 600")
    mark = world.mark()
    second = _deployed(world, world.commit(replace={f"models/{MODEL}/config.yaml": changed.encode()}))

    # Then the update went through the linear state, two 50% steps, and the endpoint serves the new config
    history = world.runtime.history(second["executionArn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "Update Endpoint Linearly" in entered
    assert "Update Endpoint" not in entered
    shifts = [(share, label.split(":")[0]) for endpoint, share, label in world.runtime.sagemaker.hosting.shifts]
    assert shifts == [
        (0.5, "linear step 1/2"),
        (1.0, "linear step 2/2"),
        (1.0, "all traffic on the new fleet, baking before the old fleet is terminated"),
    ]
    endpoint = world.client("sagemaker").describe_endpoint(EndpointName=MODEL)
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", f"{second['name']}-config")
    world.assert_allowed(mark)
