"""Champion and challenger on the parity stack: every AWS call checked against its role's IAM policies.

An identical retrain of the approved champion ends as NoChange (no training, no approval, no new model
package); a new dataset version is trained, the champion's artifact is scored on its hold-out by the
same evaluation job, and the comparison is part of the challenger's lineage before anyone approves it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dataset_variants import reexported
from tests.parity.world import GERMAN_CREDIT, MODEL, World, parity_world

# In file order (the module is shuffled among the others): the identical retrain must meet the champion the fixture
# deployed; after the new-dataset test (seed 2) it met that run's version and waited for an approval instead.
pytestmark = [pytest.mark.parity, pytest.mark.in_file_order, pytest.mark.schedule_early]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with parity_world(tmp_path_factory.mktemp("parity-champion"), "gm-champion") as active:
        yield active
        print("\n" + active.checker.table(active.recorder.calls))


def _started(deliveries: list[Any]) -> str:
    assert [(d.target, d.error_type) for d in deliveries] == [("TriggerFunction", None)], deliveries
    (run,) = deliveries[0].result["runs"]
    assert run["status"] == "started", run
    return str(run["execution_arn"])


def _packages(world: World) -> list[dict[str, Any]]:
    answer = world.client("sagemaker").list_model_packages(ModelPackageGroupName=MODEL, SortBy="CreationTime")
    return list(answer["ModelPackageSummaryList"])


@pytest.fixture(scope="module")
def champion(world: World) -> dict[str, Any]:
    """credit-risk/1: pushed, approved by both approvers (high risk) and deployed."""
    world.seed_dataset()
    execution_arn = _started(world.push())
    status, answer = world.approve(world.approval_link(execution_arn))
    assert status == 200, answer
    described = world.runtime.wait(execution_arn)
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    return described


def test_an_identical_retrain_ends_as_no_change(world: World, champion: dict[str, Any]) -> None:
    # Given the approved champion, When a push retrains it on the same data, job code and configuration
    mark = world.mark()
    execution_arn = _started(world.push())
    described = world.runtime.wait(execution_arn)

    # Then the run succeeds as NoChange naming the champion, with no new model package
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    assert (output["outcome"], output["champion"]) == ("NoChange", f"{MODEL}/1")
    assert [p["ModelPackageVersion"] for p in _packages(world)] == [1]
    history = world.runtime.history(execution_arn)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "Train Model" not in entered
    assert entered[-1] == "No Change"
    world.assert_allowed(mark)


def test_a_new_dataset_version_is_compared_with_the_champion_before_approval(
    world: World, champion: dict[str, Any]
) -> None:
    # Given the approved champion, When the same rows arrive as a new dataset version (new bytes)
    mark = world.mark()
    data = reexported(GERMAN_CREDIT.read_bytes(), 2)
    execution_arn = _started(
        world.runtime.upload(
            world.data_bucket, world.data_key("german_credit_v2.csv"), data, requester=world.stack.account_id
        )
    )
    link = world.approval_link(execution_arn)

    # Then, by the time approval is asked, the challenger's lineage holds the comparison with the champion
    table = world.stack.outputs["ModelRegistryTableName"]
    item = world.client("dynamodb").get_item(TableName=table, Key={"model_version": {"S": f"{MODEL}/2"}})["Item"]
    record = json.loads(item["record"]["S"])
    report = record["reports"]["champion_comparison"]["ref"]
    comparison = json.loads(world.client("s3").get_object(Bucket=report["bucket"], Key=report["key"])["Body"].read())
    assert comparison["verdict"] == "challenger-accepted"
    assert (comparison["champion"], comparison["changed"]) == (f"{MODEL}/1", ["data"])
    assert comparison["metrics"]["champion"]["auc"] == comparison["metrics"]["challenger"]["auc"]
    assert comparison["auc"]["rows"] == comparison["hold_out_rows"]
    history = world.runtime.history(execution_arn)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered.index("Evaluate Champion") < entered.index("Check Champion Gate") < entered.index("Register Model")

    # And a rejection ends it as before (the champion keeps the endpoint)
    status, answer = world.decide(link, "carol.approver", "reject", "comparison reviewed; not needed")
    assert status == 200, answer
    assert world.runtime.wait(execution_arn)["status"] == "FAILED"
    world.assert_allowed(mark)
