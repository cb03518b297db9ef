"""How a blue/green update shifts traffic (governed_mlops_local.endpoints.deployment.traffic_plan) and how a
request picks its fleet and variant (governed_mlops_local.endpoints.routing.TrafficRouter), without hosting."""

from __future__ import annotations

from typing import Any

import pytest

from governed_mlops_local.endpoints.deployment import TrafficStep, traffic_plan
from governed_mlops_local.endpoints.routing import TrafficRouter
from governed_mlops_local.sagemaker import SageMakerError


def policy(routing: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"TrafficRoutingConfiguration": {"WaitIntervalInSeconds": 60, **routing}, **extra}


def test_without_a_policy_all_traffic_moves_at_once_without_baking() -> None:
    assert traffic_plan(None, 2) == [TrafficStep(1.0, 0.0, "all traffic on the new fleet")]


def test_a_canary_bakes_its_share_then_the_whole_fleet() -> None:
    canary = policy(
        {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}}, TerminationWaitInSeconds=30
    )
    steps = traffic_plan(canary, 4)
    assert [(s.fraction, s.bake_seconds) for s in steps] == [(0.25, 60.0), (1.0, 30.0)]
    assert steps[0].label == "canary: 25% of traffic on the new fleet"


def test_linear_steps_by_instance_count_reach_the_whole_fleet() -> None:
    linear = policy({"Type": "LINEAR", "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1}})
    steps = traffic_plan(linear, 3)
    assert [round(s.fraction, 4) for s in steps] == [0.3333, 0.6667, 1.0, 1.0]
    assert steps[1].label == "linear step 2/3: 67% of traffic"


def test_a_canary_over_half_the_fleet_is_refused() -> None:
    canary = policy({"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 3}})
    with pytest.raises(SageMakerError, match="is 75% of the new fleet"):
        traffic_plan(canary, 4)


def test_a_timeout_shorter_than_the_bakes_is_refused() -> None:
    canary = policy(
        {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
        TerminationWaitInSeconds=60,
        MaximumExecutionTimeoutInSeconds=120,
    )
    with pytest.raises(SageMakerError, match=r"must be larger than the total waiting time \(120 s"):
        traffic_plan(canary, 1)


def test_without_a_deployment_every_request_goes_to_the_serving_fleet() -> None:
    router = TrafficRouter(seed=1)
    state = {"EndpointConfigName": "blue"}
    assert {router.fleet(state) for _ in range(50)} == {"blue"}


def test_a_canary_share_sends_about_that_share_to_green() -> None:
    router = TrafficRouter(seed=1)
    state = {"EndpointConfigName": "blue", "Deployment": {"EndpointConfigName": "green", "GreenTraffic": 0.2}}
    green = sum(router.fleet(state) == "green" for _ in range(2000))
    assert 300 < green < 500


def test_variants_are_picked_by_weight_and_repeatably_for_a_seed() -> None:
    config = {
        "ProductionVariants": [
            {"VariantName": "a", "InitialVariantWeight": 3.0},
            {"VariantName": "b", "InitialVariantWeight": 1.0},
        ]
    }
    first, second = TrafficRouter(seed=5), TrafficRouter(seed=5)
    assert [first.variant(config)["VariantName"] for _ in range(20)] == [
        second.variant(config)["VariantName"] for _ in range(20)
    ]
    router = TrafficRouter(seed=5)
    counts = {"a": 0, "b": 0}
    for _ in range(2000):
        counts[router.variant(config)["VariantName"]] += 1
    assert 1350 < counts["a"] < 1650
