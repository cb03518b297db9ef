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
import io
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

from governed_mlops_local.cli import main
from governed_mlops_ml.serving import ServingModel
from tests.parity.stack import HARNESS_CREDENTIALS, ParityStack
from tests.parity.world import MODEL, World, deployed_model, parity_world

pytestmark = pytest.mark.parity

PROJECT_DIR = Path(__file__).resolve().parents[2]
DENIED_APPLICANT = PROJECT_DIR / "examples" / "applicant_denied.json"
TARGET = "creditability"
DRIFTED = ["age_in_years", "credit_amount"]


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
    start = datetime.now(UTC) + timedelta(minutes=5)  # after anything an earlier run analysed
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
    start = datetime.now(UTC) + timedelta(minutes=10)  # after the other tests' windows
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
