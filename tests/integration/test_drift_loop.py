"""Drift monitoring closes the loop: captured traffic -> violations -> alert, audit, retraining execution.

One pipeline run deploys ``credit-risk`` (module fixture); each test restarts the local runtime on that
data directory (the hosting emulator keeps the endpoint on disk), sends its own traffic and monitors
the window captured since the previous monitoring run.
"""

from __future__ import annotations

import csv
import io
import json
import random
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from governed_mlops.adapters.approvals import LocalOutbox, read_outbox
from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local.cli import main
from governed_mlops_local.cli.monitor import endpoints, flatten_deliveries, invoke, monitor
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_local.services.monitoring import MonitoringDeps, MonitoringRun, MonitoringSettings, run_monitoring
from governed_mlops_local.template import LOCAL_ACCOUNT, LOCAL_REGION
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR, auto_approver

pytestmark = pytest.mark.slow

ENDPOINT = "credit-risk"
DRIFTED = ["age_in_years", "credit_amount"]
TARGET = "creditability"


@pytest.fixture(scope="module")
def port() -> int:
    """One gateway port for every runtime here: handlers stay imported in this process and keep the approval
    API URL they saw at their cold start (a new runtime on another port would leave their links dead)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, port: int) -> Path:
    """A data directory whose pipeline run deployed the approved model to ``credit-risk``."""
    data_dir = tmp_path_factory.mktemp("drift") / "mlops-data"
    with LocalRuntime(PROJECT_DIR, data_dir, port=port) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
        assert result["status"] == "SUCCEEDED"
        assert runtime.hosting.describe_endpoint(ENDPOINT)["EndpointStatus"] == "InService"
    return data_dir


@pytest.fixture
def runtime(deployed: Path, port: int) -> Iterator[LocalRuntime]:
    with LocalRuntime(PROJECT_DIR, deployed, port=port) as active:
        yield active


def training_rows(runtime: LocalRuntime, count: int = 200) -> list[dict[str, Any]]:
    """A fixed random sample of the serving model's training split, features only (values as the CSV holds them).

    Sampled, not the first rows: the split file is not in random order.
    """
    execution = LocalModelRegistry(runtime.data_dir).list_versions()[0].execution_name
    text = (runtime.store.mirror_path(artifacts(runtime), f"runs/{execution}/prepared/train/train.csv")).read_text()
    rows = random.Random(20261128).sample(list(csv.DictReader(io.StringIO(text))), count)
    for row in rows:
        row.pop(TARGET)
    return rows


def artifacts(runtime: LocalRuntime) -> str:
    return runtime.template.buckets["ArtifactsBucket"].name


def drifted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        row | {"credit_amount": int(row["credit_amount"]) * 4, "age_in_years": int(row["age_in_years"]) + 25}
        for row in rows
    ]


def post(runtime: LocalRuntime, rows: list[dict[str, Any]], batch: int = 20) -> None:
    assert runtime.gateway is not None
    url = f"{runtime.gateway.url}/endpoints/{ENDPOINT}/invocations"
    for start in range(0, len(rows), batch):
        body = json.dumps({"instances": rows[start : start + batch]}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200


def monitor_once(runtime: LocalRuntime) -> MonitoringRun:
    data_dir = runtime.data_dir
    deps = MonitoringDeps(
        hosting=runtime.hosting,
        store=runtime.store,
        registry=LocalModelRegistry(data_dir),
        notifier=LocalOutbox(data_dir),
        audit=LocalAuditLedger(data_dir, load_or_create_key(data_dir)),
        # As `mlops monitor run` hands the bus's answers to the service: one dict per started execution.
        put_event=lambda event: flatten_deliveries(runtime.send_event(event)),
    )
    settings = MonitoringSettings(artifacts_bucket=artifacts(runtime), account=LOCAL_ACCOUNT, region=LOCAL_REGION)
    return run_monitoring(ENDPOINT, settings, deps)


def drift_alerts(runtime: LocalRuntime) -> list[dict[str, Any]]:
    return [m for m in read_outbox(runtime.data_dir) if m["attributes"].get("kind") == "model-drift"]


def drift_executions(runtime: LocalRuntime) -> list[dict[str, Any]]:
    listed = runtime.sfn.list_executions(stateMachineArn=next(iter(runtime.template.state_machines.values())).arn)
    return [e for e in listed["executions"] if e["name"].startswith("drift-")]


def test_undrifted_traffic_has_no_violations_and_starts_nothing(runtime: LocalRuntime) -> None:
    # Given real applicants from the training data sent to the endpoint
    alerts_before = len(drift_alerts(runtime))
    post(runtime, training_rows(runtime))

    # When the monitor runs
    run = monitor_once(runtime)

    # Then nothing drifted, nobody is alerted and no retraining starts
    assert (run.rows, run.violations, run.drifted_features, run.retraining) == (200, [], [], [])
    assert len(drift_alerts(runtime)) == alerts_before
    assert drift_executions(runtime) == []


def test_drifted_traffic_alerts_audits_and_starts_a_drift_retraining(runtime: LocalRuntime) -> None:
    # Given applicants whose credit amount is four times and age 25 years above the training data
    post(runtime, drifted(training_rows(runtime)))

    # When the monitor runs
    run = monitor_once(runtime)

    # Then exactly the shifted columns drift, with one alert naming them and one audit record
    assert run.drifted_features == DRIFTED
    assert {v["feature_name"] for v in run.violations} == set(DRIFTED)
    (alert,) = drift_alerts(runtime)
    assert alert["attributes"]["drifted_features"] == ",".join(DRIFTED)
    assert all(column in alert["subject"] for column in DRIFTED)
    ledger = LocalAuditLedger(runtime.data_dir, load_or_create_key(runtime.data_dir))
    (violation,) = [r for r in ledger.records() if r.action == "monitoring.violation"]
    assert violation.details["monitoring_run_id"] == run.run_id
    # And the reports are in the artifacts bucket
    report = json.loads(
        runtime.store.mirror_path(
            artifacts(runtime), run.reports["constraint_violations"].split("/", 3)[3].split("?")[0]
        ).read_bytes()
    )
    assert report["drift_metrics"]["drifted_features"] == DRIFTED
    # And the drift event started one retraining execution of kind "drift"
    (started,) = run.retraining
    assert started["status"] == "started"
    assert started["execution_name"].startswith("drift-")
    (execution,) = drift_executions(runtime)
    request = json.loads(runtime.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert request["trigger"]["kind"] == "drift"
    assert request["trigger"]["principal"] == "system:model-monitor"
    (result,) = runtime.wait([execution["executionArn"]], on_tick=auto_approver(runtime))
    assert result["status"] == "SUCCEEDED"


def test_cli_invoke_endpoints_and_monitor_run(deployed: Path) -> None:
    for command in (monitor, endpoints, invoke):
        main.add_command(command)
    cli = CliRunner()
    env = {"MLOPS_DATA_DIR": str(deployed)}
    text = sorted((deployed / "s3").glob("*/runs/*/prepared/train/train.csv"))[0].read_text()
    # 200 rows: with far fewer, sampling noise alone lifts the PSI of many-category features above 0.2.
    rows = random.Random(7).sample(list(csv.DictReader(io.StringIO(text))), 200)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([value for column, value in row.items() if column != TARGET] for row in rows)
    body = out.getvalue()

    invoked = cli.invoke(main, ["invoke", ENDPOINT, "--body", body, "--content-type", "text/csv"], env=env)
    assert invoked.exit_code == 0, invoked.output
    listed = cli.invoke(main, ["endpoints", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (entry,) = [e for e in json.loads(listed.output)["Endpoints"] if e["EndpointName"] == ENDPOINT]
    assert entry["EndpointStatus"] == "InService"
    assert sum(v["Invocations"] for v in entry["Invocations"]) >= 1
    ran = cli.invoke(main, ["monitor", "run", ENDPOINT, "--json"], env=env)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["violations"] == []
