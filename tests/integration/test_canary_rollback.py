"""A canary whose behaviour differs from the approved model is rolled back, and the run says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.config import parse_config
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_local.traffic import TrafficGenerator
from tests.conftest import GERMAN_CONFIG, GERMAN_CREDIT, PROJECT_DIR, auto_approver, load_event

pytestmark = pytest.mark.slow


def test_a_flipped_canary_rolls_back_with_zero_failed_client_requests(tmp_path: Path):
    data_dir = tmp_path / "data"
    # Given an endpoint serving a good model (first deployment)
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        (first,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
        assert first["status"] == "SUCCEEDED", first.get("cause")
        endpoint = "credit-risk"  # models/credit-risk: the endpoint defaults to the model's name
        good_config = runtime.hosting.describe_endpoint(endpoint)["EndpointConfigName"]

    # When a new configuration flips the favourable label (the model now scores P(bad)): it passes the
    # hold-out gates, but approves far fewer applicants than any approved model did
    flipped = tmp_path / "flipped.yaml"
    text = GERMAN_CONFIG.read_text().replace("positive_label: good", "positive_label: bad")
    config = parse_config(text)
    assert config.bias is not None
    flipped.write_text(
        text.split("\nbias:")[0] + "\nbias:\n  facets:\n    - name: sex\n      column: "
        "personal_status_and_sex\n      prefix: female\n  thresholds: {}\n"
    )
    with LocalRuntime(PROJECT_DIR, data_dir, models={"credit-risk": flipped}) as runtime:
        rows = TrafficGenerator.rows_from_csv(GERMAN_CREDIT.read_bytes(), config.dataset.features)
        traffic = TrafficGenerator(runtime.gateway.url, endpoint, rows, rate=60).start()
        try:
            deliveries = runtime.send_event(load_event("codecommit_push.json"))
            (second,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
        finally:
            traffic.stop()
        described = runtime.hosting.describe_endpoint(endpoint)

    # Then the endpoint rolled back to the good config, the run failed with the rollback error,
    # the model version is marked, and no client request failed during shift and rollback
    assert second["status"] == "FAILED"
    assert second["error"] == "DeploymentRolledBack"
    assert "behaviour" in json.loads(second["cause"])["errorMessage"]
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == good_config
    assert sum(traffic.errors.values()) == 0
    assert traffic.sent > 50
    record = LocalModelRegistry(data_dir).list_versions()[-1]
    assert record.deployments[-1]["status"] == "RolledBack"
    assert record.deployments[-1]["serving_config"] == good_config
