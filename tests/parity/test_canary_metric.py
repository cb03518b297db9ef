"""The canary watches the model in AWS: the behaviour metric comes from the inference code's own log lines.

On the parity stack the deployed model serves InvokeEndpoint from its archive's code; its stdout lands in
the endpoint's log group, the metric filters the pipeline put turn the lines into GovernedMLOps metrics,
and the behaviour alarm reads them. A model whose favourable label was flipped approves far fewer
applicants than the band allows: its alarm goes to ALARM during the canary, SageMaker's blue/green update
rolls back, and the run ends DeploymentRolledBack with the version's deployment recorded as RolledBack.
Every call of the functions, the state machine and the model's role is checked against its IAM policies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from governed_mlops_ml.artifacts import read_dataset
from tests.conftest import GERMAN_CONFIG
from tests.parity.world import GERMAN_CREDIT, MODEL, World, parity_world
from tests.waiting import within

# In file order (the module is shuffled among the others): the flipped model's canary is judged against the
# behaviour metrics the first test's requests put on the deployed version; shuffled (seed 2) it did not roll back.
pytestmark = [pytest.mark.parity, pytest.mark.in_file_order, pytest.mark.schedule_early]

ENDPOINT = MODEL  # models/credit-risk: the endpoint is named after the model


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with parity_world(tmp_path_factory.mktemp("parity-canary"), "gm-canary") as active:
        yield active


def _started(deliveries: list[Any]) -> str:
    assert [(d.target, d.error_type) for d in deliveries] == [("TriggerFunction", None)], deliveries
    (run,) = deliveries[0].result["runs"]
    assert run["status"] == "started", run
    return str(run["execution_arn"])


def _body(rows: range) -> bytes:
    frame = read_dataset(GERMAN_CREDIT)
    features = [c for c in frame.columns if c != "creditability"]
    return json.dumps({"instances": [{n: str(frame.iloc[r][n]) for n in features} for r in rows]}).encode()


def _invoke(world: World, body: bytes) -> dict[str, Any]:
    answer = world.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=ENDPOINT, Body=body, ContentType="application/json", Accept="application/json"
    )
    return {"variant": answer.get("InvokedProductionVariant"), "body": json.loads(answer["Body"].read())}


@pytest.fixture(scope="module")
def deployed(world: World) -> dict[str, Any]:
    """credit-risk/1: pushed, approved by both approvers, deployed on a new endpoint."""
    world.seed_dataset()
    execution_arn = _started(world.push())
    status, answer = world.approve(world.approval_link(execution_arn))
    assert status == 200, answer
    described = world.runtime.wait(execution_arn)
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    return described


def _sum(world: World, metric: str, version: str) -> float:
    now = datetime.now(UTC)
    points = world.client("cloudwatch").get_metric_statistics(
        Namespace="GovernedMLOps",
        MetricName=metric,
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "ModelVersion", "Value": version}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1),
        Period=3600 + 60,
        Statistics=["Sum"],
    )["Datapoints"]
    return float(sum(p["Sum"] for p in points))


def test_the_inference_codes_metric_line_lands_in_the_endpoint_log_and_becomes_metrics(
    world: World, deployed: dict[str, Any]
) -> None:
    # Given the deployed endpoint and the metric filters the pipeline put on its log group
    group = f"/aws/sagemaker/Endpoints/{ENDPOINT}"
    filters = world.client("logs").describe_metric_filters(logGroupName=group)["metricFilters"]
    assert sorted(f["filterName"] for f in filters) == ["mlops-PositivePredictions", "mlops-PredictedRows"]
    # under the stack's key and kept LogRetentionDays, as every log group of the stack is
    (described,) = world.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["kmsKeyId"] == world.stack.get_att("KmsKey", "Arn")
    assert described["retentionInDays"] == int(world.stack.parameters["LogRetentionDays"])
    mark = world.mark()

    # When a client scores four applicants
    answer = _invoke(world, _body(range(4)))

    # Then the answer comes from the deployed version, its log stream holds the container's metric line,
    # and CloudWatch counts four predicted rows and the approvals for that version
    predictions = answer["body"]["predictions"]
    assert {p["model_version"] for p in predictions} == {f"{MODEL}/1"}
    approved = sum(1 for p in predictions if p["decision"] == "approve")

    def metric_lines() -> list[dict[str, Any]]:
        logs = world.client("logs")
        lines = []
        for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
            assert stream["logStreamName"].startswith("AllTraffic/i-"), stream
            events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
            lines += [json.loads(e["message"]) for e in events if e["message"].startswith("{")]
        return lines

    lines = within(metric_lines, 30)
    assert lines == [
        {
            "mlops_metric": "predictions",
            "EndpointName": ENDPOINT,
            "ModelVersion": f"{MODEL}/1",
            "PredictedRows": 4,
            "PositivePredictions": approved,
        }
    ]
    assert within(lambda: _sum(world, "PredictedRows", f"{MODEL}/1") == 4.0, 30)
    assert _sum(world, "PositivePredictions", f"{MODEL}/1") == float(approved)
    # And the model's role wrote its log, as its policy allows
    calls = world.calls_since(mark)
    assert {"CreateLogStream", "PutLogEvents"} <= {c.operation for c in calls if c.service == "logs"}
    world.assert_allowed(mark)


def test_a_flipped_model_breaches_its_behaviour_alarm_and_the_canary_rolls_back(
    world: World, deployed: dict[str, Any]
) -> None:
    serving = world.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    # Given a configuration that flips the favourable label (the model now scores P(bad)): it passes the
    # hold-out gates, but approves far fewer applicants than the band [0.5, 0.98] allows
    text = GERMAN_CONFIG.read_text().replace("positive_label: good", "positive_label: bad")
    flipped = (
        text.split("\nbias:")[0] + "\nbias:\n  facets:\n    - name: sex\n      column: "
        "personal_status_and_sex\n      prefix: female\n  thresholds: {}\n"
    )
    mark = world.mark()

    # When it is committed and pushed (the run's configuration is its commit's), approved, and clients keep
    # sending applicants during the canary
    execution_arn = _started(world.push(world.commit(replace={f"models/{MODEL}/config.yaml": flipped.encode()})))
    status, answer = world.approve(world.approval_link(execution_arn))
    assert status == 200, answer
    stop, served, failures = threading.Event(), [], []

    def traffic() -> None:
        start = 0
        while not stop.is_set():
            try:
                served.append(_invoke(world, _body(range(start % 990, start % 990 + 10)))["variant"])
            except Exception as exc:  # noqa: BLE001 - counted: a client request must never fail
                failures.append(repr(exc))
            start += 10

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        described = world.runtime.wait(execution_arn, timeout=300)
    finally:
        stop.set()
        sender.join(timeout=30)

    # Then the behaviour alarm went to ALARM on the new version's own metrics, the endpoint rolled back to
    # the good config, and the run failed with DeploymentRolledBack
    assert described["status"] == "FAILED", described
    assert described["error"] == "DeploymentRolledBack", described.get("cause")
    (alarm,) = world.client("cloudwatch").describe_alarms(AlarmNames=[f"{ENDPOINT}-canary-behaviour"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert any(
        d["Value"] == f"{MODEL}/2"
        for m in alarm["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
    )
    rows = _sum(world, "PredictedRows", f"{MODEL}/2")
    assert rows >= 20
    assert _sum(world, "PositivePredictions", f"{MODEL}/2") / rows < 0.5
    endpoint = world.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == serving
    assert f"{ENDPOINT}-canary-behaviour" in endpoint["FailureReason"]
    assert failures == []
    assert len(served) > 0
    # And the version's lineage records the rollback
    table = world.stack.ref("ModelRegistryTable")
    item = world.client("dynamodb").get_item(TableName=table, Key={"model_version": {"S": f"{MODEL}/2"}})["Item"]
    deployment = json.loads(item["record"]["S"])["deployments"][-1]
    assert (deployment["status"], deployment["serving_config"]) == ("RolledBack", serving)
    world.assert_allowed(mark)
