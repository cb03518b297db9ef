"""Bias drift in monitoring: the post-training bias metrics over captured answers joined with uploaded labels,
per facet of the model's own configuration, against the limits it was registered with.

Runs the monitoring service (the code of ``mlops monitor run`` and of the scheduled processing job) on the
local adapters with the stand-in hosting of ``test_monitor_min_samples``; the captured records carry the
inference ids and scores the endpoint answered with, as Data Capture records them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from governed_mlops_local.services.monitoring import INSUFFICIENT_DATA, InsufficientCaptureData
from governed_mlops_ml.artifacts import read_dataset
from tests.conftest import GERMAN_CREDIT
from tests.integration import test_monitor_min_samples as min_samples_module
from tests.integration.test_monitor_min_samples import (
    ARTIFACTS,
    ENDPOINT,
    NOW,
    SERVING_CONFIG,
    TARGET,
    World,
    make_world,
)

FACET_SEX = "personal_status_and_sex"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return read_dataset(GERMAN_CREDIT)


def capture_answers(world: World, frame: pd.DataFrame, start: int, count: int) -> list[tuple[str, str]]:
    """``count`` applicants answered as a perfect model would (0.9 for good, 0.1 for bad), one request each,
    with an inference id; returns (inference id, true outcome)."""
    lines, truth = [], []
    for number in range(start, start + count):
        row = frame.iloc[number]
        applicant = {k: (None if pd.isna(v) else v) for k, v in row.drop(labels=[TARGET]).to_dict().items()}
        world.hosting.sent += 1
        when = NOW + timedelta(seconds=world.hosting.sent)
        inference_id = f"applicant-{number}"
        score = 0.9 if row[TARGET] == "good" else 0.1
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "application/json",
                    "encoding": "JSON",
                    "data": json.dumps({"instances": [applicant]}, default=str),
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "encoding": "JSON",
                    "data": json.dumps({"predictions": [{"score": score}]}),
                },
            },
            "eventMetadata": {
                "eventId": f"event-{world.hosting.sent}",
                "inferenceId": inference_id,
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "endpointConfigName": SERVING_CONFIG,
            },
            "eventVersion": "0",
        }
        lines.append(json.dumps(record, default=str) + "\n")
        truth.append((inference_id, str(row[TARGET])))
    with (world.hosting.capture_dir / "capture.jsonl").open("a", encoding="utf-8") as handle:
        handle.writelines(lines)
    return truth


def upload_labels(world: World, name: str, labels: list[tuple[str, str]]) -> None:
    body = "inference_id,label\n" + "".join(f"{i},{label}\n" for i, label in labels)
    world.store.put(ARTIFACTS, f"ground-truth/{ENDPOINT}/{name}", body.encode(), "text/csv")


def bias_drifted(frame: pd.DataFrame, truth: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Female applicants the model turned down turn out to have repaid: facet d's recall collapses."""
    drifted = []
    for inference_id, label in truth:
        row = frame.iloc[int(inference_id.rsplit("-", 1)[1])]
        female = str(row[FACET_SEX]).startswith("female")
        drifted.append((inference_id, "good" if female else label))
    return drifted


def stored(world: World, run_id: str, name: str) -> dict[str, Any]:
    return json.loads(world.store.mirror_path(ARTIFACTS, f"monitoring/{ENDPOINT}/{run_id}/{name}").read_text())


def test_true_labels_pass_and_a_bias_drifted_label_set_trips_bias_drift(tmp_path: Path, frame: pd.DataFrame) -> None:
    # Given every applicant of the data answered, and their true outcomes
    world = make_world(tmp_path, frame, min_samples=100)
    truth = capture_answers(world, frame, 0, len(frame))
    upload_labels(world, "truth.csv", truth)

    # When the monitor runs
    first = world.monitor()

    # Then every facet of the model's configuration is judged and within its limits
    assert first.bias_drift is not None
    assert first.bias_drift["status"] == "no_violations", first.bias_drift
    report = stored(world, first.run_id, "bias_drift.json")
    assert set(report["facets"]) == {"sex", "age_25_or_younger", "foreign_worker"}
    assert report["labelled"] == len(frame)
    rd = next(m for m in report["facets"]["sex"]["metrics"] if m["name"] == "RD")
    assert rd["value"] == pytest.approx(0.0)
    assert rd["limit"] == {"min": -0.15, "max": 0.15}
    assert world.events == []

    # Given a later label file in which turned-down female applicants repaid (no new request captured)
    upload_labels(world, "z-later.csv", bias_drifted(frame, truth))

    # When the monitor runs again
    second = world.monitor()

    # Then the new labels are judged although no request is new, bias drift names the facet and metric,
    # and it is acted on like drift: alert, Model Drift Detected
    assert second.records == 0
    assert second.bias_drift is not None
    assert second.bias_drift["status"] == "violations"
    breached = {(b["facet"], b["metric"]) for b in second.bias_drift["breaches"]}
    assert ("sex", "RD") in breached
    assert "bias_drift" in {v["constraint_check_type"] for v in second.violations}
    assert second.status == "violations"
    assert [event["detail-type"] for event in world.events] == ["Model Drift Detected"]
    assert "Bias drift" in world.alerts[-1][0]


def test_a_tiny_window_is_insufficient_data_not_drift(tmp_path: Path, frame: pd.DataFrame) -> None:
    # Given 12 answered applicants, labelled so that they would breach, and a model asking for 100 samples
    world = make_world(tmp_path, frame, min_samples=100)
    truth = capture_answers(world, frame, 0, 12)
    upload_labels(world, "few.csv", bias_drifted(frame, truth))

    # When the monitor runs
    run = world.monitor()

    # Then bias drift, model quality and drift all say insufficient data, and nothing is acted on
    assert run.bias_drift is not None
    assert run.bias_drift["status"] == INSUFFICIENT_DATA
    assert "12 labelled answers, 100 needed" in run.bias_drift["reason"]
    assert run.model_quality is not None
    assert run.model_quality["status"] == INSUFFICIENT_DATA
    assert run.status == INSUFFICIENT_DATA
    assert (run.violations, world.events, world.alerts) == ([], [], [])


def test_no_new_request_and_no_new_label_file_is_nothing_to_analyse(tmp_path: Path, frame: pd.DataFrame) -> None:
    # Given a run that judged the requests and their labels
    world = make_world(tmp_path, frame, min_samples=100)
    upload_labels(world, "truth.csv", capture_answers(world, frame, 0, len(frame)))
    assert world.monitor().status == "no_violations"

    # When the monitor runs again with nothing new
    with pytest.raises(InsufficientCaptureData) as raised:
        world.monitor()

    # Then it says so: no request since the window's end and no new label file
    assert "no new label file arrived" in str(raised.value)


def test_a_facet_the_requests_do_not_carry_is_reported_not_judged(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a model whose bias configuration also names a column the requests do not carry
    plain = min_samples_module.config_with_min_samples
    extra = '    - name: outside_the_model\n      column: not_captured_column\n      values: ["yes"]\n'

    def with_extra_facet(min_samples: int) -> bytes:
        text = plain(min_samples).decode()
        patched = text.replace("  group_column: purpose", extra + "  group_column: purpose", 1)
        assert patched != text
        return patched.encode()

    monkeypatch.setattr(min_samples_module, "config_with_min_samples", with_extra_facet)
    world = make_world(tmp_path, frame, min_samples=100)
    upload_labels(world, "truth.csv", capture_answers(world, frame, 0, len(frame)))

    # When the monitor runs
    run = world.monitor()

    # Then that facet is insufficient data with the reason; the others are judged
    report = stored(world, run.run_id, "bias_drift.json")
    assert report["facets"]["outside_the_model"]["status"] == INSUFFICIENT_DATA
    assert "not_captured_column" in report["facets"]["outside_the_model"]["reason"]
    assert report["facets"]["sex"]["status"] == "no_violations"


def test_mlops_monitor_run_prints_the_bias_breach_and_exits_3(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from click.testing import CliRunner

    from governed_mlops_local.cli import monitor as monitor_cli
    from tests.integration.test_monitor_min_samples import serve_locally

    # Given the served model's answers and a bias-drifted label file
    world = make_world(tmp_path, frame, min_samples=100)
    upload_labels(world, "drifted.csv", bias_drifted(frame, capture_answers(world, frame, 0, len(frame))))
    serve_locally(world, monkeypatch)

    # When an operator runs the monitor
    result = CliRunner().invoke(monitor_cli.monitor, ["run", ENDPOINT], obj=SimpleNamespace())

    # Then it names the facet, the metric and the limit, and exits 3 (violations acted on)
    assert result.exit_code == 3, result.output
    assert "Bias drift   " in result.output
    assert "facet 'sex' (female*) RD = " in result.output
    assert "outside limit [min -0.15, max 0.15] on captured traffic" in result.output
    assert [event["detail-type"] for event in world.events] == ["Model Drift Detected"]
