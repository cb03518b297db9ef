"""Model monitoring: request payloads, Model Monitor baseline shapes, drift detection, capture reading, the job."""

from __future__ import annotations

import base64
import csv
import importlib.util
import io
import json
import math
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governed_mlops_ml.artifacts import write_json
from governed_mlops_ml.features import FeatureSpec, encode_frame, fit_feature_spec
from governed_mlops_ml.job_config import JobConfig
from governed_mlops_ml.monitoring import (
    DriftThresholds,
    PayloadError,
    baseline,
    detect_drift,
    negotiate_accept,
    parse_payload,
    read_capture,
    spec_from_statistics,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
MONITOR_JOB = REPO_ROOT / "jobs" / "monitor.py"
RESAMPLE_SEED = 20261128


@pytest.fixture(scope="module")
def frame(german_credit_frame: pd.DataFrame) -> pd.DataFrame:
    return german_credit_frame


@pytest.fixture(scope="module")
def spec(frame: pd.DataFrame, german_credit_job_config: JobConfig) -> FeatureSpec:
    return fit_feature_spec(frame, german_credit_job_config)


@pytest.fixture(scope="module")
def documents(frame: pd.DataFrame, spec: FeatureSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    return baseline(frame, spec)


@pytest.fixture
def resample(frame: pd.DataFrame) -> pd.DataFrame:
    """Un-drifted traffic: 500 German credit rows drawn with replacement."""
    return frame.sample(n=500, replace=True, random_state=RESAMPLE_SEED).reset_index(drop=True)


def csv_line(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


def raw_values(frame: pd.DataFrame, spec: FeatureSpec, row: int) -> list[str]:
    return [str(frame.iloc[row][name]) for name in spec.raw_features]


# -- payloads -----------------------------------------------------------------------------------


def test_csv_raw_rows_encode_exactly_as_training_encodes(frame: pd.DataFrame, spec: FeatureSpec) -> None:
    # Given every German credit row as a headerless CSV line of raw values (quoted commas included)
    body = b"".join(csv_line(raw_values(frame, spec, i)) for i in range(len(frame)))
    # When the endpoint's parser builds the model input
    matrix = parse_payload(body, "text/csv", spec).matrix(spec)
    # Then it is the training encoder's matrix, bit for bit
    np.testing.assert_array_equal(matrix, encode_frame(frame, spec))


def test_csv_encoded_rows_pass_through(frame: pd.DataFrame, spec: FeatureSpec) -> None:
    encoded = encode_frame(frame.head(3), spec)
    body = b"".join(csv_line([repr(float(v)) for v in row]) for row in encoded)
    payload = parse_payload(body, "text/csv; charset=utf-8", spec)
    assert payload.kinds == ("encoded",) * 3
    np.testing.assert_array_equal(payload.matrix(spec), encoded)


def test_csv_rows_of_both_kinds_keep_their_order(frame: pd.DataFrame, spec: FeatureSpec) -> None:
    encoded = encode_frame(frame.head(2), spec)
    body = csv_line(raw_values(frame, spec, 0)) + csv_line([repr(float(v)) for v in encoded[1]])
    payload = parse_payload(body, "text/csv", spec)
    assert payload.kinds == ("raw", "encoded")
    np.testing.assert_array_equal(payload.matrix(spec), encoded)


def test_json_instances_as_objects_and_lists(frame: pd.DataFrame, spec: FeatureSpec) -> None:
    first = {name: frame.iloc[0][name] for name in spec.raw_features}
    first["credit_amount"] = float(first["credit_amount"])  # JSON numbers are accepted for numeric features
    document = {"instances": [first, raw_values(frame, spec, 1), encode_frame(frame.iloc[[2]], spec)[0].tolist()]}
    payload = parse_payload(json.dumps(document).encode(), "application/json", spec)
    assert payload.kinds == ("raw", "raw", "encoded")
    np.testing.assert_array_equal(payload.matrix(spec), encode_frame(frame.head(3), spec))


def test_missing_numeric_is_nan_and_unknown_category_is_all_zero(frame: pd.DataFrame, spec: FeatureSpec) -> None:
    instance = {name: frame.iloc[0][name] for name in spec.raw_features}
    instance |= {"credit_amount": None, "purpose": "space travel"}
    expected_frame = pd.DataFrame([instance], dtype=object)
    matrix = parse_payload(json.dumps({"instances": [instance]}).encode(), "application/json", spec).matrix(spec)
    np.testing.assert_array_equal(matrix, encode_frame(expected_frame, spec))
    assert math.isnan(matrix[0, spec.encoded_columns.index("credit_amount")])


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"1,2,3\n", "text/csv", 400, "row 1 has 3 values; expected 20 raw feature values"),
        (b"", "text/csv", 400, "empty"),
        (b"\xff\xfe", "text/csv", 400, "not UTF-8"),
        (b"a,b", "application/x-www-form-urlencoded", 415, "unsupported content type"),
        (b'{"rows": []}', "application/json", 400, '{"instances": [...]}'),
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b'{"instances": [42]}', "application/json", 400, "instance 1 is a int"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(
    spec: FeatureSpec, body: bytes, content_type: str, status: int, words: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, content_type, spec)
    assert caught.value.status_code == status
    assert words in str(caught.value)


def test_csv_header_row_is_refused(spec: FeatureSpec) -> None:
    with pytest.raises(PayloadError, match="must not have a header row"):
        parse_payload(csv_line(list(spec.raw_features)), "text/csv", spec)


def test_json_object_names_missing_and_unknown_features(frame: pd.DataFrame, spec: FeatureSpec) -> None:
    instance = {name: frame.iloc[0][name] for name in spec.raw_features if name != "age_in_years"}
    instance["creditability"] = "good"
    with pytest.raises(PayloadError) as caught:
        parse_payload(json.dumps({"instances": [instance]}).encode(), "application/json", spec)
    assert caught.value.status_code == 400
    assert "missing features ['age_in_years']" in str(caught.value)
    assert "unknown features ['creditability']" in str(caught.value)


def test_non_numeric_raw_value_names_row_and_feature(frame: pd.DataFrame, spec: FeatureSpec) -> None:
    values = raw_values(frame, spec, 0)
    values[spec.raw_features.index("age_in_years")] = "old"
    payload = parse_payload(csv_line(raw_values(frame, spec, 1)) + csv_line(values), "text/csv", spec)
    with pytest.raises(PayloadError, match=r"row 2, numeric feature 'age_in_years': 'old' is not a number"):
        payload.matrix(spec)


@pytest.mark.parametrize("text", ["nan", "inf", "1_000", "0x10"])
def test_raw_numeric_text_pandas_refuses_is_refused(frame: pd.DataFrame, spec: FeatureSpec, text: str) -> None:
    values = raw_values(frame, spec, 0)
    values[spec.raw_features.index("credit_amount")] = text
    with pytest.raises(PayloadError) as caught:
        parse_payload(csv_line(values), "text/csv", spec).matrix(spec)
    assert caught.value.status_code == 400


def test_encoded_row_with_text_is_refused(spec: FeatureSpec) -> None:
    values = ["1"] * len(spec.encoded_columns)
    values[3] = "x"
    with pytest.raises(PayloadError, match=r"row 1, column 'present_residence_since': 'x' is not a finite number"):
        parse_payload(csv_line(values), "text/csv", spec)


def test_oversized_body_is_refused(spec: FeatureSpec) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload(b"1" * (6 * 1024 * 1024 + 1), "text/csv", spec)
    assert caught.value.status_code == 413


def test_accept_negotiates_csv_by_default_json_on_request_and_refuses_others_with_406() -> None:
    assert negotiate_accept(None) == "text/csv"
    assert negotiate_accept("*/*") == "text/csv"
    assert negotiate_accept("application/json; q=1") == "application/json"
    with pytest.raises(PayloadError) as caught:
        negotiate_accept("application/x-protobuf")
    assert caught.value.status_code == 406


# -- baseline -----------------------------------------------------------------------------------


def test_statistics_have_model_monitor_shape(
    frame: pd.DataFrame, spec: FeatureSpec, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    statistics, _ = documents
    assert statistics["version"] == 0.0
    assert statistics["dataset"] == {"item_count": 1000}
    assert [f["name"] for f in statistics["features"]] == list(spec.raw_features)
    amount = next(f for f in statistics["features"] if f["name"] == "credit_amount")
    numbers = amount["numerical_statistics"]
    assert amount["inferred_type"] == "Integral"
    assert numbers["common"] == {"num_present": 1000, "num_missing": 0}
    assert numbers["mean"] == pytest.approx(pd.to_numeric(frame["credit_amount"]).mean())
    assert numbers["min"] == 250.0
    assert sum(b["count"] for b in numbers["distribution"]["kll"]["buckets"]) == 1000
    purpose = next(f for f in statistics["features"] if f["name"] == "purpose")
    buckets = purpose["string_statistics"]["distribution"]["categorical"]["buckets"]
    assert purpose["inferred_type"] == "String"
    assert purpose["string_statistics"]["distinct_count"] == frame["purpose"].nunique()
    assert sum(b["count"] for b in buckets) == 1000


def test_constraints_have_model_monitor_shape(documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, constraints = documents
    amount = next(f for f in constraints["features"] if f["name"] == "credit_amount")
    assert amount == {
        "name": "credit_amount",
        "inferred_type": "Integral",
        # The shipped configuration allows 5 % missing per feature (validation.max_missing_fraction)
        "completeness": 0.95,
        "num_constraints": {"is_non_negative": True},
    }
    assert constraints["monitoring_config"]["distribution_constraints"] == {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
    }


def test_statistics_keep_the_feature_spec(spec: FeatureSpec, documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    assert spec_from_statistics(documents[0]) == spec


def test_statistics_are_strict_json(documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    json.dumps(documents, allow_nan=False)


# -- drift --------------------------------------------------------------------------------------


def test_resample_has_no_violations(resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    statistics, constraints = documents
    report = detect_drift(statistics, resample, constraints=constraints)
    assert report["violations"] == []
    assert report["drift_metrics"]["rows"] == 500


def test_drifted_rows_name_exactly_the_drifted_columns(
    resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    # Given traffic where amounts tripled, applicants aged 20 years and half the purposes became "car (new)"
    drifted = resample.copy()
    drifted["credit_amount"] = (pd.to_numeric(drifted["credit_amount"]) * 3).astype(str)
    drifted["age_in_years"] = (pd.to_numeric(drifted["age_in_years"]) + 20).astype(str)
    drifted.loc[drifted.index % 2 == 0, "purpose"] = "car (new)"
    # When it is compared with the baseline
    report = detect_drift(documents[0], drifted, constraints=documents[1])
    # Then exactly those three columns drift, and nothing else is flagged
    assert report["drift_metrics"]["drifted_features"] == ["age_in_years", "credit_amount", "purpose"]
    assert {v["constraint_check_type"] for v in report["violations"]} == {"baseline_drift_check"}
    assert len(report["violations"]) == 3


@pytest.mark.parametrize(
    ("column", "change"),
    [
        ("credit_amount", lambda s: (pd.to_numeric(s) * 3).astype(str)),
        ("age_in_years", lambda s: (pd.to_numeric(s) + 20).astype(str)),
        ("housing", lambda s: pd.Series(["free"] * len(s), index=s.index)),
    ],
)
def test_each_drift_alone_is_detected(
    resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]], column: str, change: Any
) -> None:
    drifted = resample.copy()
    drifted[column] = change(drifted[column])
    report = detect_drift(documents[0], drifted, constraints=documents[1])
    assert report["drift_metrics"]["drifted_features"] == [column]


def test_drift_metrics_cover_every_feature(
    spec: FeatureSpec, resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    metrics = detect_drift(documents[0], resample)["drift_metrics"]["features"]
    assert sorted(metrics) == sorted(spec.raw_features)
    assert {"psi", "ks_statistic", "ks_p_value"} <= set(metrics["credit_amount"])
    assert {"psi", "chi2_statistic", "chi2_p_value", "unseen_fraction"} <= set(metrics["purpose"])


def test_tripled_amount_has_large_psi_and_tiny_ks_p_value(
    resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    drifted = resample.copy()
    drifted["credit_amount"] = (pd.to_numeric(drifted["credit_amount"]) * 3).astype(str)
    found = detect_drift(documents[0], drifted)["drift_metrics"]["features"]["credit_amount"]
    assert found["psi"] > 1.0
    assert found["ks_p_value"] < 1e-20


def test_disabled_tests_do_not_flag(resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    drifted = resample.copy()
    drifted["credit_amount"] = (pd.to_numeric(drifted["credit_amount"]) * 3).astype(str)
    limits = DriftThresholds(psi=None, ks_p_value=None)
    assert detect_drift(documents[0], drifted, limits)["violations"] == []


def test_text_in_numeric_column_fails_data_type_check(
    resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    broken = resample.copy()
    broken.loc[:9, "duration_in_month"] = "twelve"
    checks = [
        (v["feature_name"], v["constraint_check_type"])
        for v in detect_drift(documents[0], broken, constraints=documents[1])["violations"]
    ]
    assert ("duration_in_month", "data_type_check") in checks


def test_fractions_in_integral_column_fail_data_type_check(
    resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    broken = resample.copy()
    broken.loc[:4, "age_in_years"] = "30.5"
    violations = detect_drift(documents[0], broken, constraints=documents[1])["violations"]
    assert any(
        v["feature_name"] == "age_in_years" and v["constraint_check_type"] == "data_type_check" for v in violations
    )


def test_missing_values_fail_completeness_check(
    resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    broken = resample.copy()
    broken.loc[:49, "housing"] = None
    violations = detect_drift(documents[0], broken)["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [("housing", "completeness_check")]


def test_absent_column_is_reported(resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    violations = detect_drift(documents[0], resample.drop(columns=["job"]))["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [("job", "missing_column_check")]


def test_too_few_rows_skip_drift_but_say_so(
    resample: pd.DataFrame, documents: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    few = resample.head(10).copy()
    few["credit_amount"] = (pd.to_numeric(few["credit_amount"]) * 3).astype(str)
    report = detect_drift(documents[0], few)
    assert report["violations"] == []
    assert "fewer than min_rows=30" in report["drift_metrics"]["features"]["credit_amount"]["drift_skipped"]


# -- capture ------------------------------------------------------------------------------------


def capture_record(body: bytes, content_type: str, encoding: str) -> str:
    data = base64.b64encode(body).decode() if encoding == "BASE64" else body.decode()
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": "0.5\n",
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-28T10:00:00.000Z"},
            "eventVersion": "0",
        }
    )


def test_read_capture_turns_every_encoding_back_into_raw_rows(
    tmp_path: Path, frame: pd.DataFrame, spec: FeatureSpec
) -> None:
    # Given captured requests: CSV raw, CSV encoded, JSON objects, BASE64 CSV, and a torn last line
    encoded_row = encode_frame(frame.iloc[[1]], spec)[0]
    instance = {name: frame.iloc[2][name] for name in spec.raw_features}
    lines = [
        capture_record(csv_line(raw_values(frame, spec, 0)), "text/csv", "CSV"),
        capture_record(csv_line([repr(float(v)) for v in encoded_row]), "text/csv", "CSV"),
        capture_record(json.dumps({"instances": [instance]}).encode(), "application/json", "JSON"),
        capture_record(csv_line(raw_values(frame, spec, 3)), "text/csv", "BASE64"),
    ]
    path = tmp_path / "capture.jsonl"
    path.write_text("\n".join(lines) + '\n{"captureData": {"endpointIn', encoding="utf-8")
    # When the capture is read back
    captured = read_capture([path], spec)
    # Then every request is a row of raw features, equal to the rows that were sent
    assert list(captured.columns) == list(spec.raw_features)
    assert captured.attrs == {"skipped_records": 1, "records": 5}
    np.testing.assert_array_equal(encode_frame(captured, spec), encode_frame(frame.head(4), spec))


def test_read_capture_of_nothing_is_an_empty_frame(spec: FeatureSpec) -> None:
    captured = read_capture([], spec)
    assert captured.empty
    assert list(captured.columns) == list(spec.raw_features)


# -- the processing job -------------------------------------------------------------------------


def load_monitor_job() -> ModuleType:
    module_spec = importlib.util.spec_from_file_location("monitor_job", MONITOR_JOB)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_monitor_job_baselines_then_flags_drifted_capture(
    tmp_path: Path, frame: pd.DataFrame, spec: FeatureSpec, resample: pd.DataFrame
) -> None:
    job = load_monitor_job()
    # Given the training data and a model archive holding the feature spec
    dataset_dir, model_dir = tmp_path / "train", tmp_path / "model"
    dataset_dir.mkdir()
    frame.to_csv(dataset_dir / "train.csv", index=False)
    write_json(tmp_path / "spec" / "feature_spec.json", spec.to_json_dict())
    model_dir.mkdir()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "spec" / "feature_spec.json", arcname="feature_spec.json")
    # And a day of captured traffic with tripled amounts
    drifted = resample.copy()
    drifted["credit_amount"] = (pd.to_numeric(drifted["credit_amount"]) * 3).astype(str)
    capture_dir = tmp_path / "capture" / "endpoint" / "AllTraffic" / "2026" / "11" / "28" / "10"
    capture_dir.mkdir(parents=True)
    (capture_dir / "capture.jsonl").write_text(
        "\n".join(capture_record(csv_line(raw_values(drifted, spec, i)), "text/csv", "CSV") for i in range(500)),
        encoding="utf-8",
    )
    # When the job baselines, then analyses
    job.main(
        [
            "baseline",
            "--dataset-dir",
            str(dataset_dir),
            "--model-dir",
            str(model_dir),
            "--output-dir",
            str(tmp_path / "baseline"),
        ]
    )
    job.main(
        [
            "analyze",
            "--baseline-dir",
            str(tmp_path / "baseline"),
            "--capture-dir",
            str(tmp_path / "capture"),
            "--output-dir",
            str(tmp_path / "report"),
        ]
    )
    # Then the report names the drifted column and the captured data's statistics are written
    report = json.loads((tmp_path / "report" / "constraint_violations.json").read_text())
    assert [v["feature_name"] for v in report["violations"]] == ["credit_amount"]
    assert report["drift_metrics"]["capture"] == {"files": 1, "records": 500, "skipped_records": 0}
    assert json.loads((tmp_path / "report" / "statistics.json").read_text())["dataset"]["item_count"] == 500
