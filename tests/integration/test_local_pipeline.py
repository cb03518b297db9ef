"""The local runtime end to end: same template, same ASL, same handlers, real training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local.runtime import LocalRuntime
from tests.conftest import GERMAN_CONFIG, PROJECT_DIR, auto_approver, load_event

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]


def _run_upload(runtime: LocalRuntime, data: bytes, key: str = "datasets/credit-risk/german_credit.csv") -> dict:
    _, deliveries = runtime.upload(data, key)
    assert [d.error for d in deliveries] == [None]
    (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    return result


def _without_column(data: bytes, column: str) -> bytes:
    lines = data.decode().splitlines()
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    index = rows[0].index(column)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([r[:index] + r[index + 1 :] for r in rows])
    return out.getvalue().encode()


def test_data_arrival_trains_and_registers_a_model(runtime: LocalRuntime, german_credit_bytes: bytes, data_dir: Path):
    # Given the German credit CSV, When it lands under the data prefix
    result = _run_upload(runtime, german_credit_bytes)
    # Then the execution succeeds and one model version is registered with its lineage
    assert result["status"] == "SUCCEEDED", result.get("cause")
    (record,) = LocalModelRegistry(data_dir).list_versions()
    assert record.execution_name == result["name"]
    assert record.metrics["auc"] > 0.7
    assert record.data.sha256 == __import__("hashlib").sha256(german_credit_bytes).hexdigest()
    assert len(record.code.commit_id) == 40
    assert len(record.source_sha256) == 64
    # The trigger started the "live" alias (AutoPublishAlias): the lineage names the version that ran
    # and the digest of its definition, which is the deployed one.
    (machine,) = runtime.template.state_machines.values()
    assert record.state_machine_version_arn == f"{machine.arn}:1"
    deployed = runtime.sfn.describe_state_machine(stateMachineArn=machine.arn)["definition"]
    assert record.definition_sha256 == __import__("hashlib").sha256(deployed.encode()).hexdigest()
    assert len(record.config.sha256) == 64
    assert record.hyperparameters["max_depth"] == "3"
    assert set(record.library_versions) >= {"xgboost", "numpy", "pandas", "scikit-learn", "python"}
    assert set(record.reports) >= {"validation", "evaluation", "gates"}
    assert record.source is not None
    assert record.source.sha256 == record.source_sha256
    assert record.status == "Approved"


def test_history_is_aws_shaped_from_started_to_succeeded(runtime: LocalRuntime, german_credit_bytes: bytes):
    result = _run_upload(runtime, german_credit_bytes)
    events = runtime.executions.history(result["name"])
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all({"id", "type", "timestamp"} <= set(e) for e in events)
    # The SageMaker integrations appear as AWS records them: Task* events of resource type sagemaker.
    scheduled = [e["taskScheduledEventDetails"] for e in events if e["type"] == "TaskScheduled"]
    assert {(d["resourceType"], d["resource"]) for d in scheduled} >= {
        ("sagemaker", "createTrainingJob.sync"),
        ("sagemaker", "createProcessingJob.sync"),
        ("lambda", "invoke.waitForTaskToken"),
    }
    json.dumps(events)  # persisted history is plain JSON


def test_duplicate_push_starts_one_execution(runtime: LocalRuntime, german_credit_bytes: bytes):
    _run_upload(runtime, german_credit_bytes)
    push = load_event("codecommit_push.json")
    first = runtime.send_event(push)
    second = runtime.send_event(push)
    assert [d.result["runs"][0]["status"] for d in first] == ["started"]
    assert [d.result["runs"][0]["status"] for d in second] == ["duplicate"]
    assert second[0].result["runs"][0]["execution_name"] == first[0].result["runs"][0]["execution_name"]
    (result,) = runtime.wait([first[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    assert result["status"] == "SUCCEEDED"
    names = [e["name"] for e in runtime.executions.list_executions()]
    assert names.count(first[0].result["runs"][0]["execution_name"]) == 1


def test_duplicate_push_from_a_later_process_starts_nothing(data_dir: Path, german_credit_bytes: bytes):
    push = load_event("codecommit_push.json")
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        _run_upload(runtime, german_credit_bytes)
        (first,) = runtime.send_event(push)
        runtime.wait([first.result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    # A new runtime (as a second `mlops trigger`) sees the name on disk.
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        (again,) = runtime.send_event(push)
    assert again.result["runs"][0]["status"] == "duplicate"


def test_push_to_a_feature_branch_matches_no_rule(runtime: LocalRuntime):
    assert runtime.send_event(load_event("codecommit_push_feature_branch.json")) == []
    assert runtime.executions.list_executions() == []


def test_push_before_any_dataset_is_a_named_error(runtime: LocalRuntime):
    (delivery,) = runtime.send_event(load_event("codecommit_push.json"))
    assert delivery.error_type == "DatasetNotFoundError"
    assert "mlops upload" in delivery.error
    assert runtime.executions.list_executions() == []


def test_missing_target_column_fails_validation_and_registers_nothing(
    runtime: LocalRuntime, german_credit_bytes: bytes, data_dir: Path
):
    result = _run_upload(runtime, _without_column(german_credit_bytes, "creditability"))
    assert result["status"] == "FAILED"
    assert result["error"] == "DataValidationError"
    assert "creditability" in result["cause"]
    report_uri = json.loads(result["cause"])["errorMessage"].rsplit("report: ", 1)[1].rstrip(")")
    bucket, _, key = report_uri[5:].partition("/")
    report = json.loads(runtime.store.mirror_path(bucket, key.split("?")[0]).read_text())
    assert any(i["column"] == "creditability" for i in report["issues"])
    assert LocalModelRegistry(data_dir).list_versions() == []
    # No training job was started for invalid data.
    assert not (data_dir / "sagemaker" / "training-jobs").exists()


def test_quality_gate_breach_fails_with_named_error(tmp_path: Path, german_credit_bytes: bytes):
    strict = tmp_path / "strict.yaml"
    strict.write_text(GERMAN_CONFIG.read_text().replace("min_auc: 0.70", "min_auc: 0.99"))
    with LocalRuntime(PROJECT_DIR, tmp_path / "data", models={"credit-risk": strict}) as runtime:
        result = _run_upload(runtime, german_credit_bytes)
    assert result["error"] == "QualityGateFailed"
    assert "auc=" in result["cause"]
    assert "0.9900" in result["cause"]
    assert LocalModelRegistry(tmp_path / "data").list_versions() == []


def test_failing_training_job_is_a_named_error(tmp_path: Path, german_credit_bytes: bytes):
    broken = tmp_path / "broken.yaml"
    broken.write_text(GERMAN_CONFIG.read_text().replace("max_depth: 3", "max_depth: -1"))
    with LocalRuntime(PROJECT_DIR, tmp_path / "data", models={"credit-risk": broken}) as runtime:
        result = _run_upload(runtime, german_credit_bytes)
    assert result["error"] == "SageMakerJobFailed"
    cause = json.loads(result["cause"])
    assert cause["errorType"] == "SageMakerJobFailed"
    assert "max_depth" in cause["errorMessage"]
    assert LocalModelRegistry(tmp_path / "data").list_versions() == []


def test_a_failed_execution_sends_exactly_one_alert_with_what_on_call_needs(
    runtime: LocalRuntime, german_credit_bytes: bytes, data_dir: Path
):
    from governed_mlops.adapters.approvals import read_outbox

    # Given an upload without the target column, When the execution fails
    result = _run_upload(runtime, _without_column(german_credit_bytes, "creditability"))
    runtime.persist(result["executionArn"])  # a second look must not alert again
    # Then one alert names the execution, the failed state, the error, the cause and the history link
    alerts = [m for m in read_outbox(data_dir) if m["attributes"].get("kind") == "alert"]
    assert len(alerts) == 1
    attributes, body = alerts[0]["attributes"], alerts[0]["message"]
    assert attributes["execution"] == result["name"]
    assert attributes["failed_state"] == "Validate Data"
    assert attributes["error"] == "DataValidationError"
    assert attributes["history"].endswith(f"/executions/{result['name']}")
    assert "creditability" in body
    # And the ledger says who triggered it and how it ended
    from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key

    actions = [
        r.action for r in LocalAuditLedger(data_dir, load_or_create_key(data_dir)).records(subject=result["name"])
    ]
    assert actions == ["pipeline.triggered", "pipeline.failed"]


def test_a_lowered_bias_limit_stops_the_run_before_training_and_registers_nothing(
    tmp_path: Path, german_credit_bytes: bytes
):
    # Given a limit the data cannot meet: |DPL| <= 0.001 for applicants aged 25 or younger (theirs is 0.149)
    strict = tmp_path / "strict-bias.yaml"
    strict.write_text(GERMAN_CONFIG.read_text().replace("DPL: {min: -0.2, max: 0.2}", "DPL: {min: -0.001, max: 0.001}"))
    with LocalRuntime(PROJECT_DIR, tmp_path / "data", models={"credit-risk": strict}) as runtime:
        result = _run_upload(runtime, german_credit_bytes)
    # Then the named error names facet, metric, value and limit, and nothing was trained or registered
    assert result["error"] == "BiasThresholdExceeded"
    message = json.loads(result["cause"])["errorMessage"]
    assert "age_25_or_younger" in message
    assert "DPL" in message
    assert "0.001" in message
    assert LocalModelRegistry(tmp_path / "data").list_versions() == []
    assert not (tmp_path / "data" / "sagemaker" / "training-jobs").exists()


def test_a_full_run_leaves_an_audit_ledger_that_verifies(
    runtime: LocalRuntime, german_credit_bytes: bytes, data_dir: Path
):
    from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key

    result = _run_upload(runtime, german_credit_bytes)
    assert result["status"] == "SUCCEEDED"
    ledger = LocalAuditLedger(data_dir, load_or_create_key(data_dir))
    actions = {r.action for r in ledger.records()}
    assert {
        "pipeline.triggered",
        "approval.requested",
        "approval.decided",
        "model.approved",
        "deployment.succeeded",
        "pipeline.succeeded",
    } <= actions
    assert ledger.verify().ok
