"""What a served model calls its two outcomes: ``model.decisions`` when configured, else the dataset's labels.

A bank's fraud, churn or triage model must not answer ``approve``/``deny``: without a ``decisions``
section the endpoint, ``mlops explain`` and the explainability report use the dataset's positive label
at or above the threshold and its other label below it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from governed_mlops.config import parse_config
from governed_mlops.errors import ConfigError, JobInputError
from governed_mlops.services.stages import job_config_document
from governed_mlops_ml.artifacts import save_feature_spec
from governed_mlops_ml.explain import dataset_decisions, reason_codes
from governed_mlops_ml.job_config import DecisionLabels, parse_job_config
from governed_mlops_ml.model import predict_scores, save_booster
from governed_mlops_ml.serving import INFERENCE_FILE, ServingModel, prediction_metric_line, write_inference_settings
from governed_mlops_ml.training import TrainedModel

REPO_ROOT = Path(__file__).resolve().parents[2]
CREDIT_CONFIG = REPO_ROOT / "models" / "credit-risk" / "config.yaml"
ROWS = [0, 1, 7, 19, 538, 999]


def _config(**model: Any) -> dict[str, Any]:
    document = yaml.safe_load(CREDIT_CONFIG.read_text(encoding="utf-8"))
    document["model"] = {key: value for key, value in document["model"].items() if key != "decisions"} | model
    return document


def _instances(frame: pd.DataFrame, features: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{name: frame.iloc[row][name] for name in features} for row in ROWS]


def _serve(directory: Path, trained: TrainedModel, decisions: DecisionLabels | None) -> ServingModel:
    save_booster(trained.booster, directory)
    save_feature_spec(trained.spec, directory)
    write_inference_settings(directory, 0.5, decisions=decisions or dataset_decisions(trained.spec))
    return ServingModel.load(directory, {})


def _decisions(model: ServingModel, frame: pd.DataFrame) -> list[str]:
    body = json.dumps({"instances": _instances(frame, model.spec.raw_features)}, default=str).encode()
    answer = model.respond(body, "application/json", "application/json")
    return [p["decision"] for p in json.loads(answer.body)["predictions"]]


def test_the_configured_names_reach_the_job_config_and_back() -> None:
    config = parse_config(yaml.safe_dump(_config(decisions={"favourable": "grant", "unfavourable": "decline"})))

    document = job_config_document(config)

    assert document["decisions"] == {"favourable": "grant", "unfavourable": "decline"}
    assert parse_job_config(document).decisions == DecisionLabels("grant", "decline")


def test_without_a_decisions_section_the_job_config_names_none() -> None:
    document = job_config_document(parse_config(yaml.safe_dump(_config())))

    assert "decisions" not in document
    assert parse_job_config(document).decisions is None


@pytest.mark.parametrize(
    "decisions",
    [
        {"favourable": "go", "unfavourable": "go"},
        {"favourable": ""},
        {"favourable": "go", "unfavourable": "stop", "x": 1},
    ],
)
def test_a_config_with_unusable_decisions_is_refused(decisions: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="decisions"):
        parse_config(yaml.safe_dump(_config(decisions=decisions)))


@pytest.mark.parametrize(
    "value", [["approve", "deny"], {"favourable": "a", "unfavourable": "a"}, {"favourable": "a", "unfavourable": 1}]
)
def test_a_job_config_with_unusable_decisions_is_refused(value: object) -> None:
    document = job_config_document(parse_config(yaml.safe_dump(_config()))) | {"decisions": value}

    with pytest.raises(JobInputError, match="'decisions' must be an object with two different non-empty strings"):
        parse_job_config(document)


def test_a_model_without_configured_names_answers_with_its_dataset_labels(
    tmp_path: Path, german_credit_model: TrainedModel, german_credit_frame: pd.DataFrame
) -> None:
    model = _serve(tmp_path, german_credit_model, None)

    decisions = _decisions(model, german_credit_frame)

    scores = predict_scores(german_credit_model.booster, german_credit_model.spec, german_credit_frame.iloc[ROWS])
    assert decisions == ["good" if score >= 0.5 else "bad" for score in scores]
    assert {"good", "bad"} == set(decisions)  # the rows chosen hold both outcomes
    assert json.loads((tmp_path / INFERENCE_FILE).read_text())["decisions"] == {
        "favourable": "good",
        "unfavourable": "bad",
    }


def test_configured_names_are_what_the_endpoint_answers_and_the_metric_counts_the_favourable(
    tmp_path: Path, german_credit_model: TrainedModel, german_credit_frame: pd.DataFrame
) -> None:
    model = _serve(tmp_path, german_credit_model, DecisionLabels("grant", "decline"))

    decisions = _decisions(model, german_credit_frame)

    assert set(decisions) == {"grant", "decline"}
    answers = [{"score": 0.7, "threshold": 0.5}, {"score": 0.49, "threshold": 0.5}, {"score": 0.5, "threshold": 0.5}]
    assert json.loads(prediction_metric_line(answers, model))["PositivePredictions"] == 2


def test_a_model_trained_before_names_were_written_answers_with_its_labels(
    tmp_path: Path, german_credit_model: TrainedModel, german_credit_frame: pd.DataFrame
) -> None:
    model_dir = tmp_path
    _serve(model_dir, german_credit_model, None)
    (model_dir / INFERENCE_FILE).write_text(json.dumps({"decision_threshold": 0.5}), encoding="utf-8")

    assert set(_decisions(ServingModel.load(model_dir, {}), german_credit_frame)) == {"good", "bad"}


def test_reason_codes_name_the_decision_and_whether_it_is_favourable(
    german_credit_model: TrainedModel, german_credit_frame: pd.DataFrame
) -> None:
    booster, spec = german_credit_model.booster, german_credit_model.spec
    row = {name: german_credit_frame.iloc[0][name] for name in spec.raw_features}
    score = reason_codes(booster, spec, row, 0.5).score

    below = reason_codes(booster, spec, row, min(score + 1e-6, 0.999), decisions=DecisionLabels("grant", "decline"))
    at = reason_codes(booster, spec, row, score)

    assert (below.decision, below.favourable) == ("decline", False)
    assert (at.decision, at.favourable) == ("good", True)
