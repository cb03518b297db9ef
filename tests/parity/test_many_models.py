"""Many models on one parity stack: each model its own data prefix, config, endpoint, registry group and alarms.

The release step published both model projects of this checkout (``credit-risk``, high risk, and
``synthetic-lending``, medium risk). A dataset arriving under ``datasets/synthetic-lending/`` runs
that model with its configuration, asks one approver, and deploys its own endpoint with its own
rollback alarms; nothing of ``credit-risk`` is created or touched. A push that changed only
``models/synthetic-lending/`` retrains only that model. Every AWS call is checked against the IAM
policies of the role that made it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from governed_mlops.domain.trigger import upload_evidence_key
from tests.parity.world import PROJECT_DIR, World, parity_world

# In file order (the module is shuffled among the others): its tests are steps on one world. The first ones check
# that synthetic-lending's upload deployed that model alone (no credit-risk endpoint, group or alarms; version 1),
# which the later pushes that retrain credit-risk then change (seed 2 put one of them first).
pytestmark = [pytest.mark.parity, pytest.mark.in_file_order, pytest.mark.schedule_early]

LENDING = "synthetic-lending"
LENDING_DATA = PROJECT_DIR / "data" / "synthetic_lending" / "synthetic_lending.csv"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with parity_world(tmp_path_factory.mktemp("parity-models"), "gm-models") as active:
        yield active
        print("\n" + active.checker.table(active.recorder.calls))


def _runs(deliveries: list[Any]) -> list[dict[str, Any]]:
    assert [(d.target, d.error_type) for d in deliveries] == [("TriggerFunction", None)], deliveries
    return list(deliveries[0].result["runs"])


@pytest.fixture(scope="module")
def lending_deployed(world: World) -> tuple[dict[str, Any], int]:
    """synthetic-lending's dataset uploaded, its run approved and deployed.

    The tier (medium) needs one approver; but an S3 upload's requester is an account, not a person,
    so segregation of duties cannot tell who caused the run: four-eyes, two distinct approvers.
    """
    mark = world.mark()
    deliveries = world.runtime.upload(
        world.data_bucket,
        world.data_key("synthetic_lending.csv", model=LENDING),
        LENDING_DATA.read_bytes(),
        requester=world.stack.account_id,
    )
    (run,) = _runs(deliveries)
    assert (run["model"], run["status"]) == (LENDING, "started")
    link = world.approval_link(run["execution_arn"])
    status, page = world.view(link, "carol.approver")
    assert status == 200, page
    approval = page["approval"]
    assert (approval["risk_tier"], approval["approvals_required"], approval["originator"]) == ("medium", 2, None)
    assert "an AWS account, not a person" in approval["originator_evidence"]
    status, answer = world.decide(link, "carol.approver", "approve")
    assert status == 202, answer
    status, answer = world.decide(link, "dave.risk", "approve")
    assert status == 200, answer
    return world.runtime.wait(run["execution_arn"]), mark


def test_a_dataset_under_a_models_prefix_runs_that_model_to_its_own_endpoint(
    world: World, lending_deployed: tuple[dict[str, Any], int]
) -> None:
    described, mark = lending_deployed
    sagemaker = world.client("sagemaker")

    # Then the run succeeded after its two approvals and deployed synthetic-lending's endpoint
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    endpoint = sagemaker.describe_endpoint(EndpointName=LENDING)
    assert endpoint["EndpointConfigName"] == f"{described['name']}-config"
    # registered in its own group, with the lineage of its own configuration
    packages = sagemaker.list_model_packages(ModelPackageGroupName=LENDING)["ModelPackageSummaryList"]
    assert [p["ModelApprovalStatus"] for p in packages] == ["Approved"]
    # and credit-risk has neither an endpoint nor a registry group
    assert [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]] == [LENDING]
    groups = [g["ModelPackageGroupName"] for g in sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]]
    assert groups == [LENDING]
    world.assert_allowed(mark)


def test_the_model_gets_its_own_canary_alarms_with_its_limits(
    world: World, lending_deployed: tuple[dict[str, Any], int]
) -> None:
    alarms = world.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{LENDING}-canary-")["MetricAlarms"]

    by_name = {a["AlarmName"]: a for a in alarms}
    assert sorted(by_name) == [f"{LENDING}-canary-5xx", f"{LENDING}-canary-behaviour", f"{LENDING}-canary-latency-p99"]
    latency = by_name[f"{LENDING}-canary-latency-p99"]
    assert latency["Threshold"] == 500_000  # models/synthetic-lending: 500 ms, in CloudWatch's microseconds
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]}["EndpointName"] == LENDING
    behaviour = by_name[f"{LENDING}-canary-behaviour"]
    expression = next(m["Expression"] for m in behaviour["Metrics"] if m["Id"] == "outside")
    # the project's canary band, judged once the new version predicted CanaryMinRows (20) rows in a minute
    assert expression == "IF(rows >= 20 AND (positives / rows < 0.4 OR positives / rows > 0.99), 1, 0)"
    dimensions = {
        d["Name"]: d["Value"]
        for m in behaviour["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
    }
    assert dimensions == {"EndpointName": LENDING, "ModelVersion": f"{LENDING}/1"}
    assert not world.client("cloudwatch").describe_alarms(AlarmNamePrefix="credit-risk-")["MetricAlarms"]


def _no_change(world: World, run: dict[str, Any]) -> None:
    """synthetic-lending's approved version was trained on this data, job code and configuration (the pushed
    commit packs to the same job code and holds the same configuration): its retrain ends as NoChange."""
    described = world.runtime.wait(run["execution_arn"])
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    assert (output["outcome"], output["champion"]) == ("NoChange", f"{LENDING}/1")


def _reject(world: World, run: dict[str, Any], approver: str, reason: str) -> None:
    status, answer = world.decide(world.approval_link(run["execution_arn"]), approver, "reject", reason)
    assert status == 200, answer
    assert world.runtime.wait(run["execution_arn"])["status"] == "FAILED"


def test_a_push_that_changed_one_project_retrains_only_that_model(
    world: World, lending_deployed: tuple[dict[str, Any], int]
) -> None:
    # Given both models have data, and main's head is a first commit
    world.seed_dataset()
    first = world.push()
    for run in _runs(first):
        if run["model"] == LENDING:
            _no_change(world, run)
        else:
            _reject(world, run, "carol.approver", "setup")
    mark = world.mark()

    # When a commit changing only models/synthetic-lending/config.yaml is pushed
    config = f"models/{LENDING}/config.yaml"
    runs = _runs(world.push(world.commit(append={config: "# reviewed"})))

    # Then only synthetic-lending retrains (GetDifferences read with the trigger's own role), on the commit's
    # configuration: its bytes are not the champion's, so it is a new version that needs a decision
    assert [(run["model"], run["status"]) for run in runs] == [(LENDING, "started")]
    _reject(world, runs[0], "carol.approver", "a comment only")
    # And a commit restoring the champion's configuration retrains nothing new (No Change)
    (restored,) = _runs(world.push(world.commit(replace={config: (PROJECT_DIR / config).read_bytes()})))
    _no_change(world, restored)
    world.assert_allowed(mark)


def test_a_push_that_changed_files_outside_the_model_projects_retrains_every_model_with_data(
    world: World, lending_deployed: tuple[dict[str, Any], int]
) -> None:
    world.seed_dataset()
    mark = world.mark()

    runs = _runs(world.push())  # a commit changing NOTES.md: outside models/, job code unchanged

    assert sorted(run["model"] for run in runs) == ["credit-risk", LENDING]
    for run in runs:
        if run["model"] == LENDING:
            _no_change(world, run)
        else:  # credit-risk has no approved version: a first version, asked for approval
            _reject(world, run, "carol.approver", "n/a")
    world.assert_allowed(mark)


def test_a_dataset_for_an_unknown_model_is_refused_by_name(world: World) -> None:
    key = world.data_key("x.csv", model="no-such-model")
    try:
        (delivery,) = world.runtime.upload(world.data_bucket, key, b"a,b\n1,2\n", requester=world.stack.account_id)
    finally:
        world.remove_object(world.data_bucket, key)

    assert delivery.error_type == "UnknownModelError", delivery
    assert "no-such-model" in str(delivery.error)
    assert "credit-risk" in str(delivery.error)
    assert LENDING in str(delivery.error)


def test_an_uploads_cloudtrail_event_records_the_uploader_under_the_triggers_own_role(world: World) -> None:
    account = world.stack.account_id
    erin = {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{account}:assumed-role/AWSReservedSSO_DataScience_0123456789abcdef/erin.engineer",
        "accountId": account,
    }
    key = world.data_key("x.csv", model="no-such-model")  # no run starts: only the upload is recorded
    before, mark = len(world.runtime.trail_deliveries), world.mark()
    try:
        world.runtime.upload(world.data_bucket, key, b"a,b\n1,2\n", requester=account, identity=erin)
    finally:
        world.remove_object(world.data_bucket, key)

    # CloudTrail's data event reached the trigger, which kept who signed the PutObject in the audit bucket
    (recorded,) = world.runtime.trail_deliveries[before:]
    assert (recorded.target, recorded.error_type) == ("TriggerFunction", None), recorded
    pinned = recorded.result["recorded_upload"]
    version = pinned.split("?versionId=", 1)[1]
    evidence_key = upload_evidence_key(world.data_bucket, key, version)
    body = world.client("s3").get_object(Bucket=world.stack.ref("AuditBucket"), Key=evidence_key)["Body"].read()
    assert (json.loads(body)["person"], json.loads(body)["version_id"]) == ("erin.engineer", version)
    world.assert_allowed(mark)


def test_a_push_under_a_role_session_named_after_an_approver_does_not_make_them_its_originator(world: World) -> None:
    # Given a push made through an assumed role whose session name the caller chose: an approver's name
    world.seed_dataset()
    mark = world.mark()
    imitated = "arn:aws:sts::{account}:assumed-role/EngineerRole/carol.approver"
    runs = _runs(world.push(pusher_arn=imitated))  # a commit changing NOTES.md: every model with data retrains
    (run,) = [run for run in runs if run["model"] == "credit-risk"]

    # Then the approval names no person as the run's cause, says why, and asks two distinct approvers
    status, page = world.view(world.approval_link(run["execution_arn"]), "dave.risk")
    assert status == 200, page
    approval = page["approval"]
    assert approval["originator"] is None
    assert "session name 'carol.approver' is chosen by the caller" in approval["originator_evidence"]
    assert approval["approvals_required"] == 2
    _reject(world, run, "dave.risk", "segregation-of-duties check")
    for other in runs:
        if other["model"] == LENDING:
            _no_change(world, other)
    world.assert_allowed(mark)
