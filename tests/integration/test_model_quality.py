"""Model quality from ground truth that arrives later, on the local runtime and through the CLI.

The deployed credit-risk model answers its own hold-out split, one request per applicant with an
inference id; the hold-out's labels uploaded with ``mlops labels upload`` give back the AUC the model
was registered with, and a label file with the outcomes flipped trips the model-quality gate:
violation, alert, retraining event.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.models import S3Ref
from governed_mlops_local.runtime import LocalRuntime
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR, auto_approver

pytestmark = pytest.mark.slow

MLOPS = str(Path(sys.executable).parent / "mlops")
ENDPOINT = "credit-risk"
TARGET = "creditability"


def mlops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def label_file(path: Path, rows: list[tuple[str, str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["inference_id", "label"])
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def answered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]], float]:
    """credit-risk/1 deployed and asked about every hold-out applicant: (data dir, (id, true label), registered AUC)."""
    data_dir = tmp_path_factory.mktemp("quality") / "data"
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        assert deliveries[0].result is not None
        (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
        assert result["status"] == "SUCCEEDED", result.get("cause")
        (version,) = LocalModelRegistry(data_dir).list_versions()
        bucket = runtime.template.buckets["ArtifactsBucket"].name
        holdout = runtime.store.get(S3Ref(bucket=bucket, key=f"runs/{version.execution_name}/prepared/test/test.csv"))
        rows = list(csv.DictReader(io.StringIO(holdout.decode())))
        truth = []
        for number, row in enumerate(rows):
            applicant = {k: v for k, v in row.items() if k != TARGET}
            body = json.dumps({"instances": [applicant]}).encode()
            runtime.hosting.invoke(
                ENDPOINT, body, "application/json", "application/json", inference_id=f"holdout-{number}"
            )
            truth.append((f"holdout-{number}", row[TARGET]))
    return data_dir, truth, version.metrics["auc"]


def test_the_holdout_labels_give_the_registered_auc_back_and_flipped_ones_trip_the_gate(
    answered: tuple[Path, list[tuple[str, str]], float], tmp_path: Path
) -> None:
    data_dir, truth, registered_auc = answered
    # Given the hold-out's true outcomes, uploaded as the README says
    uploaded = mlops(
        data_dir, "labels", "upload", str(label_file(tmp_path / "truth.csv", truth)), "--endpoint", ENDPOINT
    )
    assert uploaded.returncode == 0, uploaded.stderr
    assert f"stored {len(truth)} labels for {ENDPOINT}" in uploaded.stdout

    # When monitoring runs
    first = mlops(data_dir, "monitor", "run", ENDPOINT, "--json")

    # Then the model's quality on its labelled answers is the AUC it was registered with, and passes
    assert first.returncode == 0, first.stdout + first.stderr
    quality = json.loads(first.stdout)["model_quality"]
    assert quality["status"] == "no_violations"
    assert quality["labelled"] == len(truth)
    assert quality["auc"] == pytest.approx(registered_auc, abs=1e-12)
    assert quality["registered_auc"] == registered_auc

    # Given later labels that contradict every answer (a later upload wins for the same inference id)
    flipped = [(inference_id, "bad" if label == "good" else "good") for inference_id, label in truth]
    flipped_file = label_file(tmp_path / "flip.csv", flipped)
    assert mlops(data_dir, "labels", "upload", str(flipped_file), "--endpoint", ENDPOINT).returncode == 0
    # And new traffic, so the drift window has a request to analyse
    row = next(csv.DictReader(io.StringIO(GERMAN_CREDIT.read_text(encoding="utf-8"))))
    applicant = {k: v for k, v in row.items() if k != TARGET}
    sent = mlops(data_dir, "invoke", ENDPOINT, "--body", json.dumps({"instances": [applicant]}))
    assert sent.returncode == 0, sent.stderr

    # When monitoring runs again
    second = mlops(data_dir, "monitor", "run", ENDPOINT, "--json")

    # Then the quality gate is breached: exit 3, an alert about quality, the retraining event put
    assert second.returncode == 3, second.stdout + second.stderr
    run = json.loads(second.stdout)
    assert run["model_quality"]["status"] == "violations"
    assert run["model_quality"]["auc"] == pytest.approx(1 - registered_auc, abs=1e-12)
    assert "model_quality" in [v["constraint_check_type"] for v in run["violations"]]
    # Every label flipped also moves the post-training bias metrics (RD, DCA...) outside the model's limits
    assert run["bias_drift"]["status"] == "violations"
    alerts = [m for m in read_outbox(data_dir) if m.get("attributes", {}).get("kind") == "model-drift"]
    assert alerts[-1]["subject"] == (
        f"Bias drift and model quality below its gate on {ENDPOINT}: bias_drift, model_quality"
    )
    assert [d["rule"] for d in run["retraining"]]


def test_a_malformed_label_file_is_refused_and_nothing_is_stored(
    answered: tuple[Path, list[tuple[str, str]], float], tmp_path: Path
) -> None:
    data_dir, _, _ = answered
    bad = tmp_path / "bad.csv"
    bad.write_text("inference_id,outcome\nholdout-0,good\n", encoding="utf-8")

    refused = mlops(data_dir, "labels", "upload", str(bad), "--endpoint", ENDPOINT)

    assert refused.returncode == 2
    assert "LabelFileError" in refused.stderr
    assert "it must be exactly inference_id,label" in refused.stderr
    assert "nothing was stored" in refused.stderr
