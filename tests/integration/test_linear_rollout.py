"""TrafficShiftType LINEAR: the state machine's linear update, driven by the local hosting emulator step by step."""

from __future__ import annotations

from pathlib import Path

import pytest

from governed_mlops_local.runtime import LocalRuntime
from tests.conftest import GERMAN_CONFIG, GERMAN_CREDIT, PROJECT_DIR, auto_approver

pytestmark = pytest.mark.slow


def test_a_linear_update_shifts_traffic_in_steps_and_completes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    linear = {"TrafficShiftType": "LINEAR", "LinearStepPercent": "50"}
    # Given an endpoint serving a first model, deployed by a runtime whose template says LINEAR
    with LocalRuntime(PROJECT_DIR, data_dir, parameter_overrides=linear) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        (first,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
        assert first["status"] == "SUCCEEDED", first.get("cause")

    # When a changed configuration (a looser latency limit) retrains and deploys over it
    changed = tmp_path / "config.yaml"
    changed.write_text(GERMAN_CONFIG.read_text().replace("max_latency_ms: 500", "max_latency_ms: 600"))
    with LocalRuntime(PROJECT_DIR, data_dir, models={"credit-risk": changed}, parameter_overrides=linear) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit_v2.csv")
        (second,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
        described = runtime.hosting.describe_endpoint("credit-risk")
        events = runtime.hosting.deployment_events("credit-risk")

    # Then the update ran as SageMaker's LINEAR policy: two 50% steps, each baked, then the full shift
    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{second['name']}-config"
    routing = described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "LINEAR"
    assert routing["LinearStepSize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}
    steps = [e["Message"] for e in events if e["Message"].startswith("linear step")]
    assert [s.split(";")[0] for s in steps] == ["linear step 1/2: 50% of traffic", "linear step 2/2: 100% of traffic"]
