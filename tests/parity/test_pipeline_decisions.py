"""The pipeline paths that end in a person's decision, its absence or a redrive, on the parity stack.

A rejected run, a drift run rejected, a run nobody decides before the approval wait ends, and a failed
run redriven to approval: each end to end through the deployed rules, functions, state machine and
SageMaker integrations, every AWS call checked against the role that made it. (Their own module and
world, apart from tests/parity/test_pipeline_paths.py, so that a two-worker run takes the two at once:
together they were the parity tier's longest module by minutes.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dataset_variants import reexported
from tests.parity.paths import approved_and_deployed, started
from tests.parity.world import GERMAN_CREDIT, MODEL, World, parity_world

pytestmark = [pytest.mark.parity, pytest.mark.schedule_early]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with parity_world(tmp_path_factory.mktemp("parity-decisions"), "gm-decide") as active:
        yield active
        # The per-role table of every call the module's paths made (all permitted, or a test failed).
        print("\n" + active.checker.table(active.recorder.calls))


def test_rejection_marks_the_version_rejected_and_deploys_nothing(world: World) -> None:
    # Given a dataset and the endpoint as it is now
    world.seed_dataset(reexported(GERMAN_CREDIT.read_bytes(), 2))
    sagemaker = world.client("sagemaker")
    endpoint_name = MODEL
    before = sagemaker.list_endpoints()["Endpoints"]
    serving = (
        sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
        if any(e["EndpointName"] == endpoint_name for e in before)
        else None
    )
    mark = world.mark()

    # When a push starts a run and the approver rejects it
    world.messages(world.alert_queue)  # drain earlier messages
    execution_arn = started(world.push())
    status, answer = world.decide(
        world.approval_link(execution_arn), "carol.approver", "reject", "AUC too low for retail"
    )
    described = world.runtime.wait(execution_arn)

    # Then the run ends as rejected, the version is Rejected and the endpoint is unchanged
    assert status == 200, answer
    assert described["status"] == "FAILED"
    assert described.get("error") == "ModelRejected" or "Rejected" in str(described.get("error")), described
    group = MODEL
    newest = sagemaker.list_model_packages(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending", MaxResults=1
    )["ModelPackageSummaryList"][0]
    assert newest["ModelApprovalStatus"] == "Rejected"
    if serving is not None:
        assert sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"] == serving
    # And a person's decision notifies the owners without paging on-call
    (message,) = [m for m in world.messages(world.alert_queue, wait=10) if described["name"] in m["Message"]]
    attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    assert (attributes["kind"], attributes["outcome"]) == ("notification", "human_decision")
    world.assert_allowed(mark)


def test_drift_event_for_the_endpoint_starts_a_retraining_run(world: World) -> None:
    # Given a dataset and the stack's endpoint name
    world.seed_dataset(reexported(GERMAN_CREDIT.read_bytes(), 3))
    mark = world.mark()
    endpoint = MODEL

    # When the monitor reports drift on that endpoint
    event = world.runtime.bus.event(
        "governed-mlops.monitoring",
        "Model Drift Detected",
        {
            "endpoint_name": endpoint,
            "model_version": f"{MODEL}/1",
            "violations_report": f"s3://{world.artifacts_bucket}/monitoring/{endpoint}/mon-1/constraint_violations.json",
            "drifted_features": ["age_in_years"],
            "monitoring_run_id": "mon-20261204T120000000Z-parity01",
        },
        [f"arn:aws:sagemaker:{world.stack.region}:{world.stack.account_id}:endpoint/{endpoint}"],
    )
    execution_arn = started(world.runtime.bus.put(event))

    # Then a retraining run starts and asks for approval (rejected here to end it)
    status, _ = world.decide(world.approval_link(execution_arn), "dave.risk", "reject", "drift run not needed")
    described = world.runtime.wait(execution_arn)
    assert status == 200
    assert described["status"] == "FAILED"
    world.assert_allowed(mark)


def test_redrive_of_a_failed_execution_continues_at_the_failed_state(world: World) -> None:
    # Given a run whose training job SageMaker refused (an account quota, not retried by the ASL)
    from click.testing import CliRunner

    from governed_mlops_local.cli import main

    world.seed_dataset(reexported(GERMAN_CREDIT.read_bytes(), 4))
    mark = world.mark()
    world.runtime.sagemaker.faults["CreateTrainingJob"] = ("ResourceLimitExceeded", "training instance quota reached")
    execution_arn = started(world.push())
    failed = world.runtime.wait(execution_arn)
    assert failed["status"] == "FAILED", failed

    # When on-call redrives it with the CLI against AWS (RedriveExecution)
    result = CliRunner().invoke(
        main, ["redrive", failed["name"], "--aws", "--region", world.stack.region], catch_exceptions=False
    )

    # Then the same execution continues at Train Model, asks for approval again and succeeds
    assert result.exit_code == 0, result.output
    world.runtime.wait(execution_arn, until={"RUNNING"})
    described = approved_and_deployed(world, execution_arn)
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    history = world.runtime.history(execution_arn)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered[0] == "Train Model"
    assert "Validate Data" not in entered
    world.assert_allowed(mark)


def test_approval_timeout_expires_the_request_and_deploys_nothing(world: World) -> None:
    # Given a run waiting for approval (the stack's approval wait is the template minimum, 60 s)
    world.seed_dataset(reexported(GERMAN_CREDIT.read_bytes(), 5))
    mark = world.mark()
    execution_arn = started(world.push())
    link = world.approval_link(execution_arn)

    # When nobody decides before the wait ends
    described = world.runtime.wait(execution_arn, timeout=150)

    # Then the run ends as expired, the version is Rejected, and the link no longer decides anything
    assert described["status"] == "FAILED", described
    assert "Expired" in str(described.get("error")), described
    status, answer = world.decide(link, "carol.approver", "approve")
    assert status in {403, 409}, answer
    world.assert_allowed(mark)
