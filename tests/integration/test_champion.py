"""Champion and challenger on the local runtime: an identical retrain ends as NoChange; a challenger is
scored against the champion on its own hold-out and stopped when it falls short."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local.runtime import LocalRuntime
from tests.conftest import GERMAN_CONFIG, GERMAN_CREDIT, PROJECT_DIR, auto_approver, load_event
from tests.dataset_variants import reexported

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def champion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory in which credit-risk/1 is approved (the champion), trained on German credit."""
    data_dir = tmp_path_factory.mktemp("champion") / "data"
    with LocalRuntime(PROJECT_DIR, data_dir, serve_http=True) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    return data_dir


@pytest.fixture
def data_dir(champion_dir: Path, tmp_path: Path) -> Path:
    """A copy of the champion's data directory, so each test starts from the same registry."""
    copy = tmp_path / "data"
    shutil.copytree(champion_dir, copy)
    return copy


def _run(runtime: LocalRuntime, start: Callable[[LocalRuntime], list[Any]]) -> dict[str, Any]:
    deliveries = start(runtime)
    assert [d.error for d in deliveries] == [None]
    (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    return result


def _states(runtime: LocalRuntime, name: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in runtime.executions.history(name) if "Entered" in e["type"]]


def _upload(data: bytes, key: str) -> Callable[[LocalRuntime], list[Any]]:
    return lambda runtime: runtime.upload(data, key)[1]


def test_an_identical_retrain_ends_as_no_change_without_training_or_asking_anyone(data_dir: Path) -> None:
    # Given the champion credit-risk/1, When a push retrains it on the same data, job code and configuration
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        result = _run(runtime, lambda r: r.send_event(load_event("codecommit_push.json")))
        states = _states(runtime, result["name"])

    # Then the run succeeds as NoChange naming the champion, having trained and asked nothing
    assert result["status"] == "SUCCEEDED", result.get("cause")
    output = json.loads(result["output"])
    assert (output["outcome"], output["champion"]) == ("NoChange", "credit-risk/1")
    assert states[-3:] == ["Compare with Champion", "Check for Change", "No Change"]
    assert not (data_dir / "sagemaker" / "training-jobs" / f"{result['name']}-train-0").exists()
    assert [v.model_version for v in LocalModelRegistry(data_dir).list_versions()] == ["credit-risk/1"]
    # And the audit ledger records it, then the run's end
    ledger = LocalAuditLedger(data_dir, load_or_create_key(data_dir))
    records = ledger.records(subject=result["name"])
    assert [r.action for r in records] == ["pipeline.triggered", "pipeline.no_change", "pipeline.succeeded"]
    assert records[1].details["champion"] == "credit-risk/1"


def test_a_challenger_on_a_new_dataset_version_is_compared_and_the_comparison_is_evidence(data_dir: Path) -> None:
    # Given the champion, When the same rows arrive as a new dataset version (re-exported: new bytes)
    data = reexported(GERMAN_CREDIT.read_bytes(), 1)
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        result = _run(runtime, _upload(data, "datasets/credit-risk/german_credit_v2.csv"))
        states = _states(runtime, result["name"])
        store = runtime.store

    # Then the champion was scored on the challenger's hold-out and the challenger accepted
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert states.index("Gate Model Bias") < states.index("Evaluate Champion") < states.index("Check Champion Gate")
    record = LocalModelRegistry(data_dir).get("credit-risk/2")
    comparison = json.loads(store.get(record.reports["champion_comparison"].ref))
    assert comparison["verdict"] == "challenger-accepted"
    assert comparison["champion"] == "credit-risk/1"
    assert comparison["changed"] == ["data"]
    # the same rows train the same model: every hold-out row is unseen by the champion, and nothing moved
    assert comparison["auc"]["rows"] == comparison["hold_out_rows"] == 250
    assert comparison["auc"]["drop"] == 0
    assert comparison["metrics"]["champion"]["auc"] == comparison["metrics"]["challenger"]["auc"]
    assert comparison["bias"]
    assert all(row["passed"] for row in comparison["bias"])
    assert comparison["top_features"]["champion"] == comparison["top_features"]["challenger"]
    # And the evidence report shows the comparison
    html = store.get(record.reports["evidence_report"].ref).decode()
    assert "Compared with the champion" in html
    assert "challenger-accepted" in html or "Challenger accepted" in html


def test_a_weaker_challenger_fails_the_champion_gate_and_is_not_registered(data_dir: Path, tmp_path: Path) -> None:
    # Given a configuration that trains a much weaker model (3 rounds of stumps) whose own gates and bias
    # limits are relaxed, so that only the comparison with the champion can stop it
    text = GERMAN_CONFIG.read_text()
    weak = text.replace("max_depth: 3", "max_depth: 1").replace("num_round: 150", "num_round: 3")
    weak = weak.replace("min_auc: 0.70", "min_auc: 0.5").replace("min_ks: 0.30", "min_ks: 0.0")
    weak = weak.replace("min_accuracy: 0.65", "min_accuracy: 0.0").split("\n  thresholds:")[0] + "\n  thresholds: {}\n"
    config = tmp_path / "weak.yaml"
    config.write_text(weak)

    # When it retrains on the champion's data
    with LocalRuntime(PROJECT_DIR, data_dir, models={"credit-risk": config}) as runtime:
        result = _run(runtime, lambda r: r.send_event(load_event("codecommit_push.json")))
        states = _states(runtime, result["name"])
        store = runtime.store

    # Then the run fails with ChampionGateFailed naming the AUC drop, and nothing was registered
    assert result["status"] == "FAILED"
    assert result["error"] == "ChampionGateFailed"
    message = json.loads(result["cause"])["errorMessage"]
    assert "credit-risk/1" in message
    assert "auc" in message
    assert states[-2:] == ["Check Champion Gate", "Pipeline Failed"]
    assert [v.model_version for v in LocalModelRegistry(data_dir).list_versions()] == ["credit-risk/1"]
    # and the comparison it decided on was written before it failed
    report_uri = message.rsplit("report: ", 1)[1].rstrip(")")
    bucket, _, key = report_uri.removeprefix("s3://").partition("/")
    comparison = json.loads(store.mirror_path(bucket, key).read_text())
    assert comparison["verdict"] == "champion-retained"
    assert comparison["changed"] == ["config"]
    assert comparison["auc"]["drop"] > 0.01
