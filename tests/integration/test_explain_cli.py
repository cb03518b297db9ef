"""`mlops explain`: a registered model's decision for one input row and the reasons for it.

One model is trained per module by running the whole local pipeline in-process on German credit;
every test then drives the command through click's CliRunner against that data directory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.config import parse_config
from governed_mlops_local.cli import main
from governed_mlops_local.runtime import LocalRuntime
from governed_mlops_ml.explain import humanise_feature_name
from tests.conftest import GERMAN_CONFIG, GERMAN_CREDIT, PROJECT_DIR, auto_approver

pytestmark = pytest.mark.slow

EXAMPLES = PROJECT_DIR / "examples"
DENIED = EXAMPLES / "applicant_denied.json"
APPROVED = EXAMPLES / "applicant_approved.json"
DENIED_ROW = 4  # examples/applicant_denied.json is this data row of german_credit.csv
FEATURES = parse_config(GERMAN_CONFIG.read_text()).dataset.features


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory holding one approved model version trained on German credit (credit-risk/1)."""
    data_dir = tmp_path_factory.mktemp("explain") / "mlops-data"
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        assert [d.error for d in deliveries] == [None]
        (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    (record,) = LocalModelRegistry(data_dir).list_versions()
    assert record.model_version == "credit-risk/1"
    return data_dir


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), "explain", *args])


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def denied_applicant() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DENIED.read_text())
    return document


def test_denied_applicant_gets_reasons_naming_real_features(model_dir: Path):
    # When the example applicant is explained
    result = run(model_dir, "credit-risk/1", "--input", str(DENIED))
    # Then the model denies and names at least one real feature, in plain words, as a reason
    assert result.exit_code == 0, result.output
    assert "Prediction  DENY" in result.stdout
    assert "Principal reasons for 'deny' (the features that lowered the score most)" in result.stdout
    reason_lines = [line for line in result.stdout.splitlines() if line.startswith("  1. ")]
    assert len(reason_lines) == 1
    assert any(humanise_feature_name(feature) in reason_lines[0] for feature in FEATURES)


def test_denied_applicant_as_json(model_dir: Path):
    document = as_json(run(model_dir, "credit-risk/1", "--input", str(DENIED), "--json"))
    assert document["decision"] == "deny"
    assert document["score"] < document["threshold"] == 0.5
    assert document["reasons_kind"] == "adverse_action"
    assert 1 <= len(document["reasons"]) <= 4
    assert {reason["feature"] for reason in document["reasons"]} <= set(FEATURES)
    assert all(reason["contribution"] < 0 for reason in document["reasons"])
    assert document["missing_features"] == []
    assert (
        document["lineage"]["model_sha256"] == LocalModelRegistry(model_dir).get("credit-risk/1").model_artifact.sha256
    )


def test_approved_applicant_is_approved(model_dir: Path):
    document = as_json(run(model_dir, "credit-risk/1", "--input", str(APPROVED), "--json"))
    assert document["decision"] == "approve"
    assert document["score"] >= document["threshold"]
    assert document["reasons_kind"] == "factors_lowering_score"


def test_row_of_the_training_data_matches_the_same_applicant_from_a_file(model_dir: Path):
    # Given the example file is data row 4 of the dataset in the model's lineage
    from_file = as_json(run(model_dir, "credit-risk/1", "--input", str(DENIED), "--json"))
    # When that row is explained with --row
    from_row = as_json(run(model_dir, "credit-risk/1", "--row", str(DENIED_ROW), "--json"))
    # Then the same score and reasons come out, with the observed label of the row
    assert from_row["row"] == DENIED_ROW
    assert "datasets/credit-risk/german_credit.csv" in from_row["source"]
    assert from_row["actual_label"] == "bad"
    assert from_row["score"] == pytest.approx(from_file["score"])
    assert [r["feature"] for r in from_row["reasons"]] == [r["feature"] for r in from_file["reasons"]]


def test_row_text_output_shows_the_observed_label(model_dir: Path):
    result = run(model_dir, "credit-risk/1", "--row", "0")
    assert result.exit_code == 0, result.output
    assert "data row 0" in result.stdout
    assert "Observed    creditability = 'good'" in result.stdout


def test_top_limits_the_number_of_reasons(model_dir: Path):
    document = as_json(run(model_dir, "credit-risk/1", "--input", str(DENIED), "--json", "--top", "2"))
    assert len(document["reasons"]) == 2


def test_unknown_model_version_exits_2_with_a_clear_message(model_dir: Path):
    result = run(model_dir, "credit-risk/99", "--input", str(DENIED))
    assert result.exit_code == 2
    assert "no model version 'credit-risk/99'" in result.stderr
    assert result.stdout == ""


def test_row_out_of_range_exits_2(model_dir: Path):
    result = run(model_dir, "credit-risk/1", "--row", "1000")
    assert result.exit_code == 2
    assert "row 1000 is out of range" in result.stderr
    assert "1000 data rows (0 to 999)" in result.stderr


def test_input_that_is_not_a_json_object_exits_2(model_dir: Path, tmp_path: Path):
    path = write_json(tmp_path / "list.json", [denied_applicant()])
    result = run(model_dir, "credit-risk/1", "--input", str(path))
    assert result.exit_code == 2
    assert "must hold one JSON object" in result.stderr
    assert "an array" in result.stderr


def test_input_that_is_not_json_exits_2(model_dir: Path, tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text('{"duration_in_month": 12,')
    result = run(model_dir, "credit-risk/1", "--input", str(path))
    assert result.exit_code == 2
    assert "is not valid JSON" in result.stderr


def test_missing_features_are_named_and_refused(model_dir: Path, tmp_path: Path):
    applicant = denied_applicant()
    del applicant["purpose"], applicant["age_in_years"]
    result = run(model_dir, "credit-risk/1", "--input", str(write_json(tmp_path / "a.json", applicant)))
    assert result.exit_code == 2
    assert "missing 2 of the model's 20 features: age_in_years, purpose" in result.stderr
    assert "--allow-missing" in result.stderr


def test_allow_missing_scores_absent_features_as_missing_and_says_so(model_dir: Path, tmp_path: Path):
    applicant = denied_applicant()
    del applicant["purpose"]
    path = write_json(tmp_path / "a.json", applicant)
    result = run(model_dir, "credit-risk/1", "--input", str(path), "--allow-missing")
    assert result.exit_code == 0, result.output
    assert "scored as missing" in result.stdout
    assert "purpose" in result.stdout.split("Missing values:", 1)[1]
    assert "absent from the input, scored as missing values (--allow-missing): purpose" in result.stderr
    document = as_json(run(model_dir, "credit-risk/1", "--input", str(path), "--allow-missing", "--json"))
    assert document["missing_features"] == ["purpose"]


def test_explicit_null_is_a_missing_value_without_the_flag(model_dir: Path, tmp_path: Path):
    applicant = denied_applicant() | {"telephone": None}
    document = as_json(
        run(model_dir, "credit-risk/1", "--input", str(write_json(tmp_path / "a.json", applicant)), "--json")
    )
    assert document["missing_features"] == ["telephone"]


def test_unknown_fields_are_warned_about_and_named(model_dir: Path, tmp_path: Path):
    applicant = denied_applicant() | {"credit_amout": 100, "favourite_colour": "blue"}
    result = run(model_dir, "credit-risk/1", "--input", str(write_json(tmp_path / "a.json", applicant)))
    assert result.exit_code == 0, result.output
    assert "warning: ignored 2 unknown field(s)" in result.stderr
    assert "'credit_amout' (did you mean 'credit_amount'?)" in result.stderr
    assert "'favourite_colour'" in result.stderr


def test_a_misspelt_feature_is_pointed_out_when_refused(model_dir: Path, tmp_path: Path):
    applicant = denied_applicant()
    applicant["credit_amout"] = applicant.pop("credit_amount")
    result = run(model_dir, "credit-risk/1", "--input", str(write_json(tmp_path / "a.json", applicant)))
    assert result.exit_code == 2
    assert "credit_amount (misspelt as 'credit_amout'?)" in result.stderr


def test_the_target_column_is_not_an_unknown_field(model_dir: Path, tmp_path: Path):
    applicant = denied_applicant() | {"creditability": "good"}
    document = as_json(
        run(model_dir, "credit-risk/1", "--input", str(write_json(tmp_path / "a.json", applicant)), "--json")
    )
    assert document["unused_columns"] == ["creditability"]
    assert document["unknown_fields"] == []


def test_a_non_numeric_value_of_a_numeric_feature_exits_2(model_dir: Path, tmp_path: Path):
    applicant = denied_applicant() | {"credit_amount": "a lot"}
    result = run(model_dir, "credit-risk/1", "--input", str(write_json(tmp_path / "a.json", applicant)))
    assert result.exit_code == 2
    assert "'credit_amount' is numeric" in result.stderr


def test_out_of_range_and_unseen_values_are_scored_with_warnings(model_dir: Path, tmp_path: Path):
    applicant = denied_applicant() | {"credit_amount": 5_000_000, "housing": "castle"}
    result = run(model_dir, "credit-risk/1", "--input", str(write_json(tmp_path / "a.json", applicant)))
    assert result.exit_code == 0, result.output
    assert "credit_amount = 5000000 is outside the configured range [1, 1000000]" in result.stderr
    assert "housing = 'castle' was never seen in training" in result.stderr


@pytest.mark.parametrize("args", [[], ["--row", "0", "--input", str(DENIED)]], ids=["neither", "both"])
def test_exactly_one_applicant_source_is_required(model_dir: Path, args: list[str]):
    result = run(model_dir, "credit-risk/1", *args)
    assert result.exit_code == 2
    assert "exactly one of --input ROW.json or --row N" in result.output


def test_a_model_archive_that_differs_from_the_lineage_is_refused(model_dir: Path, tmp_path: Path):
    # Given a copy of the data directory whose stored model archive was altered on disk
    tampered = tmp_path / "tampered"
    shutil.copytree(model_dir, tampered)
    digest = LocalModelRegistry(tampered).get("credit-risk/1").model_artifact.sha256
    LocalObjectStore(tampered).blob_path(digest).write_bytes(b"not the registered model")
    # When the model is explained, Then it is refused, naming the mismatch
    result = run(tampered, "credit-risk/1", "--input", str(DENIED))
    assert result.exit_code == 2
    assert "refusing to explain with an object other than the registered one" in result.stderr
