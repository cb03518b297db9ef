"""``mlops <command> --aws --stack NAME`` on the parity stack: every read command against what the stack holds.

The commands find the stack's resources through DescribeStacks, whose Outputs the parity deployment
publishes as CloudFormation would. One pipeline run (push, approval through the API, deployment)
makes the stack hold a registered, approved and deployed model version, an approval record, an
execution and an audit ledger. Each test then runs one command through click's CliRunner as an
operator would (the process's default credentials: the harness's, which the IAM recorder ignores)
and compares what it prints with what the stack's tables, buckets and state machine hold, read
directly with boto3.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
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
from click.testing import CliRunner, Result

from governed_mlops.domain.outcomes import OUTCOME_LABELS
from governed_mlops_local.cli import main
from governed_mlops_ml.serving import ServingModel
from tests.dataset_variants import reexported
from tests.parity.stack import HARNESS_CREDENTIALS, ParityStack
from tests.parity.world import GERMAN_CREDIT, MODEL, World, deployed_model, parity_world

pytestmark = [pytest.mark.parity, pytest.mark.schedule_early]

PROJECT_DIR = Path(__file__).resolve().parents[2]
DENIED_APPLICANT = PROJECT_DIR / "examples" / "applicant_denied.json"
TARGET = "creditability"
DRIFTED = ["age_in_years", "credit_amount"]
#: Each test that captures traffic takes the next window, 5 minutes after the one before: the monitor analyses only
#: requests newer than its last run's, so a window must come after every earlier test's (in whatever order they run).
_CAPTURE_WINDOWS = itertools.count(1)


def _next_capture_window() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5 * next(_CAPTURE_WINDOWS))


@dataclass
class Deployed:
    world: World
    #: DescribeExecution of the run that registered, approved and deployed the model version.
    execution: dict[str, Any]
    model_version: str
    #: The CLI's --data-dir (``reproduce --aws`` keeps its local work under it).
    data_dir: Path

    @property
    def stack(self) -> ParityStack:
        return self.world.stack

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.stack.region, **HARNESS_CREDENTIALS)

    def mlops(self, *args: str, stack: str | None = None) -> Result:
        """``mlops --data-dir D ARGS --aws --stack <the parity stack> --region <its region>``."""
        aws = ["--aws", "--stack", stack or self.stack.name, "--region", self.stack.region]
        return CliRunner().invoke(main, ["--data-dir", str(self.data_dir), *args, *aws])


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The parity stack after one push was trained, approved by carol.approver and dave.risk and deployed."""
    with parity_world(tmp_path_factory.mktemp("cli-aws")) as world:
        world.seed_dataset()
        deliveries = world.push()
        assert [(d.target, d.error_type) for d in deliveries] == [("TriggerFunction", None)], deliveries
        execution_arn = str(deliveries[0].result["runs"][0]["execution_arn"])
        status, answer = world.approve(world.approval_link(execution_arn))
        assert status == 200, answer
        described = world.runtime.wait(execution_arn)
        assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
        model_version = json.loads(described["output"])["registration"]["model_version"]
        yield Deployed(world, described, model_version, tmp_path_factory.mktemp("cli-data") / "mlops-data")


# -- what the stack holds, read directly ----------------------------------------------------------
def _registry_records(deployed: Deployed) -> dict[str, dict[str, Any]]:
    table = deployed.stack.outputs["ModelRegistryTableName"]
    items = deployed.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["model_version"]["S"]: json.loads(item["record"]["S"]) for item in items}


def _approval_items(deployed: Deployed) -> list[dict[str, Any]]:
    table = deployed.stack.outputs["ApprovalsTableName"]
    return list(deployed.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"])


def _keys(deployed: Deployed, bucket: str, prefix: str) -> list[str]:
    pages = deployed.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


# -- models and lineage ---------------------------------------------------------------------------
def test_models_json_is_every_record_of_the_lineage_table(deployed: Deployed) -> None:
    result = deployed.mlops("models", "--json")

    assert result.exit_code == 0, result.output
    printed = {record["model_version"]: record for record in json.loads(result.stdout)}
    assert printed == _registry_records(deployed)


def test_models_text_shows_the_version_approved_as_in_the_model_registry(deployed: Deployed) -> None:
    # Given the model package SageMaker holds for the version
    record = _registry_records(deployed)[deployed.model_version]
    package = deployed.client("sagemaker").describe_model_package(ModelPackageName=record["model_package_arn"])

    result = deployed.mlops("models")

    # Then the line has the local format, the package's approval status, the run and its commit
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(f"{deployed.model_version} ")]
    assert line.split()[1] == package["ModelApprovalStatus"] == "Approved"
    assert f"auc={record['metrics']['auc']:.4f}" in line
    assert f"execution={deployed.execution['name']}" in line
    pushed = json.loads(deployed.execution["input"])["code"]["commit_id"]
    assert line.endswith(f"commit={pushed[:12]}")


def test_the_lineage_names_the_published_version_that_ran_and_its_definition(deployed: Deployed) -> None:
    # Given the trigger started the "live" alias the template publishes (AutoPublishAlias)
    record = _registry_records(deployed)[deployed.model_version]
    sfn = deployed.client("stepfunctions")
    alias = sfn.describe_state_machine_alias(stateMachineAliasArn=deployed.stack.outputs["TrainingPipelineAliasArn"])
    ((version, weight),) = [(r["stateMachineVersionArn"], r["weight"]) for r in alias["routingConfiguration"]]
    ran = sfn.describe_state_machine_for_execution(executionArn=deployed.execution["executionArn"])["definition"]

    # Then the execution ran that version, and the lineage records it with the digest of what it ran
    assert weight == 100
    assert deployed.execution["stateMachineVersionArn"] == version == record["state_machine_version_arn"]
    assert deployed.execution["stateMachineAliasArn"] == alias["stateMachineAliasArn"]
    assert record["definition_sha256"] == hashlib.sha256(ran.encode()).hexdigest()
    assert ran == sfn.describe_state_machine(stateMachineArn=version)["definition"]


def test_lineage_json_is_the_registered_record(deployed: Deployed) -> None:
    result = deployed.mlops("lineage", deployed.model_version, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == _registry_records(deployed)[deployed.model_version]


def test_lineage_text_names_the_pinned_data_the_approver_and_the_deployment(deployed: Deployed) -> None:
    record = _registry_records(deployed)[deployed.model_version]

    result = deployed.mlops("lineage", deployed.model_version)

    assert result.exit_code == 0, result.output
    rows = {line.split("  ", 1)[0].strip(): line.split("  ", 1)[1].strip() for line in result.stdout.splitlines()}
    assert rows["model version"].startswith(f"{deployed.model_version}  [Approved]")
    data = record["data"]
    assert rows["data"].startswith(f"s3://{data['ref']['bucket']}/{data['ref']['key']}?versionId=")
    assert data["sha256"] in rows["data"]
    assert rows["approval"].startswith("approved by carol.approver")
    assert f"serving_config={deployed.execution['name']}-config" in rows["deployment"]


def test_lineage_of_an_unknown_version_is_a_named_error(deployed: Deployed) -> None:
    result = deployed.mlops("lineage", "credit-risk/999")

    assert result.exit_code == 2
    assert "ModelVersionNotFoundError" in result.stderr
    assert "credit-risk/999" in result.stderr


# -- approvals, executions, history --------------------------------------------------------------
def test_approvals_lists_the_decided_request_of_the_table(deployed: Deployed) -> None:
    (item,) = [i for i in _approval_items(deployed) if i["execution_name"]["S"] == deployed.execution["name"]]

    result = deployed.mlops("approvals")

    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(item["approval_id"]["S"])]
    assert line.split()[1:5] == ["approved", "by", "carol.approver,", "dave.risk"]
    assert f"execution={deployed.execution['name']}" in line


def test_the_decided_request_is_kept_for_the_stacks_audit_retention_period(deployed: Deployed) -> None:
    (item,) = [i for i in _approval_items(deployed) if i["execution_name"]["S"] == deployed.execution["name"]]
    record = json.loads(item["record"]["S"])
    retention = int(deployed.stack.parameters["AuditRetentionDays"])

    # DynamoDB's TTL attribute: the request's expiry plus AuditRetentionDays, as the function was deployed with
    kept_until = datetime.fromtimestamp(int(item["expires_epoch"]["N"]), UTC)
    expected = datetime.fromisoformat(record["expires_at"]) + timedelta(days=retention)
    assert kept_until == expected.replace(microsecond=0)
    assert retention >= 365


def test_approvals_never_print_a_task_token(deployed: Deployed) -> None:
    tokens = [item["task_token"]["S"] for item in _approval_items(deployed)]
    assert tokens

    text, as_json = deployed.mlops("approvals"), deployed.mlops("approvals", "--json")

    assert (text.exit_code, as_json.exit_code) == (0, 0), (text.output, as_json.output)
    assert not [t for t in tokens if t in text.output or t in as_json.output]
    assert all("task_token" not in row for row in json.loads(as_json.stdout))


def test_executions_json_is_list_executions_of_the_stacks_state_machine(deployed: Deployed) -> None:
    listed = deployed.client("stepfunctions").list_executions(
        stateMachineArn=deployed.stack.outputs["TrainingPipelineArn"]
    )

    result = deployed.mlops("executions", "--json")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)["executions"]
    assert [(e["name"], e["status"]) for e in printed] == [(e["name"], e["status"]) for e in listed["executions"]]


def test_executions_text_has_the_local_columns(deployed: Deployed) -> None:
    result = deployed.mlops("executions")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "MODEL", "STATUS", "STARTED", "DURATION", "ERROR"]
    (line,) = [line for line in lines if line.startswith(deployed.execution["name"])]
    # ListExecutions has no input, so no model: "-" (the local store reads it from the input)
    assert line.split()[1:3] == ["-", "SUCCEEDED"]
    assert line.split()[3].startswith(deployed.execution["startDate"].isoformat()[:19])


def test_history_finds_the_execution_by_name_in_the_stacks_state_machine(deployed: Deployed) -> None:
    result = deployed.mlops("history", deployed.execution["name"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"{deployed.execution['name']}  SUCCEEDED"


def test_history_of_an_unknown_execution_is_a_named_error(deployed: Deployed) -> None:
    result = deployed.mlops("history", "push-does-not-exist")

    assert result.exit_code == 2
    assert "ExecutionNotFoundError" in result.stderr
    assert "push-does-not-exist" in result.stderr


# -- audit ----------------------------------------------------------------------------------------
def test_audit_verify_checks_every_record_of_the_deployed_ledger(deployed: Deployed) -> None:
    records = _keys(deployed, deployed.stack.outputs["AuditBucketName"], "ledger/records/")
    assert records

    result = deployed.mlops("audit", "verify")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ledger OK: {len(records)} records, ")


def test_audit_verify_fails_at_a_record_added_outside_the_chain(deployed: Deployed) -> None:
    # Given a record written after the last one without chaining it (its hashes are the last record's)
    s3 = deployed.client("s3")
    bucket = deployed.stack.outputs["AuditBucketName"]
    last_key = _keys(deployed, bucket, "ledger/records/")[-1]
    last = json.loads(s3.get_object(Bucket=bucket, Key=last_key)["Body"].read())
    forged = last | {"sequence": last["sequence"] + 1, "action": "model.approved", "actor": "mallory"}
    forged_key = f"ledger/records/{forged['sequence']:012d}.json"
    s3.put_object(Bucket=bucket, Key=forged_key, Body=json.dumps(forged).encode(), ChecksumAlgorithm="SHA256")
    try:
        result = deployed.mlops("audit", "verify")
    finally:
        s3.delete_object(Bucket=bucket, Key=forged_key)  # a delete marker: the listing no longer has it

    # Then the command exits 1 naming the forged record
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"ledger FAILED at record #{forged['sequence']}: ")


# -- explain --------------------------------------------------------------------------------------
def test_explain_a_row_reads_the_pinned_dataset_and_the_registered_model(deployed: Deployed) -> None:
    # Given row 4 of the dataset version the lineage pins
    record = _registry_records(deployed)[deployed.model_version]
    ref = record["data"]["ref"]
    data = deployed.client("s3").get_object(Bucket=ref["bucket"], Key=ref["key"], VersionId=ref["version_id"])
    row = list(csv.DictReader(io.StringIO(data["Body"].read().decode())))[4]

    result = deployed.mlops("explain", deployed.model_version, "--row", "4", "--json")

    # Then that row is scored by the registered archive
    assert result.exit_code == 0, result.output
    explained = json.loads(result.stdout)
    assert (explained["row"], str(explained["actual_label"])) == (4, row[TARGET])
    assert explained["lineage"]["model_sha256"] == record["model_artifact"]["sha256"]
    assert explained["lineage"]["data_sha256"] == record["data"]["sha256"]
    assert explained["decision"] in {"approve", "deny"}


def test_explain_an_applicant_file_gives_the_decision_and_reasons(deployed: Deployed) -> None:
    result = deployed.mlops("explain", deployed.model_version, "--input", str(DENIED_APPLICANT))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith(f"Model       {deployed.model_version} [Approved]")
    assert "Prediction  " in result.stdout


def test_explain_of_an_unknown_version_is_a_named_error(deployed: Deployed) -> None:
    result = deployed.mlops("explain", "credit-risk/999", "--row", "0")

    assert result.exit_code == 2
    assert "ModelVersionNotFoundError" in result.stderr


# -- reproduce ------------------------------------------------------------------------------------
def test_reproduce_retrains_the_deployed_version_to_the_same_bytes_and_metrics(deployed: Deployed) -> None:
    artifacts = deployed.stack.outputs["ArtifactsBucketName"]

    result = deployed.mlops("reproduce", deployed.model_version, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    fields = {f["name"]: f for f in report["fields"]}
    record = _registry_records(deployed)[deployed.model_version]
    assert fields["model_artifact.sha256"]["actual"] == record["model_artifact"]["sha256"]
    assert {name for name in fields if name.startswith("metrics.")} == {f"metrics.{m}" for m in record["metrics"]}
    # And nothing was written to the stack: the reproduction's files stay under the data directory
    assert _keys(deployed, artifacts, "reproduce/") == []
    assert list((deployed.data_dir / "aws" / deployed.stack.name / "reproduce").rglob("report.json"))


# -- monitor --------------------------------------------------------------------------------------
def _capture_line(row: dict[str, Any], when: datetime) -> str:
    body = json.dumps({"instances": [row]})
    return json.dumps(
        {
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
    )


def test_monitor_without_captured_requests_says_insufficient_data(deployed: Deployed) -> None:
    endpoint = MODEL

    result = deployed.mlops("monitor", "run", endpoint)

    assert result.exit_code == 2, result.output
    assert "insufficient data" in result.stderr
    assert "Traceback" not in result.output


def test_monitor_of_drifted_captured_traffic_writes_the_violations_report(deployed: Deployed) -> None:
    # Given 200 captured requests (SageMaker Data Capture's layout) whose age and amount are shifted
    s3 = deployed.client("s3")
    artifacts = deployed.stack.outputs["ArtifactsBucketName"]
    endpoint = MODEL
    split = f"runs/{deployed.execution['name']}/prepared/train/train.csv"
    rows = list(csv.DictReader(io.StringIO(s3.get_object(Bucket=artifacts, Key=split)["Body"].read().decode())))
    start = _next_capture_window()
    lines = []
    for number, row in enumerate(random.Random(20261128).sample(rows, 200)):
        row.pop(TARGET)
        shifted = row | {"credit_amount": int(row["credit_amount"]) * 4, "age_in_years": int(row["age_in_years"]) + 25}
        lines.append(_capture_line(shifted, start + timedelta(milliseconds=10 * number)))
    key = f"data-capture/{endpoint}/AllTraffic/{start:%Y/%m/%d/%H}/{start:%M-%S-000}-{uuid.uuid4()}.jsonl"
    s3.put_object(Bucket=artifacts, Key=key, Body="\n".join(lines).encode() + b"\n")

    result = deployed.mlops("monitor", "run", endpoint, "--json")

    # Then exactly the shifted columns drift (exit 3) and the reports are in the artifacts bucket
    assert result.exit_code == 3, result.output
    run = json.loads(result.stdout)
    assert (run["rows"], run["drifted_features"], run["model_version"]) == (200, DRIFTED, deployed.model_version)
    report_key = f"monitoring/{endpoint}/{run['run_id']}/constraint_violations.json"
    assert run["reports"]["constraint_violations"].startswith(f"s3://{artifacts}/{report_key}")
    report = json.loads(s3.get_object(Bucket=artifacts, Key=report_key)["Body"].read())
    assert report["drift_metrics"]["drifted_features"] == DRIFTED
    # And nothing acted on it from the operator's machine
    assert (run["alert_message_id"], run["retraining"]) == (None, [])


def test_labels_uploaded_with_aws_judge_the_deployed_models_captured_answers(
    deployed: Deployed, tmp_path: Path
) -> None:
    # Given the deployed model's answers to its hold-out, captured with inference ids as Data Capture
    # records them (the answers computed by the serving code from the archive the endpoint runs)
    s3, sagemaker = deployed.client("s3"), deployed.client("sagemaker")
    artifacts = deployed.stack.outputs["ArtifactsBucketName"]
    endpoint = MODEL
    model = ServingModel.load(*deployed_model(sagemaker, s3, f"{deployed.execution['name']}-model", tmp_path / "model"))
    split = f"runs/{deployed.execution['name']}/prepared/test/test.csv"
    rows = list(csv.DictReader(io.StringIO(s3.get_object(Bucket=artifacts, Key=split)["Body"].read().decode())))
    start = _next_capture_window()
    lines, truth = [], ["inference_id,label"]
    for number, row in enumerate(rows):
        label = row.pop(TARGET)
        body = json.dumps({"instances": [row]})
        answer = model.respond(body.encode(), "application/json", "application/json").body.decode()
        record = json.loads(_capture_line(row, start + timedelta(milliseconds=10 * number)))
        record["captureData"]["endpointOutput"] = {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": answer,
            "encoding": "JSON",
        }
        record["eventMetadata"]["inferenceId"] = f"holdout-{number}"
        lines.append(json.dumps(record))
        truth.append(f"holdout-{number},{label}")
    capture_key = f"data-capture/{endpoint}/AllTraffic/{start:%Y/%m/%d/%H}/{start:%M-%S-000}-{uuid.uuid4()}.jsonl"
    s3.put_object(Bucket=artifacts, Key=capture_key, Body="\n".join(lines).encode() + b"\n")
    labels = tmp_path / "outcomes.csv"
    labels.write_text("\n".join(truth) + "\n", encoding="utf-8")

    # When an operator uploads the outcomes to the stack and runs the monitor
    uploaded = deployed.mlops("labels", "upload", str(labels), "--endpoint", endpoint)
    result = deployed.mlops("monitor", "run", endpoint, "--json")

    # Then the labels are in the stack's artifacts bucket under the stack's key
    assert uploaded.exit_code == 0, uploaded.output
    (label_key,) = _keys(deployed, artifacts, f"ground-truth/{endpoint}/")
    assert s3.head_object(Bucket=artifacts, Key=label_key)["ServerSideEncryption"] == "aws:kms"
    # And the quality of the answers is the AUC the version was registered with
    assert result.exit_code in (0, 3), result.output
    quality = json.loads(result.stdout)["model_quality"]
    registered = _registry_records(deployed)[deployed.model_version]["metrics"]["auc"]
    assert (quality["status"], quality["labelled"]) == ("no_violations", len(rows))
    assert quality["auc"] == pytest.approx(registered, abs=1e-12)
    assert quality["label_files"] == [f"s3://{artifacts}/{label_key}"]


# -- finding the stack ----------------------------------------------------------------------------
def test_an_unknown_stack_is_a_named_error(deployed: Deployed) -> None:
    result = deployed.mlops("models", stack="no-such-stack")

    assert result.exit_code == 2
    assert "StackNotFoundError" in result.stderr
    assert "no-such-stack" in result.stderr


def test_aws_without_a_stack_name_says_it_is_needed(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_STACK_NAME", raising=False)

    result = CliRunner().invoke(main, ["--data-dir", str(deployed.data_dir), "approvals", "--aws"])

    assert result.exit_code == 2
    assert "StackNameMissing" in result.stderr
    assert "--stack NAME" in result.stderr


def test_the_stack_name_defaults_from_the_environment(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_STACK_NAME", deployed.stack.name)

    result = CliRunner().invoke(
        main, ["--data-dir", str(deployed.data_dir), "models", "--aws", "--region", deployed.stack.region]
    )

    assert result.exit_code == 0, result.output
    assert deployed.model_version in result.stdout


# -- on-call: the incident view and abandon --------------------------------------------------------
BROKEN_CSV = b"1,2,3\n4,5,6\n"  # no header row: Validate Data refuses it


@dataclass
class Incidents:
    #: DescribeExecution of a run that failed at Validate Data on a broken upload.
    failed: dict[str, Any]
    #: The broken dataset's S3 pointer as the run pinned it.
    data: dict[str, Any]


@pytest.fixture(scope="module")
def incidents(deployed: Deployed) -> Incidents:
    """After the deployed run: a dataset without a header row is uploaded; its run fails at Validate Data."""
    world = deployed.world
    key = world.data_key("broken.csv")
    try:
        deliveries = world.runtime.upload(world.data_bucket, key, BROKEN_CSV, requester=world.stack.account_id)
        assert [(d.target, d.error_type) for d in deliveries] == [("TriggerFunction", None)], deliveries
        failed = world.runtime.wait(str(deliveries[0].result["runs"][0]["execution_arn"]))
    finally:
        world.remove_object(world.data_bucket, key)  # later runs train on the newest good dataset
    assert (failed["status"], failed.get("error")) == ("FAILED", "DataValidationError"), failed
    return Incidents(failed, json.loads(failed["input"])["data"])


def _approval_tokens(deployed: Deployed) -> list[str]:
    return [item["task_token"]["S"] for item in _approval_items(deployed)]


def test_history_of_a_run_failed_on_bad_data_shows_the_incident(deployed: Deployed, incidents: Incidents) -> None:
    name = incidents.failed["name"]

    result = deployed.mlops("history", name)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{name}  FAILED"
    assert lines[1:4] == [
        "FAILED in state: Validate Data",
        "error: DataValidationError",
        f"cause: {json.loads(incidents.failed['cause'])['errorMessage']}",
    ]
    assert f"outcome: {OUTCOME_LABELS['fault']}" in lines
    # The next action is a corrected upload to the bucket and key the run read, as the AWS CLI does it
    data = incidents.data
    (action,) = [line for line in lines if line.startswith("next action: ")]
    assert action.startswith("next action: Upload a corrected file.")
    command = lines[lines.index(action) + 1].strip()
    assert command == f"aws s3 cp CORRECTED.csv s3://{data['bucket']}/{data['key']} --region {deployed.stack.region}"
    assert "mlops redrive" not in result.stdout


def test_history_of_the_failed_run_compares_it_with_the_last_success_and_production(
    deployed: Deployed, incidents: Incidents
) -> None:
    result = deployed.mlops("history", incidents.failed["name"])

    assert result.exit_code == 0, result.output
    text = result.stdout
    # Production: the endpoint serves the version the deployed run registered
    assert f"production: endpoint {MODEL} (InService) serves {deployed.model_version} (AllTraffic 100%)" in text
    # The trigger: a data arrival of the broken file's version
    assert f"trigger: {deployed.stack.account_id} uploaded {incidents.data['key']}" in text
    # The last success is the deployed run, which trained on another dataset
    assert f"since last success ({deployed.execution['name']}, started " in text
    (data_line,) = [line for line in text.splitlines() if line.startswith("  data ")]
    assert "changed" in data_line
    assert "different dataset" in data_line


def test_history_of_the_failed_run_shows_its_cloudwatch_log_lines(deployed: Deployed, incidents: Incidents) -> None:
    name = incidents.failed["name"]
    group = deployed.stack.ref("ValidateDataLogGroup")

    result = deployed.mlops("history", name)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (header,) = [line for line in lines if line.startswith("logs (")]
    assert header.startswith(f"logs (CloudWatch Logs {group}, last ")
    shown = [line.strip() for line in lines[lines.index(header) + 1 : lines.index(header) + 9]]
    # Validate Data failed before it logged anything: the run's invocation is found by the failure's
    # message (Lambda's record of the unhandled exception) and shown whole, START to REPORT
    message = json.loads(incidents.failed["cause"])["errorMessage"]
    (start,) = [line for line in shown if line.startswith("START RequestId: ")]
    request = start.split()[2]
    assert f"[ERROR] DataValidationError: {message}"[:200] in [line[:200] for line in shown]
    assert f"END RequestId: {request}" in shown
    (report,) = [line for line in shown if line.startswith("REPORT RequestId: ")]
    assert report.startswith(f"REPORT RequestId: {request}\t")
    assert report.endswith("\tStatus: error\tError Type: DataValidationError")


def _ui_page(deployed: Deployed, name: str) -> tuple[int, str]:
    """GET /executions/NAME from the routes `mlops ui --aws --stack S --region R` serves, on the command's server."""
    from http.client import HTTPConnection

    from governed_mlops_local.cli.ui import aws_routes
    from governed_mlops_local.ui.server import serve_ui

    routes = aws_routes((), stack_name=deployed.stack.name, region=deployed.stack.region, profile=None)
    server, _ = serve_ui(routes, port=0)
    try:
        connection = HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
        connection.request("GET", f"/executions/{name}")
        answer = connection.getresponse()
        status, page = answer.status, answer.read().decode()
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
    return status, page


def test_the_ui_page_of_the_failed_run_shows_the_same_incident(deployed: Deployed, incidents: Incidents) -> None:
    status, page = _ui_page(deployed, incidents.failed["name"])

    assert status == 200
    cause = json.loads(incidents.failed["cause"])["errorMessage"]
    assert html.escape(cause, quote=False) in page or html.escape(cause) in page
    assert html.escape(OUTCOME_LABELS["fault"]) in page
    data = incidents.data
    assert html.escape(f"aws s3 cp CORRECTED.csv s3://{data['bucket']}/{data['key']}") in page
    assert html.escape(f"CloudWatch Logs {deployed.stack.ref('ValidateDataLogGroup')}") in page


def test_abandon_of_a_finished_run_is_refused_by_name(deployed: Deployed, incidents: Incidents) -> None:
    name = incidents.failed["name"]

    result = deployed.mlops("abandon", name, "--reason", "too late")

    assert result.exit_code == 2
    assert f"AbandonNotPossible: {name} already ended (FAILED)" in result.stderr
    assert f"mlops redrive {name} --aws --stack {deployed.stack.name}" in result.stderr


def test_abandon_of_an_unknown_run_is_a_named_error(deployed: Deployed) -> None:
    result = deployed.mlops("abandon", "push-does-not-exist", "--reason", "x")

    assert result.exit_code == 2
    assert "ExecutionNotFoundError" in result.stderr


@dataclass
class AbandonedRun:
    name: str
    execution_arn: str
    link: str
    approval_id: str
    reason: str
    result: Result
    ledger_before: list[str]


@pytest.fixture(scope="module")
def abandoned(deployed: Deployed) -> AbandonedRun:
    """A new dataset's run waits at Request Approval; it is abandoned with ``mlops abandon NAME --reason R --aws``."""
    world = deployed.world
    key = world.data_key("german_credit_reexported.csv")
    reason = "superseded by the fix in the next push"
    try:
        # A new version of the dataset (same rows, new bytes): a run that reaches approval
        deliveries = world.runtime.upload(
            world.data_bucket, key, reexported(GERMAN_CREDIT.read_bytes(), 2), requester=world.stack.account_id
        )
        execution_arn = str(deliveries[0].result["runs"][0]["execution_arn"])
        link = world.approval_link(execution_arn)
        name = execution_arn.rsplit(":", 1)[-1]
        (item,) = [i for i in _approval_items(deployed) if i["execution_name"]["S"] == name]
        ledger_before = _keys(deployed, deployed.stack.outputs["AuditBucketName"], "ledger/records/")

        result = deployed.mlops("abandon", name, "--reason", reason)

        assert result.exit_code == 0, result.output
        world.runtime.wait(execution_arn)
    finally:
        world.remove_object(world.data_bucket, key)  # later runs train on the deployed dataset
    return AbandonedRun(name, execution_arn, link, item["approval_id"]["S"], reason, result, ledger_before)


def test_abandon_of_a_waiting_run_stops_it_with_the_reason_as_cause(
    deployed: Deployed, abandoned: AbandonedRun
) -> None:
    described = deployed.world.runtime.sfn.describe_execution(executionArn=abandoned.execution_arn)
    aborted = deployed.world.runtime.history(abandoned.execution_arn)[-1]

    # Step Functions ended it ABORTED with the error and cause StopExecution was given
    assert described["status"] == "ABORTED"
    assert aborted["type"] == "ExecutionAborted"
    assert aborted["executionAbortedEventDetails"] == {"error": "Abandoned", "cause": abandoned.reason}
    assert abandoned.result.stdout.startswith(f"{abandoned.name}: ABORTED (Abandoned) by ")
    assert (
        f"  history: mlops history {abandoned.name} --aws --stack {deployed.stack.name} "
        f"--region {deployed.stack.region}" in abandoned.result.stdout
    )


def test_abandon_closes_the_runs_pending_approval_request(deployed: Deployed, abandoned: AbandonedRun) -> None:
    table = deployed.stack.outputs["ApprovalsTableName"]
    item = deployed.client("dynamodb").get_item(
        TableName=table, Key={"approval_id": {"S": abandoned.approval_id}}, ConsistentRead=True
    )["Item"]

    assert json.loads(item["record"]["S"])["status"] == "expired"
    assert json.loads(item["record"]["S"])["reason"] == f"execution abandoned: {abandoned.reason}"
    # And the link an approver holds no longer offers a decision
    status, answer = deployed.world.decide(abandoned.link, "carol.approver", "approve")
    assert (status, answer["error"]) == (409, "ApprovalAlreadyDecided"), answer
    assert answer["message"] == f"approval {abandoned.approval_id[:8]}… was already expired"


def test_abandon_is_audited_in_the_stacks_ledger(deployed: Deployed, abandoned: AbandonedRun) -> None:
    s3, bucket = deployed.client("s3"), deployed.stack.outputs["AuditBucketName"]
    added = [k for k in _keys(deployed, bucket, "ledger/records/") if k not in abandoned.ledger_before]
    records = [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in added]

    mine = [r for r in records if r["action"] in {"pipeline.abandoned", "approval.closed"}]
    assert [r["action"] for r in mine] == ["pipeline.abandoned", "approval.closed"]
    assert mine[0]["subject"] == abandoned.name
    assert mine[0]["details"]["reason"] == abandoned.reason
    # Who: the AWS principal that signed the calls (no --as given)
    caller = deployed.client("sts").get_caller_identity()["Arn"]
    assert mine[0]["actor"] == mine[0]["details"]["principal"] == caller
    assert mine[1]["details"]["approval_id"] == abandoned.approval_id
    verified = deployed.mlops("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_history_of_the_abandoned_run_says_so_and_never_shows_a_task_token(
    deployed: Deployed, abandoned: AbandonedRun
) -> None:
    tokens = _approval_tokens(deployed)

    text = deployed.mlops("history", abandoned.name)
    as_json = deployed.mlops("history", abandoned.name, "--json")

    assert (text.exit_code, as_json.exit_code) == (0, 0), (text.output, as_json.output)
    lines = text.stdout.splitlines()
    assert lines[1:4] == ["ABORTED in state: Request Approval", "error: Abandoned", f"cause: {abandoned.reason}"]
    assert "next action: Nothing to do. The run was closed for good on purpose; its reason is the cause." in lines
    # The waiting task's parameters held the token AWS issued: neither output shows any token
    assert tokens
    assert not [t for t in tokens if t in text.output or t in as_json.output]


def test_the_ui_page_of_the_abandoned_run_says_why_and_never_shows_a_task_token(
    deployed: Deployed, abandoned: AbandonedRun
) -> None:
    tokens = _approval_tokens(deployed)

    status, page = _ui_page(deployed, abandoned.name)

    assert status == 200
    assert html.escape(abandoned.reason) in page
    assert html.escape(OUTCOME_LABELS["human_decision"]) in page
    assert tokens
    assert not [t for t in tokens if t in page]
