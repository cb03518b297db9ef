"""The inference contract: one answer (score, decision, threshold, model version, reason codes) from the
local endpoint's code and from jobs/inference.py as the SageMaker container calls it."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import read_dataset, save_feature_spec
from governed_mlops_ml.explain import reason_codes
from governed_mlops_ml.features import encode_frame
from governed_mlops_ml.job_config import DecisionLabels
from governed_mlops_ml.model import predict_scores, save_booster
from governed_mlops_ml.monitoring import PayloadError
from governed_mlops_ml.serving import (
    ENDPOINT_NAME_ENV,
    INFERENCE_FILE,
    MODEL_VERSION_ENV,
    ServingModel,
    copy_serving_code,
    prediction_metric_filters,
    prediction_metric_line,
    render,
    write_inference_settings,
)
from governed_mlops_ml.training import TrainedModel

REPO_ROOT = Path(__file__).resolve().parents[2]
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
ROWS = [0, 1, 7, 19, 538, 999]

#: What the German credit model is configured to answer (models/credit-risk/config.yaml).
CREDIT_DECISIONS = DecisionLabels(favourable="approve", unfavourable="deny")


@pytest.fixture(scope="module")
def frame(german_credit_frame: pd.DataFrame) -> pd.DataFrame:
    return german_credit_frame


@pytest.fixture(scope="module")
def trained(german_credit_model: TrainedModel) -> TrainedModel:
    return german_credit_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, trained: TrainedModel) -> Path:
    """The model directory as the training job writes it (without code/: the tests import jobs/ directly)."""
    directory = tmp_path_factory.mktemp("model")
    save_booster(trained.booster, directory)
    save_feature_spec(trained.spec, directory)
    write_inference_settings(directory, 0.5, decisions=CREDIT_DECISIONS)
    return directory


@pytest.fixture(scope="module")
def model(model_dir: Path) -> ServingModel:
    return ServingModel.load(model_dir, {MODEL_VERSION_ENV: "credit-risk/3"})


def applicant(frame: pd.DataFrame, row: int, spec_features: tuple[str, ...]) -> dict[str, Any]:
    """A German credit row as a client sends it: raw JSON values, numbers as numbers."""
    values: dict[str, Any] = {}
    for name in spec_features:
        value = frame.iloc[row][name]
        try:
            values[name] = int(value)
        except (TypeError, ValueError):
            values[name] = value
    return values


def ask(model: ServingModel, instances: list[dict[str, Any]], accept: str = "application/json") -> dict[str, Any]:
    answer = model.respond(json.dumps({"instances": instances}).encode(), "application/json", accept)
    assert answer.content_type == "application/json"
    parsed: dict[str, Any] = json.loads(answer.body)
    return parsed


def test_each_row_gets_score_decision_threshold_version_and_reasons(
    model: ServingModel, frame: pd.DataFrame, trained: TrainedModel
) -> None:
    instances = [applicant(frame, row, trained.spec.raw_features) for row in ROWS]

    predictions = ask(model, instances)["predictions"]

    expected = predict_scores(trained.booster, trained.spec, frame.iloc[ROWS])
    assert [set(p) for p in predictions] == [{"score", "decision", "threshold", "model_version", "reasons"}] * 6
    np.testing.assert_allclose([p["score"] for p in predictions], expected, rtol=0, atol=1e-7)
    assert [p["decision"] for p in predictions] == ["approve" if s >= 0.5 else "deny" for s in expected]
    assert {p["model_version"] for p in predictions} == {"credit-risk/3"}
    assert {p["threshold"] for p in predictions} == {0.5}
    assert all(1 <= len(p["reasons"]) <= 4 for p in predictions)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # shap's colour maps, at import
def test_reason_codes_are_the_most_negative_shap_values_of_tree_explainer(
    model: ServingModel, frame: pd.DataFrame, trained: TrainedModel
) -> None:
    import shap

    predictions = ask(model, [applicant(frame, row, trained.spec.raw_features) for row in ROWS])["predictions"]

    explainer = shap.TreeExplainer(trained.booster)
    encoded = explainer.shap_values(encode_frame(frame.iloc[ROWS], trained.spec))
    # Aggregate each original feature's one-hot columns, as an adverse-action notice names the feature.
    columns = trained.spec.encoded_columns
    for prediction, values in zip(predictions, encoded, strict=True):
        per_feature = {
            name: sum(v for column, v in zip(columns, values, strict=True) if column.split("=", 1)[0] == name)
            for name in trained.spec.raw_features
        }
        worst = sorted((v, name) for name, v in per_feature.items() if v < -1e-6)[:4]
        assert [r["feature"] for r in prediction["reasons"]] == [name for _, name in worst]
        for reason, (value, _) in zip(prediction["reasons"], worst, strict=True):
            assert reason["contribution"] == pytest.approx(value, abs=1e-6)


def test_the_answer_agrees_with_mlops_explain_for_the_same_applicant(
    model: ServingModel, frame: pd.DataFrame, trained: TrainedModel
) -> None:
    row = applicant(frame, 19, trained.spec.raw_features)
    (prediction,) = ask(model, [row])["predictions"]

    explained = reason_codes(
        trained.booster, trained.spec, {k: str(v) for k, v in row.items()}, threshold=0.5, decisions=CREDIT_DECISIONS
    )

    assert prediction["decision"] == explained.decision
    assert [r["feature"] for r in prediction["reasons"]] == [r.feature for r in explained.reasons]
    assert [r["text"] for r in prediction["reasons"]] == [r.text for r in explained.reasons]


def test_csv_asks_for_scores_only_as_the_xgboost_container_answers(model: ServingModel, trained: TrainedModel) -> None:
    body = json.dumps({"instances": [applicant(read_dataset(GERMAN_CREDIT_CSV), 0, trained.spec.raw_features)]})

    answer = model.respond(body.encode(), "application/json", "text/csv")

    assert answer.content_type == "text/csv"
    assert [float(line) for line in answer.body.decode().splitlines()] == pytest.approx(list(answer.scores))


def test_a_model_whose_threshold_differs_decides_by_its_own_threshold(model_dir: Path, tmp_path: Path) -> None:
    strict = tmp_path / "strict"
    strict.mkdir()
    for name in ("xgboost-model", "feature_spec.json"):
        (strict / name).write_bytes((model_dir / name).read_bytes())
    write_inference_settings(strict, 0.99, decisions=CREDIT_DECISIONS)
    loaded = ServingModel.load(strict, {})
    row = applicant(read_dataset(GERMAN_CREDIT_CSV), 0, loaded.spec.raw_features)

    (prediction,) = ask(loaded, [row])["predictions"]

    assert prediction["threshold"] == 0.99
    assert prediction["decision"] == "deny"  # no German credit applicant scores 0.99
    assert prediction["model_version"] is None


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "words"),
    [
        (b'{"instances": [{"age_in_years": 30}]}', "application/json", "application/json", 400, "features"),
        (b"{not json", "application/json", "application/json", 400, "JSON"),
        (b"{}", "application/x-protobuf", "application/json", 415, "unsupported content type"),
        (b"{}", "application/json", "application/x-protobuf", 406, "unsupported accept"),
    ],
)
def test_a_request_the_model_cannot_serve_gets_a_status_and_says_why(
    model: ServingModel, *, body: bytes, content_type: str, accept: str, status: int, words: str
) -> None:
    with pytest.raises(PayloadError) as refused:
        model.respond(body, content_type, accept)
    assert refused.value.status_code == status
    assert words in str(refused.value)


def test_a_model_directory_without_inference_settings_is_refused_with_what_to_do(
    model_dir: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for name in ("xgboost-model", "feature_spec.json"):
        (old / name).write_bytes((model_dir / name).read_bytes())
    with pytest.raises(JobInputError, match=f"{INFERENCE_FILE} not found.*retrain"):
        ServingModel.load(old, {})


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 1.5])
def test_a_threshold_outside_zero_one_is_refused(tmp_path: Path, threshold: float) -> None:
    with pytest.raises(JobInputError, match="strictly between 0 and 1"):
        write_inference_settings(tmp_path, threshold, decisions=CREDIT_DECISIONS)


def test_copying_the_serving_code_needs_the_entry_point(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("")
    with pytest.raises(JobInputError, match="inference.py not found"):
        copy_serving_code(tmp_path / "src", tmp_path / "out")


# -- jobs/inference.py as the container calls it ---------------------------------------------------


@pytest.fixture
def entry_point() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("inference_entry_point", REPO_ROOT / "jobs" / "inference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_the_container_handlers_answer_as_the_local_endpoint_does(
    entry_point: ModuleType,
    model_dir: Path,
    *,
    model: ServingModel,
    frame: pd.DataFrame,
    trained: TrainedModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MODEL_VERSION_ENV, "credit-risk/3")
    body = json.dumps({"instances": [applicant(frame, row, trained.spec.raw_features) for row in ROWS]})

    loaded = entry_point.model_fn(str(model_dir))
    request = entry_point.input_fn(body, "application/json")
    answer, content_type = entry_point.output_fn(entry_point.predict_fn(request, loaded), "application/json")

    local = model.respond(body.encode(), "application/json", "application/json")
    assert (answer, content_type) == (local.body, local.content_type)


def test_render_gives_scores_for_csv_and_refuses_an_unknown_accept() -> None:
    answers = [{"score": 0.25}, {"score": 0.5}]
    assert render(answers, "text/csv") == (b"0.25\n0.5\n", "text/csv")
    assert json.loads(render(answers, "application/json")[0]) == {"predictions": answers}
    with pytest.raises(PayloadError):
        render(answers, "image/png")


# -- the behaviour metric line (the canary alarm's input in AWS) -------------------------------------


def test_the_container_prints_one_metric_line_per_request_with_rows_and_approvals(
    entry_point: ModuleType,
    model_dir: Path,
    *,
    frame: pd.DataFrame,
    trained: TrainedModel,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the container's environment as CreateModel sets it
    monkeypatch.setenv(MODEL_VERSION_ENV, "credit-risk/3")
    monkeypatch.setenv(ENDPOINT_NAME_ENV, "credit-risk")
    loaded = entry_point.model_fn(str(model_dir))
    body = json.dumps({"instances": [applicant(frame, row, trained.spec.raw_features) for row in ROWS]})

    # When one request of six rows is scored
    predictions = entry_point.predict_fn(entry_point.input_fn(body, "application/json"), loaded)

    # Then stdout carries exactly one JSON line counting its rows and approvals, named by endpoint and version
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {
        "mlops_metric": "predictions",
        "EndpointName": "credit-risk",
        "ModelVersion": "credit-risk/3",
        "PredictedRows": len(ROWS),
        "PositivePredictions": sum(1 for p in predictions if p["decision"] == "approve"),
    }
    assert 0 < json.loads(line)["PositivePredictions"] < len(ROWS)  # the rows chosen hold both decisions


def test_a_metric_line_without_container_environment_names_unknown(model_dir: Path) -> None:
    model = ServingModel.load(model_dir, {})
    answers = [
        {"decision": "deny", "score": 0.2, "threshold": 0.5},
        {"decision": "approve", "score": 0.5, "threshold": 0.5},
    ]
    line = json.loads(prediction_metric_line(answers, model))
    assert (line["EndpointName"], line["ModelVersion"]) == ("unknown", "unknown")
    assert (line["PredictedRows"], line["PositivePredictions"]) == (2, 1)


def _camel(value: Any) -> Any:
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {k[0].lower() + k[1:]: (v if k == "Dimensions" else _camel(v)) for k, v in value.items()}


def test_the_state_machine_puts_exactly_the_metric_filters_the_serving_code_defines() -> None:
    definition = json.loads((REPO_ROOT / "statemachines" / "training_pipeline.asl.json").read_text())
    put = [
        state["Parameters"]
        for state in definition["States"].values()
        if state.get("Resource") == "arn:aws:states:::aws-sdk:cloudwatchlogs:putMetricFilter"
    ]
    group = "/aws/sagemaker/Endpoints/credit-risk"
    asl = [{**_camel({k: v for k, v in p.items() if k != "LogGroupName.$"}), "logGroupName": group} for p in put]
    assert sorted(asl, key=lambda f: f["filterName"]) == sorted(
        prediction_metric_filters(group), key=lambda f: f["filterName"]
    )
    assert all(p["LogGroupName.$"] == "$.deploy.log_group" for p in put)
