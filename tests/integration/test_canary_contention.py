"""Many executions, one endpoint: a deployment waits for a busy endpoint, and never replaces a newer model.

One runtime for the module, with a first deployment done; each test then drives one or two more
executions through approval at the moment it chooses, while the endpoint is made busy directly
through the hosting emulator (an update of its own) or the UpdateEndpoint integration is made to
answer as SageMaker does when another update got there first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local.approval_client import decide
from governed_mlops_local.endpoints import UPDATE_ENDPOINT_RESOURCE
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_local.sagemaker import SageMakerError, local_function_arn
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR, auto_approver
from tests.dataset_variants import reexported
from tests.waiting import until

pytestmark = pytest.mark.slow

#: credit-risk is high risk: a deployment needs two distinct approvers.
APPROVERS = ("carol.approver", "dave.risk")
UPDATE_ARN = local_function_arn(UPDATE_ENDPOINT_RESOURCE)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    """A runtime whose endpoint already serves a first approved model."""
    with LocalRuntime(PROJECT_DIR, tmp_path_factory.mktemp("contention") / "data") as started:
        (first,) = started.wait(
            [_start(started, "datasets/credit-risk/first.csv")], on_tick=auto_approver(started), timeout=600
        )
        assert first["status"] == "SUCCEEDED", first.get("cause")
        yield started


@pytest.fixture
def update_endpoint(runtime: LocalRuntime) -> Iterator[Callable[[Callable[[dict[str, Any]], Any]], None]]:
    """Replace the UpdateEndpoint integration for one test (the real one is restored afterwards)."""
    real = runtime.hosting.update_endpoint

    def replace(function: Callable[[dict[str, Any]], Any]) -> None:
        runtime.host.add_local_function(UPDATE_ARN, function)

    yield replace
    runtime.host.add_local_function(UPDATE_ARN, real)


#: Each upload is a new version of the dataset (same rows, new bytes): an identical retrain of the
#: approved model would end as NoChange before reaching the endpoint these tests are about.
_VARIANTS = {"first": 0, "busy": 1, "race": 2, "refused": 3, "older": 4, "newer": 5}


def _start(runtime: LocalRuntime, key: str) -> str:
    """Upload the dataset under ``key``: one new execution; its ARN."""
    variant = _VARIANTS[key.rsplit("/", 1)[-1].removesuffix(".csv")]
    data = GERMAN_CREDIT.read_bytes()
    _, deliveries = runtime.upload(reexported(data, variant) if variant else data, key)
    assert [d.error for d in deliveries] == [None]
    result = deliveries[0].result
    assert result is not None
    (run,) = result["runs"]
    return str(run["execution_arn"])


def _name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _approve_when_requested(runtime: LocalRuntime, name: str, timeout: float = 300) -> None:
    """Wait until the execution asks for approval, then approve it."""
    message = _wait_for_request(runtime, name, timeout)
    for approver in APPROVERS:
        answer = decide(message["attributes"]["link"], approver, "approve", "contention test")
        if answer.get("status") != "pending":
            return
    raise AssertionError(f"{name} still pending after {APPROVERS}: {answer}")


def _wait_for_request(runtime: LocalRuntime, name: str, timeout: float = 300) -> dict[str, Any]:
    """The approval request ``name`` sent (its outbox message)."""
    request: dict[str, Any] = until(
        lambda: next((m for m in read_outbox(runtime.data_dir) if name in m.get("message", "")), None),
        timeout,
        f"{name} to ask for approval",
    )
    return request


def _states(runtime: LocalRuntime, name: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in runtime.executions.history(name)
        if e["type"].endswith("StateEntered")
    ]


def _endpoint(runtime: LocalRuntime) -> dict[str, Any]:
    return runtime.hosting.describe_endpoint("credit-risk")


def _start_other_update(runtime: LocalRuntime, tag: str) -> None:
    """Another deployment in progress: the endpoint goes Updating for a few seconds (bake time scaled)."""
    endpoint = _endpoint(runtime)
    current = runtime.hosting.describe_endpoint_config(endpoint["EndpointConfigName"])
    config = f"other-{tag}-config"
    runtime.hosting.create_endpoint_config(
        {"EndpointConfigName": config, "ProductionVariants": current["ProductionVariants"]}
    )
    runtime.hosting.update_endpoint(
        {
            "EndpointName": endpoint["EndpointName"],
            "EndpointConfigName": config,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 12}
                }
            },
        }
    )
    assert _endpoint(runtime)["EndpointStatus"] == "Updating"


def _finish(runtime: LocalRuntime, arn: str) -> dict[str, Any]:
    (result,) = runtime.wait([arn], timeout=600)
    return result


def test_an_approval_during_another_deployment_waits_for_the_endpoint_then_deploys(runtime: LocalRuntime) -> None:
    # Given an execution waiting for approval
    arn = _start(runtime, "datasets/credit-risk/busy.csv")
    name = _name(arn)
    _wait_for_request(runtime, name)

    # When it is approved while another deployment is updating the endpoint
    _start_other_update(runtime, "busy")
    _approve_when_requested(runtime, name)
    result = _finish(runtime, arn)

    # Then it waited for the endpoint instead of failing, and its model serves in the end
    assert result["status"] == "SUCCEEDED", result.get("cause")
    states = _states(runtime, name)
    assert "Wait for Free Endpoint" in states
    assert states.index("Wait for Free Endpoint") < states.index("Update Endpoint")
    assert _endpoint(runtime)["EndpointConfigName"] == f"{name}-config"


def test_an_update_refused_because_another_got_there_first_is_retried(
    runtime: LocalRuntime, update_endpoint: Callable[[Callable[[dict[str, Any]], Any]], None]
) -> None:
    # Given UpdateEndpoint loses the race once: another update starts between "Find Endpoint" and it
    real = runtime.hosting.update_endpoint
    calls: list[str] = []

    def lose_the_race_once(request: dict[str, Any]) -> Any:
        calls.append(request["EndpointConfigName"])
        if len(calls) == 1:
            _start_other_update(runtime, "race")
        return real(request)

    update_endpoint(lose_the_race_once)

    # When an approved execution deploys
    arn = _start(runtime, "datasets/credit-risk/race.csv")
    name = _name(arn)
    _approve_when_requested(runtime, name)
    result = _finish(runtime, arn)

    # Then SageMaker's "in-progress endpoint" refusal sent it to wait and retry, and it deployed
    assert result["status"] == "SUCCEEDED", result.get("cause")
    states = _states(runtime, name)
    assert states.count("Update Endpoint") == 2
    assert states.index("Check Endpoint Conflict") < states.index("Wait for Free Endpoint")
    assert calls == [f"{name}-config", f"{name}-config"]
    assert _endpoint(runtime)["EndpointConfigName"] == f"{name}-config"


def test_any_other_update_refusal_fails_the_run_with_that_error(
    runtime: LocalRuntime, update_endpoint: Callable[[Callable[[dict[str, Any]], Any]], None]
) -> None:
    # Given UpdateEndpoint refuses the request for a reason that waiting does not fix
    def refuse(request: dict[str, Any]) -> Any:
        raise SageMakerError("SageMaker.ValidationException", f"Could not find model for {request['EndpointName']}")

    update_endpoint(refuse)
    serving = _endpoint(runtime)["EndpointConfigName"]

    # When an approved execution deploys
    arn = _start(runtime, "datasets/credit-risk/refused.csv")
    name = _name(arn)
    _approve_when_requested(runtime, name)
    result = _finish(runtime, arn)

    # Then the run fails at once with SageMaker's error, and the endpoint is untouched
    assert result["status"] == "FAILED"
    assert result["error"] == "SageMaker.ValidationException"
    assert "Could not find model" in result["cause"]
    assert _states(runtime, name)[-2:] == ["Check Endpoint Conflict", "Pipeline Failed"]
    assert _endpoint(runtime)["EndpointConfigName"] == serving


def test_an_older_approval_is_superseded_by_a_newer_approved_version(runtime: LocalRuntime) -> None:
    # Given two registered versions waiting for approval, the older registered first
    older_arn = _start(runtime, "datasets/credit-risk/older.csv")
    older = _name(older_arn)
    _wait_for_request(runtime, older)
    newer_arn = _start(runtime, "datasets/credit-risk/newer.csv")
    newer = _name(newer_arn)
    _wait_for_request(runtime, newer)

    # When the newer one is approved and deployed first, and the older one is approved afterwards
    _approve_when_requested(runtime, newer)
    assert _finish(runtime, newer_arn)["status"] == "SUCCEEDED"
    _approve_when_requested(runtime, older)
    result = _finish(runtime, older_arn)

    # Then the older one is not deployed over the newer one: recorded as superseded, run succeeded
    assert result["status"] == "SUCCEEDED", result.get("cause")
    states = _states(runtime, older)
    assert "Record Superseded Deployment" in states
    assert "Update Endpoint" not in states
    assert _endpoint(runtime)["EndpointConfigName"] == f"{newer}-config"
    records = {v.execution_name: v for v in LocalModelRegistry(runtime.data_dir).list_versions()}
    (deployment,) = records[older].deployments
    assert deployment["status"] == "Superseded"
    assert deployment["superseded_by"] == records[newer].model_version
