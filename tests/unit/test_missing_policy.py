"""Missing values as a per-column policy (README "Missing values"), applied alike by validation, training,
serving and monitoring: allow, impute-median, impute-mode and reject."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from governed_mlops.config import ColumnMissing, PipelineConfig
from governed_mlops.domain.hyperparameters import parse_hyperparameters
from governed_mlops.domain.validation import missing_limit, validate_dataset
from governed_mlops.errors import JobInputError
from governed_mlops.models import ObjectDigest
from governed_mlops.services.stages import job_config_document
from governed_mlops_ml.artifacts import load_feature_spec, read_dataset
from governed_mlops_ml.features import (
    FeatureSpec,
    MissingTreatment,
    MissingValueRefused,
    encode_frame,
    feature_spec_from_dict,
    fit_feature_spec,
)
from governed_mlops_ml.job_config import JobConfig, MissingRule, parse_job_config
from governed_mlops_ml.model import score_matrix
from governed_mlops_ml.monitoring import PayloadError, baseline, detect_drift, parse_payload
from governed_mlops_ml.training import train_model
from tests.unit.conftest import GERMAN_CREDIT_CSV, REPO_ROOT

Table = tuple[list[str], list[list[str]]]
DigestOf = Callable[[bytes], ObjectDigest]

TRAIN_JOB = REPO_ROOT / "jobs" / "train.py"


def with_missing(config: PipelineConfig, **policies: ColumnMissing) -> PipelineConfig:
    """``config`` with ``dataset.missing`` set to ``policies``."""
    dataset = config.dataset.model_copy(update={"missing": policies})
    return config.model_copy(update={"dataset": dataset})


def blank_rows(table: Table, column: str, rows: set[int]) -> bytes:
    header, body = table
    position = header.index(column)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(
        [value if i != position or index not in rows else "" for i, value in enumerate(row)]
        for index, row in enumerate(body)
    )
    return buffer.getvalue().encode()


def job_config(
    numeric: tuple[str, ...] = ("amount", "age"),
    categorical: tuple[str, ...] = ("colour",),
    **rules: MissingRule,
) -> JobConfig:
    return JobConfig("outcome", "good", numeric, categorical, 7, 0.5, tuple(rules.items()))


def small_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": ["100", None, "80", "40", "70"],
            "age": ["30", "41", None, "35", "50"],
            "colour": ["red", "blue", "red", None, "green"],
            "outcome": ["good", "bad", "good", "bad", "good"],
        }
    )


# -- validation -----------------------------------------------------------------------------------


def test_reject_fails_validation_on_one_missing_value_naming_column_policy_and_row(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given one missing age (0.1%, far under the global 5% limit) and age's policy reject
    config = with_missing(german_credit_config, age_in_years=ColumnMissing(policy="reject"))
    data = blank_rows(german_credit_table, "age_in_years", {41})

    # When the data is validated
    report = validate_dataset(data, config, digest_of(data))

    # Then it fails with one issue naming the column, the policy and the file line of the row
    (issue,) = [i for i in report.issues if i.check == "missing_values"]
    assert not report.passed
    assert issue.column == "age_in_years"
    assert "reject" in issue.message
    assert "'age_in_years'" in issue.message
    assert "line 43" in issue.message  # data row 41 (0-based) is line 43: the header is line 1


def test_the_same_missing_value_passes_under_allow(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    data = blank_rows(german_credit_table, "age_in_years", {41})

    report = validate_dataset(data, german_credit_config, digest_of(data))

    assert report.passed, report.issues


def test_a_column_limit_overrides_the_global_limit(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given 8% of ages missing: above the global 5%, within age's own 10%
    config = with_missing(german_credit_config, age_in_years=ColumnMissing(policy="impute-median", max_fraction=0.1))
    data = blank_rows(german_credit_table, "age_in_years", set(range(0, 1000, 12)) | {1})
    assert missing_limit(config, "age_in_years") == 0.1

    report = validate_dataset(data, config, digest_of(data))

    assert report.passed, report.issues


def test_a_stricter_column_limit_fails_and_names_its_setting(
    german_credit_table: Table, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    # Given 2% of housing missing: within the global 5%, above housing's own 1%
    config = with_missing(german_credit_config, housing=ColumnMissing(policy="impute-mode", max_fraction=0.01))
    data = blank_rows(german_credit_table, "housing", set(range(0, 1000, 50)))

    report = validate_dataset(data, config, digest_of(data))

    (issue,) = report.issues
    assert (issue.check, issue.column) == ("missing_values", "housing")
    assert "dataset.missing.housing.max_fraction" in issue.message
    assert "impute-mode" in issue.message


def test_statistics_name_the_policy_applied_and_its_limit(
    german_credit_bytes: bytes, german_credit_config: PipelineConfig, digest_of: DigestOf
) -> None:
    config = with_missing(
        german_credit_config, age_in_years=ColumnMissing(policy="impute-median"), job=ColumnMissing(policy="reject")
    )

    statistics = validate_dataset(german_credit_bytes, config, digest_of(german_credit_bytes)).statistics

    assert (statistics["age_in_years"]["missing_policy"], statistics["age_in_years"]["max_missing_fraction"]) == (
        "impute-median",
        0.05,
    )
    assert (statistics["job"]["missing_policy"], statistics["job"]["max_missing_fraction"]) == ("reject", 0.0)
    assert (statistics["housing"]["missing_policy"], statistics["housing"]["max_missing_fraction"]) == ("allow", 0.05)
    assert "missing_policy" not in statistics["creditability"]  # the target has no policy: it may never miss


# -- the job config ---------------------------------------------------------------------------------


def test_job_config_carries_every_features_policy_and_limit(german_credit_config: PipelineConfig) -> None:
    config = with_missing(
        german_credit_config,
        age_in_years=ColumnMissing(policy="impute-median", max_fraction=0.2),
        housing=ColumnMissing(policy="reject", max_fraction=0.3),
    )

    parsed = parse_job_config(json.loads(json.dumps(job_config_document(config))))

    assert {name for name, _ in parsed.missing} == set(config.dataset.features)
    assert parsed.missing_rule("age_in_years") == MissingRule("impute-median", 0.2)
    assert parsed.missing_rule("housing") == MissingRule("reject", 0.0)  # reject allows none, whatever it says
    assert parsed.missing_rule("purpose") == MissingRule("allow", 0.05)


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"amount": {"policy": "drop"}}, "policy 'drop'"),
        ({"amount": {"policy": "allow", "max_fraction": 2}}, "max_fraction"),
        ({"outcome": {"policy": "allow"}}, "not features"),
        ({"colour": {"policy": "impute-median"}}, "impute-median needs a numeric feature"),
    ],
)
def test_job_config_refuses_bad_missing_rules(missing: dict[str, Any], message: str) -> None:
    document = {**job_config().to_json_dict(), "missing": missing}

    with pytest.raises(JobInputError, match=message):
        parse_job_config(document)


# -- training: the spec learns the imputed values on the training split -----------------------------


def test_impute_median_is_learned_on_the_training_split_only() -> None:
    # Given a training split and a test split whose amounts are far larger
    config = job_config(amount=MissingRule("impute-median", 0.5))
    train = small_frame()
    test = small_frame().assign(amount=[None, "9000", "9100", "9200", "9300"])

    # When the spec is fitted on the training split and both splits are encoded
    spec = fit_feature_spec(train, config)
    train_matrix, test_matrix = encode_frame(train, spec), encode_frame(test, spec)

    # Then the imputed value is the training median (of 100, 80, 40, 70), in both splits
    assert spec.missing_for("amount") == MissingTreatment("impute-median", 0.5, 75.0)
    assert (train_matrix[1, 0], test_matrix[0, 0]) == (75.0, 75.0)


def test_impute_mode_of_a_categorical_sets_the_most_frequent_categorys_column() -> None:
    spec = fit_feature_spec(small_frame(), job_config(colour=MissingRule("impute-mode", 0.5)))

    matrix = encode_frame(small_frame(), spec)

    assert spec.missing_for("colour").value == "red"
    assert spec.encoded_columns[2:] == ("colour=blue", "colour=green", "colour=red")
    np.testing.assert_array_equal(matrix[3, 2:], [0, 0, 1])


def test_impute_mode_breaks_ties_by_the_smallest_value() -> None:
    frame = small_frame().assign(age=["30", "41", "41", "30", None])

    spec = fit_feature_spec(frame, job_config(age=MissingRule("impute-mode", 0.5)))

    assert spec.missing_for("age").value == 30.0


def test_allow_leaves_numeric_nan_and_gives_a_categorical_its_own_missing_state() -> None:
    spec = fit_feature_spec(small_frame(), job_config())

    matrix = encode_frame(small_frame(), spec)

    assert math.isnan(matrix[1, 0])  # XGBoost's native missing handling
    # The missing colour is the all-zero block, a state no training category encodes to
    np.testing.assert_array_equal(matrix[3, 2:], [0, 0, 0])
    assert all(matrix[row, 2:].sum() == 1 for row in (0, 1, 2, 4))


def test_reject_refuses_a_missing_value_in_training_naming_the_feature() -> None:
    with pytest.raises(MissingValueRefused, match=r"feature 'age' is missing in 1 row\(s\) \(row 3"):
        fit_feature_spec(small_frame(), job_config(age=MissingRule("reject", 0.0)))


def test_an_imputed_feature_without_any_value_cannot_be_trained() -> None:
    frame = small_frame().assign(amount=[None] * 5)

    with pytest.raises(JobInputError, match="no value in the training data"):
        fit_feature_spec(frame, job_config(amount=MissingRule("impute-median", 1.0)))


def test_the_spec_document_stores_policies_and_imputed_values() -> None:
    config = job_config(amount=MissingRule("impute-median", 0.5), colour=MissingRule("impute-mode", 0.5))
    spec = fit_feature_spec(small_frame(), config)

    document = json.loads(json.dumps(spec.to_json_dict()))

    assert document["format_version"] == 2
    assert document["missing"]["amount"] == {"policy": "impute-median", "max_fraction": 0.5, "value": 75.0}
    assert document["missing"]["colour"] == {"policy": "impute-mode", "max_fraction": 0.5, "value": "red"}
    assert document["missing"]["age"] == {"policy": "allow", "max_fraction": None, "value": None}
    assert feature_spec_from_dict(document) == spec


def test_a_format_1_spec_is_read_as_allow_everywhere() -> None:
    document = fit_feature_spec(small_frame(), job_config()).to_json_dict()
    legacy = {key: value for key, value in document.items() if key != "missing"} | {"format_version": 1}

    spec = feature_spec_from_dict(legacy)

    assert spec.missing == ()
    assert spec.missing_for("amount") == MissingTreatment("allow", None, None)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"policy": "impute-mode", "max_fraction": 0.1, "value": "purple"}, "not a learned category"),
        ({"policy": "allow", "max_fraction": 0.1, "value": "red"}, "imputes nothing"),
        ({"policy": "sometimes", "max_fraction": 0.1, "value": None}, "unknown policy"),
    ],
)
def test_a_tampered_missing_section_is_refused(entry: dict[str, Any], message: str) -> None:
    document = fit_feature_spec(small_frame(), job_config()).to_json_dict()
    document["missing"]["colour"] = entry

    with pytest.raises(JobInputError, match=message):
        feature_spec_from_dict(document)


def test_the_training_job_stores_the_imputed_value_in_the_model_artifact(tmp_path: Path) -> None:
    # Given the training job's channels with a job config that imputes age by its median
    module_spec = importlib.util.spec_from_file_location("train_job", TRAIN_JOB)
    assert module_spec is not None
    assert module_spec.loader is not None
    train_job = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(train_job)
    frame = read_dataset(GERMAN_CREDIT_CSV).head(300).copy()
    frame.loc[::10, "age_in_years"] = None
    channels = {name: tmp_path / name for name in ("train", "config", "model", "output")}
    for directory in channels.values():
        directory.mkdir()
    frame.to_csv(channels["train"] / "train.csv", index=False)
    config = {
        "target": "creditability",
        "positive_label": "good",
        "numeric_features": ["age_in_years", "credit_amount"],
        "categorical_features": ["housing"],
        "seed": 7,
        "decision_threshold": 0.5,
        "missing": {"age_in_years": {"policy": "impute-median", "max_fraction": 0.2}},
    }
    (channels["config"] / "job_config.json").write_text(json.dumps(config), encoding="utf-8")

    # When the job trains
    train_job.main(
        {
            "SM_CHANNEL_TRAIN": str(channels["train"]),
            "SM_CHANNEL_CONFIG": str(channels["config"]),
            "SM_MODEL_DIR": str(channels["model"]),
            "SM_OUTPUT_DATA_DIR": str(channels["output"]),
            "SM_HPS": json.dumps({"num_round": "5"}),
        },
        [],
    )

    # Then the model's feature spec holds the training split's median age
    median = float(pd.to_numeric(frame["age_in_years"]).median())
    assert load_feature_spec(channels["model"]).missing_for("age_in_years") == MissingTreatment(
        "impute-median", 0.2, median
    )
    metrics = json.loads((channels["output"] / "training_metrics.json").read_text())
    assert metrics["missing_values"]["age_in_years"] == {
        "policy": "impute-median",
        "max_fraction": 0.2,
        "value": median,
        "missing_in_training": 30,
    }


# -- serving: the same stored values ----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_with_median() -> tuple[xgb.Booster, FeatureSpec, pd.DataFrame]:
    """A model of the German credit data with 10% of ages missing and policy impute-median."""
    frame = read_dataset(GERMAN_CREDIT_CSV)
    frame.loc[::10, "age_in_years"] = None
    config = JobConfig(
        "creditability",
        "good",
        ("age_in_years", "credit_amount", "duration_in_month"),
        ("housing", "purpose"),
        7,
        0.5,
        (("age_in_years", MissingRule("impute-median", 0.2)), ("housing", MissingRule("impute-mode", 0.2))),
    )
    trained = train_model(frame, config, parse_hyperparameters({"num_round": 40, "max_depth": 4}))
    return trained.booster, trained.spec, frame


def json_body(instances: list[dict[str, Any]]) -> bytes:
    return json.dumps({"instances": instances}).encode()


def applicant(frame: pd.DataFrame, row: int, spec: FeatureSpec, **changes: Any) -> dict[str, Any]:
    return {name: frame.iloc[row][name] for name in spec.raw_features} | changes


def test_the_value_imputed_at_serving_is_the_one_computed_in_training(
    trained_with_median: tuple[xgb.Booster, FeatureSpec, pd.DataFrame],
) -> None:
    _, spec, frame = trained_with_median
    training_median = float(pd.to_numeric(frame["age_in_years"]).median())
    body = json_body([applicant(frame, 1, spec, age_in_years=None, housing=None)])

    served = parse_payload(body, "application/json", spec).matrix(spec)

    assert served[0, 0] == training_median == spec.missing_for("age_in_years").value
    housing = spec.encoded_columns.index(f"housing={spec.missing_for('housing').value}")
    assert served[0, housing] == 1.0


def test_a_row_with_nan_scores_as_the_row_with_the_median_filled_in(
    trained_with_median: tuple[xgb.Booster, FeatureSpec, pd.DataFrame],
) -> None:
    # Given a model trained with impute-median on age, and one applicant sent twice:
    # once with age missing, once with the training median typed in
    booster, spec, frame = trained_with_median
    median = float(pd.to_numeric(frame["age_in_years"]).median())
    missing, filled = applicant(frame, 1, spec, age_in_years=None), applicant(frame, 1, spec, age_in_years=median)

    # When both are scored at the endpoint and by the training encoder
    served = score_matrix(booster, parse_payload(json_body([missing, filled]), "application/json", spec).matrix(spec))
    trained = score_matrix(booster, encode_frame(pd.DataFrame([missing, filled]), spec))

    # Then all four scores are the same, while a different age would score differently
    assert served[0] == served[1] == trained[0] == trained[1]
    other = applicant(frame, 1, spec, age_in_years=median + 40)
    assert score_matrix(booster, encode_frame(pd.DataFrame([other]), spec))[0] != served[0]


def test_serving_refuses_a_missing_reject_feature_naming_it() -> None:
    spec = fit_feature_spec(small_frame().dropna(subset=["age"]), job_config(age=MissingRule("reject", 0.0)))
    body = json_body([{"amount": 10, "age": None, "colour": "red"}])

    with pytest.raises(PayloadError) as refused:
        parse_payload(body, "application/json", spec).matrix(spec)

    assert refused.value.status_code == 400
    assert "feature 'age'" in str(refused.value)
    assert "reject" in str(refused.value)


def test_serving_leaves_an_allowed_missing_value_as_training_did() -> None:
    spec = fit_feature_spec(small_frame(), job_config())
    rows = [{"amount": None, "age": "30", "colour": None}]

    served = parse_payload(json_body(rows), "application/json", spec).matrix(spec)

    np.testing.assert_array_equal(served, encode_frame(pd.DataFrame(rows), spec))
    assert math.isnan(served[0, 0])


# -- monitoring: completeness per column against its policy ----------------------------------------


@pytest.fixture(scope="module")
def pipeline_spec(german_credit_config: PipelineConfig) -> tuple[FeatureSpec, pd.DataFrame]:
    """The German credit feature spec as the pipeline trains it (job config from the pipeline config)."""
    config = with_missing(
        german_credit_config,
        credit_amount=ColumnMissing(policy="impute-median"),
        telephone=ColumnMissing(policy="reject"),
    )
    frame = read_dataset(GERMAN_CREDIT_CSV)
    return fit_feature_spec(frame, parse_job_config(job_config_document(config))), frame


def completeness_violations(report: dict[str, Any]) -> list[dict[str, str]]:
    # The first rows of the file are not a random sample: drift checks may flag them, completeness is the subject.
    return [v for v in report["violations"] if v["constraint_check_type"] == "completeness_check"]


def test_an_allowed_missing_value_within_its_limit_passes_completeness(
    pipeline_spec: tuple[FeatureSpec, pd.DataFrame],
) -> None:
    # Given 75 captured rows, one of them missing its housing (policy allow, limit 5%)
    spec, frame = pipeline_spec
    statistics, constraints = baseline(frame, spec)
    captured = frame.head(75).copy()
    captured.loc[3, "housing"] = None

    report = detect_drift(statistics, captured, constraints=constraints)

    assert completeness_violations(report) == []
    housing = report["drift_metrics"]["features"]["housing"]
    assert (housing["missing"], housing["missing_policy"], housing["max_missing_fraction"]) == (1, "allow", 0.05)


def test_missing_values_above_the_policy_limit_fail_completeness(
    pipeline_spec: tuple[FeatureSpec, pd.DataFrame],
) -> None:
    spec, frame = pipeline_spec
    statistics, constraints = baseline(frame, spec)
    captured = frame.head(100).copy()
    captured.loc[:5, "housing"] = None  # 6%

    report = detect_drift(statistics, captured, constraints=constraints)

    (violation,) = completeness_violations(report)
    assert violation["feature_name"] == "housing"
    assert "allow" in violation["description"]
    assert "6 of 100" in violation["description"]


def test_one_missing_value_of_a_reject_feature_fails_completeness(
    pipeline_spec: tuple[FeatureSpec, pd.DataFrame],
) -> None:
    spec, frame = pipeline_spec
    statistics, constraints = baseline(frame, spec)
    captured = frame.head(200).copy()
    captured.loc[7, "telephone"] = None

    report = detect_drift(statistics, captured, constraints=constraints)

    (violation,) = completeness_violations(report)
    assert violation["feature_name"] == "telephone"
    assert "reject allows no missing value" in violation["description"]


def test_monitoring_reports_the_imputed_value_of_the_model(pipeline_spec: tuple[FeatureSpec, pd.DataFrame]) -> None:
    spec, frame = pipeline_spec
    statistics, constraints = baseline(frame, spec)
    captured = frame.head(100).copy()
    captured.loc[:1, "credit_amount"] = None

    amount = detect_drift(statistics, captured, constraints=constraints)["drift_metrics"]["features"]["credit_amount"]

    assert amount["imputed_value"] == spec.missing_for("credit_amount").value
    assert amount["imputed_value"] == float(pd.to_numeric(frame["credit_amount"]).median())
    assert (amount["imputed"], amount["missing_policy"]) == (2, "impute-median")


def test_the_baseline_constraints_state_the_policy_floor(pipeline_spec: tuple[FeatureSpec, pd.DataFrame]) -> None:
    spec, frame = pipeline_spec

    _, constraints = baseline(frame, spec)

    completeness = {feature["name"]: feature["completeness"] for feature in constraints["features"]}
    assert completeness["housing"] == pytest.approx(0.95)
    assert completeness["telephone"] == 1.0
