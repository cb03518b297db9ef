"""Scheduled monitoring on the parity stack: EventBridge Scheduler -> Start Monitoring -> a SageMaker processing
job running ``jobs/monitor.py run`` -> its reports in S3 -> SageMaker's state change -> Monitoring Result ->
alert, audit ledger, ``Model Drift Detected`` -> the Trigger's rule -> a retraining execution.

moto's Scheduler stores the schedule but never fires it: each test first reads the deployed schedule back
(expression, target, role) and then does what EventBridge Scheduler does when it fires: it assumes the
schedule's role and invokes the target with the schedule's ``Input``, a call the IAM checker judges
against that role. The processing job really runs the job script (``tests/parity/sagemaker_service.py``)
with the job role's S3 access; SageMaker's state change event is built from DescribeProcessingJob; what
Monitoring Result puts on the default bus is delivered to the stack's rules by the harness's bus.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from governed_mlops_ml.serving import ServingModel
from tests.parity.stack import HARNESS_CREDENTIALS
from tests.parity.world import MODEL, World, deployed_model, parity_world

# In file order (the module is shuffled among the others): the failed-job test expects the schedule to start a job
# on the endpoint the earlier tests left in service; shuffled (seed 3, whole-suite session) it started none.
pytestmark = [pytest.mark.parity, pytest.mark.in_file_order, pytest.mark.schedule_early]

TARGET = "creditability"
DRIFTED = ["age_in_years", "credit_amount"]
FACET_SEX = "personal_status_and_sex"
#: gates.decision_threshold of models/credit-risk/config.yaml
DECISION_THRESHOLD = 0.5
#: Each test that captures traffic takes the next window, 5 minutes after the one before: a monitoring job analyses only
#: requests newer than the last run's, so a window must come after every earlier test's (in whatever order they run).
_CAPTURE_WINDOWS = itertools.count(1)


def _next_capture_window() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5 * next(_CAPTURE_WINDOWS))


@dataclass
class Deployed:
    world: World
    execution: dict[str, Any]
    model_version: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.world.stack.region, **HARNESS_CREDENTIALS)

    @property
    def artifacts(self) -> str:
        return self.world.stack.outputs["ArtifactsBucketName"]

    def get_json(self, key: str) -> dict[str, Any]:
        return json.loads(self.client("s3").get_object(Bucket=self.artifacts, Key=key)["Body"].read())

    def fire_schedule(self) -> dict[str, Any]:
        """What EventBridge Scheduler does at the schedule's time: invoke its target with its Input, as its role."""
        schedule = self.client("scheduler").get_schedule(Name=self.world.stack.ref("MonitorSchedule"))
        target = schedule["Target"]
        session = self.world.runtime.identities.session(target["RoleArn"], "scheduler.amazonaws.com")
        answer = session.client("lambda").invoke(FunctionName=target["Arn"], Payload=target["Input"].encode())
        payload = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, payload
        return dict(payload)

    def run_job(self, name: str) -> dict[str, Any]:
        """Wait for the processing job; then SageMaker's state change reaches the stack's rule."""
        self.world.runtime.sagemaker.wait_idle(timeout=600)
        described = self.client("sagemaker").describe_processing_job(ProcessingJobName=name)
        assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
        (delivery,) = self.world.runtime.announce_processing_job(name)
        assert (delivery.target, delivery.error_type) == ("MonitoringResultFunction", None), delivery
        return dict(delivery.result)

    def put_capture(self, lines: list[str], start: datetime) -> None:
        key = f"data-capture/{MODEL}/AllTraffic/{start:%Y/%m/%d/%H}/{start:%M-%S-000}-{uuid.uuid4()}.jsonl"
        self.client("s3").put_object(Bucket=self.artifacts, Key=key, Body="\n".join(lines).encode() + b"\n")

    def split(self, name: str) -> list[dict[str, str]]:
        key = f"runs/{self.execution['name']}/prepared/{name}/{name}.csv"
        body = self.client("s3").get_object(Bucket=self.artifacts, Key=key)["Body"].read().decode()
        return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The parity stack (MonitoringEnabled=true) after one push was trained, approved and deployed."""
    with parity_world(tmp_path_factory.mktemp("monitoring")) as world:
        world.seed_dataset()
        deliveries = world.push()
        execution_arn = str(deliveries[0].result["runs"][0]["execution_arn"])
        status, answer = world.approve(world.approval_link(execution_arn))
        assert status == 200, answer
        described = world.runtime.wait(execution_arn)
        assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
        model_version = json.loads(described["output"])["registration"]["model_version"]
        yield Deployed(world, described, model_version)


def capture_line(row: dict[str, Any], when: datetime, answer: str | None = None, inference_id: str = "") -> str:
    body = json.dumps({"instances": [row]})
    record: dict[str, Any] = {
        "captureData": {
            "endpointInput": {
                "observedContentType": "application/json",
                "mode": "INPUT",
                "data": base64.b64encode(body.encode()).decode(),
                "encoding": "BASE64",
            }
        },
        "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        },
        "eventVersion": "0",
    }
    if answer is not None:
        record["captureData"]["endpointOutput"] = {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": answer,
            "encoding": "JSON",
        }
        record["eventMetadata"]["inferenceId"] = inference_id
    return json.dumps(record)


def test_the_deployed_schedule_invokes_only_start_monitoring_on_its_expression(deployed: Deployed) -> None:
    stack = deployed.world.stack
    schedule = deployed.client("scheduler").get_schedule(Name=stack.ref("MonitorSchedule"))

    assert (schedule["ScheduleExpression"], schedule["State"]) == ("rate(1 hour)", "ENABLED")
    assert schedule["Target"]["Arn"] == stack.outputs["StartMonitoringFunctionArn"]
    assert schedule["Target"]["RoleArn"] == stack.get_att("MonitoringSchedulerRole", "Arn")
    assert json.loads(schedule["Target"]["Input"]) == {}
    # The schedule's role may invoke that function and nothing else
    statements = [
        statement
        for _, document in stack.role_policy_documents(schedule["Target"]["RoleArn"])
        for statement in document["Statement"]
    ]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements] == [
        ("Allow", "lambda:InvokeFunction", stack.outputs["StartMonitoringFunctionArn"])
    ]


def test_drifted_traffic_runs_the_job_alerts_audits_and_starts_a_retraining(deployed: Deployed) -> None:
    world = deployed.world
    # Given 200 captured requests whose age and amount are shifted
    start = _next_capture_window()
    rows = random.Random(20261205).sample(deployed.split("train"), 200)
    lines = []
    for number, row in enumerate(rows):
        row.pop(TARGET)
        shifted = row | {"credit_amount": int(row["credit_amount"]) * 4, "age_in_years": int(row["age_in_years"]) + 25}
        lines.append(capture_line(shifted, start + timedelta(milliseconds=10 * number)))
    deployed.put_capture(lines, start)
    mark = world.mark()

    # When the schedule fires
    started = deployed.fire_schedule()

    # Then one monitoring job runs for the one endpoint in service, in the stack's VPC with its key, isolated
    ((job),) = started["started"]
    assert (job["endpoint"], job["model_version"]) == (MODEL, deployed.model_version)
    request = deployed.client("sagemaker").describe_processing_job(ProcessingJobName=job["processing_job"])
    assert request["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert request["ProcessingOutputConfig"]["KmsKeyId"] == world.stack.get_att("KmsKey", "Arn")
    # And it runs the job code the served model version was trained with (its lineage's packed commit)
    table = world.stack.outputs["ModelRegistryTableName"]
    items = deployed.client("dynamodb").scan(TableName=table)["Items"]
    (lineage,) = [
        r for r in (json.loads(i["record"]["S"]) for i in items) if r["model_version"] == job["model_version"]
    ]
    code = {i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]}["code"]
    assert code == f"s3://{deployed.artifacts}/source/{lineage['source_sha256']}/sourcedir.tar.gz"
    result = deployed.run_job(job["processing_job"])

    # And its reports are in S3: the two shifted columns drift
    prefix = f"monitoring/{MODEL}/{job['processing_job']}/"
    run = deployed.get_json(prefix + "run.json")
    assert (run["status"], run["rows"], run["drifted_features"]) == ("violations", 200, DRIFTED)
    assert deployed.get_json(prefix + "constraint_violations.json")["drift_metrics"]["drifted_features"] == DRIFTED
    # And Monitoring Result alerted on-call, naming the columns
    assert result["action"] == "drift"
    alerts = [m for m in world.messages(world.alert_queue, wait=10) if job["processing_job"] in m["Message"]]
    assert len(alerts) == 1, alerts
    attributes = {k: v["Value"] for k, v in alerts[0]["MessageAttributes"].items()}
    assert (attributes["kind"], attributes["drifted_features"]) == ("model-drift", ",".join(DRIFTED))
    # And the audit ledger holds monitoring.violation for the model version
    s3, audit = deployed.client("s3"), world.stack.outputs.get("AuditBucketName") or world.stack.ref("AuditBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=audit, Prefix="ledger/").get("Contents", [])]
    bodies = [s3.get_object(Bucket=audit, Key=key)["Body"].read().decode() for key in keys]
    assert any("monitoring.violation" in body and deployed.model_version in body for body in bodies)

    # When EventBridge delivers the Model Drift Detected event Monitoring Result put on the default bus
    (delivery,) = world.runtime.bus.deliver_queued()

    # Then the Trigger started a drift retraining of the model; on the same dataset, code and configuration
    # as the champion it ends at Compare with Champion as NoChange (a new dataset would go on to approval)
    assert (delivery.rule.startswith("TriggerFunction"), delivery.error_type) == (True, None), delivery
    (retraining,) = delivery.result["runs"]
    assert retraining["execution_name"].startswith("drift-")
    ended = world.runtime.wait(retraining["execution_arn"])
    assert (ended["status"], json.loads(ended["output"])["outcome"]) == ("SUCCEEDED", "NoChange")
    # And every call of the schedule, the functions and the job was allowed by its own role's policies
    world.assert_allowed(mark)


def test_a_tiny_window_is_insufficient_data_and_bias_drifted_labels_trip_bias_drift(
    deployed: Deployed, tmp_path: Path
) -> None:
    world = deployed.world
    s3, sagemaker = deployed.client("s3"), deployed.client("sagemaker")
    model = ServingModel.load(*deployed_model(sagemaker, s3, f"{deployed.execution['name']}-model", tmp_path / "m"))
    holdout = deployed.split("test")

    def answered(rows: list[dict[str, str]], start: datetime, first: int) -> tuple[list[str], list[tuple[str, str]]]:
        """Capture lines of the model's answers, and per inference id the label in which the model is wrong
        about every female applicant (the opposite of its decision) and right about nobody else's outcome."""
        lines, labels = [], []
        for number, row in enumerate(rows, start=first):
            features = {k: v for k, v in row.items() if k != TARGET}
            body = json.dumps({"instances": [features]}).encode()
            answer = model.respond(body, "application/json", "application/json").body.decode()
            when = start + timedelta(milliseconds=10 * number)
            lines.append(capture_line(features, when, answer, f"holdout-{number}"))
            approved = json.loads(answer)["predictions"][0]["score"] >= DECISION_THRESHOLD
            female = row[FACET_SEX].startswith("female")
            label = ("bad" if approved else "good") if female else row[TARGET]
            labels.append((f"holdout-{number}", label))
        return lines, labels

    # Given 12 new answered requests (fewer than the model's monitoring.min_samples) and no labels
    start = _next_capture_window()
    lines, _ = answered(holdout[:12], start, 0)
    deployed.put_capture(lines, start)
    mark = world.mark()

    # When the schedule fires and the job ends
    ((job),) = deployed.fire_schedule()["started"]
    result = deployed.run_job(job["processing_job"])

    # Then the window gets no verdict and nothing is acted on
    run = deployed.get_json(f"monitoring/{MODEL}/{job['processing_job']}/run.json")
    assert (run["status"], run["rows"]) == ("insufficient_data", 12)
    assert result["action"] == "none"
    assert world.runtime.bus.deliver_queued() == []

    # Given the rest of the hold-out answered, and outcomes in which every decision on a female applicant was wrong
    lines, drifted = answered(holdout[12:], start + timedelta(minutes=1), 12)
    deployed.put_capture(lines, start + timedelta(minutes=1))
    body = "inference_id,label\n" + "".join(f"{i},{label}\n" for i, label in drifted)
    s3.put_object(Bucket=deployed.artifacts, Key=f"ground-truth/{MODEL}/bias-drifted.csv", Body=body.encode())

    # When the schedule fires again
    ((job),) = deployed.fire_schedule()["started"]
    result = deployed.run_job(job["processing_job"])

    # Then bias drift names the facet of the model's configuration, its report is in S3, and it is acted on
    prefix = f"monitoring/{MODEL}/{job['processing_job']}/"
    report = deployed.get_json(prefix + "bias_drift.json")
    assert report["status"] == "violations", report
    assert report["labelled"] == len(drifted)
    assert "sex" in {breach["facet"] for breach in report["breaches"]}
    assert "bias_drift" in {v["constraint_check_type"] for v in deployed.get_json(prefix + "run.json")["violations"]}
    assert result["action"] == "drift"
    (delivery,) = world.runtime.bus.deliver_queued()
    assert delivery.error_type is None, delivery
    (retraining,) = delivery.result["runs"]
    assert retraining["execution_name"].startswith("drift-")
    assert world.runtime.wait(retraining["execution_arn"])["status"] == "SUCCEEDED"
    world.assert_allowed(mark)


def test_a_failed_monitoring_job_pages_on_call_and_puts_no_drift_event(deployed: Deployed) -> None:
    world = deployed.world
    s3 = deployed.client("s3")
    # Given a label file put in the bucket by hand, past the upload's checks (its header is wrong)
    key = f"ground-truth/{MODEL}/by-hand.csv"
    s3.put_object(Bucket=deployed.artifacts, Key=key, Body=b"id,outcome\nholdout-0,good\n")
    mark = world.mark()
    try:
        # When the schedule fires and the job ends
        ((job),) = deployed.fire_schedule()["started"]
        world.runtime.sagemaker.wait_idle(timeout=600)
        described = deployed.client("sagemaker").describe_processing_job(ProcessingJobName=job["processing_job"])
        (delivery,) = world.runtime.announce_processing_job(job["processing_job"])
    finally:
        world.remove_object(deployed.artifacts, key)

    # Then the job failed naming the file and what to fix, Monitoring Result paged on-call, and nothing else happened
    assert described["ProcessingJobStatus"] == "Failed"
    assert "it must be exactly inference_id,label" in described["FailureReason"]
    assert (delivery.error_type, delivery.result["action"]) == (None, "alerted"), delivery
    alerts = [m for m in world.messages(world.alert_queue, wait=10) if job["processing_job"] in m["Message"]]
    assert len(alerts) == 1, alerts
    attributes = {k: v["Value"] for k, v in alerts[0]["MessageAttributes"].items()}
    assert (attributes["kind"], attributes["outcome"]) == ("alert", "fault")
    assert world.runtime.bus.deliver_queued() == []
    world.assert_allowed(mark)
