"""parse_config: the shipped configuration parses; every kind of mistake is a ConfigError naming the field.

Bad configurations are the shipped one with a single change, so each test proves that one change
alone is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.errors import ConfigError

GERMAN_CREDIT_CONFIG = Path(__file__).resolve().parents[2] / "models" / "credit-risk" / "config.yaml"
SHIPPED: dict[str, Any] = yaml.safe_load(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"))

Edit = Callable[[dict[str, Any]], None]


def edited(edit: Edit) -> str:
    """The shipped configuration with one edit, as YAML text."""
    raw = copy.deepcopy(SHIPPED)
    edit(raw)
    return yaml.safe_dump(raw, sort_keys=False)


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="pipeline.yaml")
    return str(caught.value)


def test_shipped_configuration_parses() -> None:
    config = parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"), source=str(GERMAN_CREDIT_CONFIG))

    assert isinstance(config, PipelineConfig)
    assert config.dataset.target == "creditability"
    assert len(config.dataset.features) == 20


def test_shipped_configuration_survives_a_yaml_round_trip() -> None:
    # The edited() helper re-dumps YAML; the untouched round trip must parse to the same config.
    original = parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"))

    assert parse_config(edited(lambda raw: None)) == original


def test_configuration_hash_is_stable_across_formatting() -> None:
    original = parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"))

    assert parse_config(edited(lambda raw: None)).sha256() == original.sha256()


def _rename_top_level(raw: dict[str, Any]) -> None:
    raw["gate"] = raw.pop("gates")


def _nested_typo(raw: dict[str, Any]) -> None:
    raw["gates"]["min_aucc"] = raw["gates"].pop("min_auc")


def _dataset_typo(raw: dict[str, Any]) -> None:
    raw["dataset"]["categorical_feature"] = raw["dataset"].pop("categorical_features")


def _range_typo(raw: dict[str, Any]) -> None:
    raw["dataset"]["ranges"]["age_in_years"] = {"minimum": 18}


@pytest.mark.parametrize(
    ("edit", "field_name"),
    [
        (_rename_top_level, "gate"),
        (_nested_typo, "gates.min_aucc"),
        (_dataset_typo, "dataset.categorical_feature"),
        (_range_typo, "dataset.ranges.age_in_years.minimum"),
    ],
    ids=["top-level", "gates", "dataset", "range-bound"],
)
def test_unknown_key_is_refused_by_name(edit: Edit, field_name: str) -> None:
    message = config_error(edited(edit))

    assert f"{field_name}: Extra inputs are not permitted" in message


def _set(path: str, value: object) -> Edit:
    *parents, last = path.split(".")

    def edit(raw: dict[str, Any]) -> None:
        for key in parents:
            raw = raw[key]
        raw[last] = value

    return edit


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("split.test_fraction", "a quarter"),
        ("validation.min_rows", "many"),
        ("validation.min_rows", 2.5),
        ("dataset.numeric_features", "age_in_years"),
        ("dataset.ranges.age_in_years.min", "eighteen"),
        ("gates.min_auc", [0.7]),
        ("training.seed", {"value": 7}),
    ],
    ids=["fraction-text", "int-text", "int-fraction", "list-as-text", "bound-text", "float-as-list", "int-as-mapping"],
)
def test_wrong_type_is_refused_by_name(path: str, value: object) -> None:
    message = config_error(edited(_set(path, value)))

    assert f"{path}:" in message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("split.test_fraction", 1.0),
        ("gates.min_auc", 1.5),
        ("gates.decision_threshold", 0),
        ("validation.min_minority_fraction", 0.6),
        ("validation.min_rows", 0),
        ("dataset.name", "German Credit"),
    ],
    ids=["fraction-one", "auc-above-one", "threshold-zero", "minority-above-half", "no-rows", "name-pattern"],
)
def test_out_of_range_value_is_refused_by_name(path: str, value: object) -> None:
    message = config_error(edited(_set(path, value)))

    assert f"{path}:" in message


@pytest.mark.parametrize(
    "path",
    ["dataset", "dataset.target", "dataset.positive_label", "dataset.name"],
    ids=["dataset", "target", "positive-label", "name"],
)
def test_missing_required_field_is_refused_by_name(path: str) -> None:
    *parents, last = path.split(".")

    def drop(raw: dict[str, Any]) -> None:
        for key in parents:
            raw = raw[key]
        del raw[last]

    assert f"{path}: Field required" in config_error(edited(drop))


def test_feature_declared_twice_is_refused() -> None:
    # Given age_in_years declared numeric and categorical
    text = edited(lambda raw: raw["dataset"]["categorical_features"].append("age_in_years"))

    message = config_error(text)

    assert "dataset:" in message
    assert "features declared twice: ['age_in_years']" in message


def test_target_listed_as_a_feature_is_refused() -> None:
    message = config_error(edited(lambda raw: raw["dataset"]["categorical_features"].append("creditability")))

    assert "dataset:" in message
    assert "target 'creditability' is also declared as a feature" in message


def test_range_on_a_categorical_column_is_refused() -> None:
    message = config_error(edited(lambda raw: raw["dataset"]["ranges"].update(purpose={"min": 0})))

    assert "dataset:" in message
    assert "not numeric features: ['purpose']" in message


def test_range_on_an_undeclared_column_is_refused() -> None:
    message = config_error(edited(lambda raw: raw["dataset"]["ranges"].update(income={"min": 0})))

    assert "not numeric features: ['income']" in message


def test_dataset_without_features_is_refused() -> None:
    def no_features(raw: dict[str, Any]) -> None:
        raw["dataset"]["numeric_features"] = []
        raw["dataset"]["categorical_features"] = []
        raw["dataset"]["ranges"] = {}

    assert "dataset declares no features" in config_error(edited(no_features))


@pytest.mark.parametrize(
    "name",
    ["sagemaker_program", "sagemaker_submit_directory", "seed", "nthread"],
    ids=["sagemaker-program", "sagemaker-submit-directory", "seed", "nthread"],
)
def test_reserved_hyperparameter_name_is_refused_by_name(name: str) -> None:
    # Given a hyperparameter the pipeline sets itself
    text = edited(lambda raw: raw["training"]["hyperparameters"].update({name: "1"}))

    # Then the error names both the field and the reserved name
    message = config_error(text)
    assert "training.hyperparameters:" in message
    assert name in message


@pytest.mark.parametrize(
    ("text", "got"),
    [("- dataset\n- gates\n", "list"), ("just a sentence\n", "str"), ("", "NoneType"), ("42\n", "int")],
    ids=["list", "scalar", "empty", "number"],
)
def test_non_mapping_yaml_is_refused(text: str, got: str) -> None:
    assert config_error(text) == f"pipeline.yaml: expected a mapping at the top level, got {got}"


@pytest.mark.parametrize(
    "text",
    ["dataset: [unclosed\n", "dataset:\n\tname: x\n", "a: b: c\n"],
    ids=["unclosed-flow", "tab-indent", "nested-colon"],
)
def test_invalid_yaml_is_refused(text: str) -> None:
    assert config_error(text).startswith("pipeline.yaml: not valid YAML:")


def test_error_names_the_source_file() -> None:
    with pytest.raises(ConfigError, match=r"^config/team-b\.yaml: gate: "):
        parse_config(edited(_rename_top_level), source="config/team-b.yaml")


def test_the_same_text_is_parsed_as_yaml_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stages of one run (and of later runs) parse the same configuration text: the YAML parse is kept.
    text = GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8") + "\n# a text no other test parses\n"
    parses: list[object] = []
    real_safe_load = yaml.safe_load

    def counting_safe_load(text: str | bytes) -> Any:
        parses.append(text)
        return real_safe_load(text)

    monkeypatch.setattr(yaml, "safe_load", counting_safe_load)
    first, second = parse_config(text), parse_config(text)
    assert first == second
    assert len(parses) == 1


def test_what_validation_does_to_the_parsed_document_never_reaches_the_next_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: validation that edits its input in place (as a "before" validator may normalise it)
    text = GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8") + "\n# another text no other test parses\n"
    validate = PipelineConfig.model_validate

    def editing_validate(raw: dict[str, Any]) -> PipelineConfig:
        raw.pop("training", None)
        return validate(raw)

    monkeypatch.setattr(PipelineConfig, "model_validate", editing_validate)
    parse_config(text)
    monkeypatch.setattr(PipelineConfig, "model_validate", validate)
    # Then: the next parse of the same text still sees the whole document
    assert parse_config(text).training.hyperparameters == SHIPPED["training"]["hyperparameters"]
