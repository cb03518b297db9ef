"""Model projects: names, where their data and published configuration live, and their resolved spec.

Pure: ``governed_mlops.model_projects`` on the repository's real ``models/*/config.yaml`` (and edits of
them), plus a scratch checkout under ``tmp_path`` for the project listing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from governed_mlops import model_projects
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.errors import ConfigError, UnknownModelError
from governed_mlops.models import ModelSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_PREFIX, MODELS_PREFIX = "datasets/", "models/"


def real_config(model: str) -> dict[str, Any]:
    """A model project's configuration as the repository ships it, parsed to plain YAML data."""
    raw: dict[str, Any] = yaml.safe_load((REPO_ROOT / "models" / model / "config.yaml").read_text(encoding="utf-8"))
    return raw


def config_of(raw: dict[str, Any]) -> PipelineConfig:
    return parse_config(yaml.safe_dump(raw), source="test")


def lending_with(**section: object) -> PipelineConfig:
    """synthetic-lending's configuration with its ``model:`` section replaced by ``section``."""
    raw = real_config("synthetic-lending")
    raw["model"] = section
    return config_of(raw)


def spec(name: str, endpoint: str | None = None, group: str | None = None) -> ModelSpec:
    return ModelSpec(
        name=name,
        endpoint_name=endpoint or name,
        model_package_group=group or name,
        approvers_group="model-approvers",
        risk_tier="high",
        approvals_required=2,
        max_latency_us=500_000,
        min_positive_rate=0.05,
        max_positive_rate=0.98,
    )


# --------------------------------------------------------------------------------------------------
# Names and keys


@pytest.mark.parametrize(
    ("prefix", "key"),
    [("models/", "models/credit-risk/config.yaml"), ("stack/v1/models/", "stack/v1/models/credit-risk/config.yaml")],
    ids=["default-prefix", "nested-prefix"],
)
def test_config_key_is_the_project_file_under_the_prefix(prefix: str, key: str) -> None:
    assert model_projects.config_key(prefix, "credit-risk") == key


@pytest.mark.parametrize(
    "name",
    ["credit-risk", "m", "7", "a1-b2-c3", "a" * 41],
    ids=["hyphenated", "one-letter", "one-digit", "digits-and-hyphens", "41-characters"],
)
def test_valid_model_names_are_accepted(name: str) -> None:
    assert model_projects.check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["Credit-Risk", "credit_risk", "credit risk", "-credit", "credit-", "", "a" * 42, "credit.risk", "kredit-ü"],
    ids=[
        "upper-case",
        "underscore",
        "space",
        "leading-hyphen",
        "trailing-hyphen",
        "empty",
        "42-characters",
        "dot",
        "non-ascii",
    ],
)
def test_invalid_model_names_are_unknown_models(name: str) -> None:
    with pytest.raises(UnknownModelError, match="not a valid model name"):
        model_projects.check_name(name)


def test_a_name_longer_than_41_characters_is_refused_even_when_mostly_hyphens() -> None:
    with pytest.raises(UnknownModelError):
        model_projects.check_name("a" + "-" * 60 + "b")


@pytest.mark.parametrize(
    ("key", "model"),
    [
        ("datasets/credit-risk/german_credit.csv", "credit-risk"),
        ("datasets/m/x.csv", "m"),
        ("datasets/m/sub/x.csv", "m"),
        ("datasets/synthetic-lending/2026/11/28/batch.csv", "synthetic-lending"),
        ("datasets/m/.hidden", "m"),
    ],
    ids=["credit-risk", "short-name", "nested", "deeply-nested", "dot-file"],
)
def test_model_of_data_key_is_the_first_folder_under_the_prefix(key: str, model: str) -> None:
    assert model_projects.model_of_data_key(DATA_PREFIX, key) == model


@pytest.mark.parametrize(
    "key",
    ["datasets/german_credit.csv", "datasets/m/", "datasets//x.csv", "datasets/", "other/m/x.csv", "datasetsm/x.csv"],
    ids=["no-model-folder", "folder-marker", "empty-model", "prefix-only", "other-prefix", "look-alike-prefix"],
)
def test_data_key_without_a_model_folder_names_the_layout(key: str) -> None:
    with pytest.raises(UnknownModelError) as caught:
        model_projects.model_of_data_key(DATA_PREFIX, key)

    assert "datasets/<model>/" in str(caught.value)
    assert repr(key) in str(caught.value)


@pytest.mark.parametrize(
    "key",
    ["datasets/Credit-Risk/x.csv", "datasets/credit_risk/x.csv", "datasets/-m/x.csv", "datasets/m-/x.csv"],
    ids=["upper-case", "underscore", "leading-hyphen", "trailing-hyphen"],
)
def test_data_key_under_an_invalid_model_name_is_an_unknown_model(key: str) -> None:
    with pytest.raises(UnknownModelError, match="not a valid model name"):
        model_projects.model_of_data_key(DATA_PREFIX, key)


def test_model_of_data_key_honours_another_prefix() -> None:
    assert model_projects.model_of_data_key("in/data/", "in/data/m/x.csv") == "m"
    with pytest.raises(UnknownModelError, match="in/data/<model>/"):
        model_projects.model_of_data_key("in/data/", "datasets/m/x.csv")


@pytest.mark.parametrize(
    ("key", "model"),
    [
        ("models/credit-risk/config.yaml", "credit-risk"),
        ("models/credit-risk/config.yaml.bak", None),
        ("models/credit-risk/old/config.yaml", None),
        ("models/credit-risk/notes.md", None),
        ("models/Credit-Risk/config.yaml", None),
        ("models/config.yaml", None),
        ("other/credit-risk/config.yaml", None),
    ],
    ids=["config", "backup", "nested", "other-file", "invalid-name", "no-model-folder", "other-prefix"],
)
def test_model_of_config_key_recognises_only_published_configurations(key: str, model: str | None) -> None:
    assert model_projects.model_of_config_key(MODELS_PREFIX, key) == model


# --------------------------------------------------------------------------------------------------
# The resolved spec


def test_spec_of_a_config_without_a_model_section_defaults_every_name_to_the_model() -> None:
    raw = real_config("synthetic-lending")
    del raw["model"]

    resolved = model_projects.model_spec("synthetic-lending", config_of(raw))

    assert resolved == spec("synthetic-lending")


@pytest.mark.parametrize(
    ("model", "tier", "approvals", "rates"),
    [("credit-risk", "high", 2, (0.5, 0.98)), ("synthetic-lending", "medium", 1, (0.4, 0.99))],
    ids=["credit-risk", "synthetic-lending"],
)
def test_spec_of_the_shipped_projects(model: str, tier: str, approvals: int, rates: tuple[float, float]) -> None:
    resolved = model_projects.model_spec(model, config_of(real_config(model)))

    assert (resolved.name, resolved.endpoint_name, resolved.model_package_group) == (model, model, model)
    assert (resolved.risk_tier, resolved.approvals_required) == (tier, approvals)
    assert (resolved.min_positive_rate, resolved.max_positive_rate) == rates
    assert resolved.max_latency_us == 500_000


@pytest.mark.parametrize(("tier", "approvals"), [("high", 2), ("medium", 1), ("low", 0)])
def test_approvals_required_follow_the_risk_tier(tier: str, approvals: int) -> None:
    resolved = model_projects.model_spec("m", lending_with(risk_tier=tier))

    assert resolved.approvals_required == approvals


def test_spec_takes_explicit_names_and_limits_from_the_config() -> None:
    config = lending_with(
        name="synthetic-lending",
        endpoint_name="lending-prod",
        model_package_group="lending-models",
        approvers_group="lending.approvers",
        canary={"max_latency_ms": 12.5, "min_positive_rate": 0.2, "max_positive_rate": 0.9},
    )

    resolved = model_projects.model_spec("synthetic-lending", config)

    assert resolved.endpoint_name == "lending-prod"
    assert resolved.model_package_group == "lending-models"
    assert resolved.approvers_group == "lending.approvers"
    assert (resolved.max_latency_us, resolved.min_positive_rate, resolved.max_positive_rate) == (12_500, 0.2, 0.9)


def test_model_name_in_the_config_must_match_the_project_directory() -> None:
    with pytest.raises(ConfigError) as caught:
        model_projects.model_spec("synthetic-lending", lending_with(name="credit-risk"))

    message = str(caught.value)
    assert "models/synthetic-lending/config.yaml" in message
    assert "'credit-risk'" in message
    assert "'synthetic-lending'" in message


def test_a_latency_limit_below_a_millisecond_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_latency_ms"):
        model_projects.model_spec("synthetic-lending", lending_with(canary={"max_latency_ms": 0.0004}))


# --------------------------------------------------------------------------------------------------
# One endpoint, one model


def test_endpoint_owners_maps_each_endpoint_to_its_model() -> None:
    specs = {"credit-risk": spec("credit-risk"), "synthetic-lending": spec("synthetic-lending", "lending-prod")}

    assert model_projects.endpoint_owners(specs) == {"credit-risk": "credit-risk", "lending-prod": "synthetic-lending"}


def test_endpoint_owners_of_no_models_is_empty() -> None:
    assert model_projects.endpoint_owners({}) == {}


def test_two_models_on_one_endpoint_is_a_config_error_naming_both() -> None:
    specs = {"credit-risk": spec("credit-risk"), "synthetic-lending": spec("synthetic-lending", "credit-risk")}

    with pytest.raises(
        ConfigError, match="models 'credit-risk' and 'synthetic-lending' both use endpoint 'credit-risk'"
    ):
        model_projects.endpoint_owners(specs)


def test_two_models_in_one_registry_group_is_a_config_error_naming_both() -> None:
    specs = {"a": spec("a", group="shared"), "b": spec("b", group="shared")}

    with pytest.raises(ConfigError, match="models 'a' and 'b' both use registry group 'shared'"):
        model_projects.endpoint_owners(specs)


def test_an_endpoint_named_like_another_models_registry_group_is_no_clash() -> None:
    # Endpoints and registry groups are different resources: only a name shared within one kind clashes.
    specs = {"a": spec("a", endpoint="x"), "b": spec("b", group="x")}

    assert model_projects.endpoint_owners(specs) == {"x": "a", "b": "b"}


# --------------------------------------------------------------------------------------------------
# Projects of a checkout


def test_the_repository_ships_two_model_projects() -> None:
    assert list(model_projects.project_configs(REPO_ROOT)) == ["credit-risk", "synthetic-lending"]


def test_project_configs_skip_invalid_names_and_folders_without_a_config(tmp_path: Path) -> None:
    for folder in ("b-model", "a-model", "Bad_Name", "no-config"):
        (tmp_path / "models" / folder).mkdir(parents=True)
    for folder in ("b-model", "a-model", "Bad_Name"):
        (tmp_path / "models" / folder / "config.yaml").write_text("{}", encoding="utf-8")

    assert list(model_projects.project_configs(tmp_path)) == ["a-model", "b-model"]


def test_project_configs_of_a_checkout_without_models_is_empty(tmp_path: Path) -> None:
    assert model_projects.project_configs(tmp_path) == {}


def test_load_project_resolves_the_spec_of_a_shipped_project() -> None:
    config, resolved = model_projects.load_project(REPO_ROOT, "credit-risk")

    assert config.dataset.target == "creditability"
    assert (resolved.name, resolved.approvals_required) == ("credit-risk", 2)


def test_load_project_of_an_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as caught:
        model_projects.load_project(REPO_ROOT, "fraud")

    assert "models/fraud/config.yaml" in str(caught.value)
    assert "models: credit-risk, synthetic-lending" in str(caught.value)
