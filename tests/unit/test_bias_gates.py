"""Bias gate (check_bias / raise_for_breaches) and the ``bias`` section of the pipeline configuration."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from governed_mlops.config import MetricLimit, PipelineConfig, parse_config
from governed_mlops.domain.bias_gates import BiasBreach, check_bias, raise_for_breaches
from governed_mlops.errors import ArtifactNotFoundError, BiasThresholdExceeded, ConfigError, FacetError
from governed_mlops_ml.artifacts import read_dataset
from governed_mlops_ml.bias import bias_report, parse_bias_config

REPO_ROOT = Path(__file__).resolve().parents[2]
GERMAN_CREDIT_CONFIG = REPO_ROOT / "models" / "credit-risk" / "config.yaml"
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
SHIPPED: dict[str, Any] = yaml.safe_load(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"))


def _metric(name: str, value: float | None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": f"{name} description", "value": value, **extra}


def _report(section: str = "pre_training_bias_metrics", **facets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": "1.0",
        section: {
            "label": "creditability",
            "facets": {
                name: [{"value_or_threshold": f"{name}-d", "metrics": metrics}] for name, metrics in facets.items()
            },
            "label_value_or_threshold": "good",
        },
    }


PRE_REPORT = _report(
    sex=[_metric("CI", 0.38), _metric("DPL", -0.0187), _metric("KL", 0.0008)],
    age=[_metric("CI", 0.62), _metric("DPL", 0.1494), _metric("KL", 0.0482)],
)
POST_REPORT = _report(
    "post_training_bias_metrics",
    sex=[_metric("DPPL", -0.047), _metric("DI", 1.063), _metric("TE", None, error="TE is undefined: FP_d is 0")],
    age=[_metric("DPPL", 0.150), _metric("DI", 0.810), _metric("TE", 0.05)],
)


def test_metrics_within_their_limits_breach_nothing() -> None:
    thresholds = {"sex": {"DPL": {"min": -0.1, "max": 0.1}}, "age": {"DPL": {"min": -0.2, "max": 0.2}}}

    assert check_bias(PRE_REPORT, thresholds) == []


def test_a_value_above_max_is_a_breach() -> None:
    breaches = check_bias(PRE_REPORT, {"age": {"DPL": {"max": 0.1}}})

    assert [(b.stage, b.facet, b.metric, b.value) for b in breaches] == [("pre", "age", "DPL", 0.1494)]


def test_a_value_below_min_is_a_breach() -> None:
    breaches = check_bias(POST_REPORT, {"age": {"DI": {"min": 0.8}, "DPPL": {"min": 0.2}}})

    assert [(b.metric, b.value) for b in breaches] == [("DPPL", 0.150)]


def test_limits_are_inclusive() -> None:
    assert check_bias(PRE_REPORT, {"sex": {"CI": {"min": 0.38, "max": 0.38}}}) == []


def test_an_undefined_metric_breaches_its_limit_and_carries_the_reason() -> None:
    [breach] = check_bias(POST_REPORT, {"sex": {"TE": {"min": -1, "max": 1}}})

    assert (breach.value, breach.error) == (None, "TE is undefined: FP_d is 0")


def test_limits_of_the_other_stage_are_not_checked() -> None:
    # Given a post-training limit that the pre-training values could never meet
    thresholds = {"sex": {"DI": {"min": 100}}}

    assert check_bias(PRE_REPORT, thresholds) == []


def test_limits_may_be_config_metric_limit_objects() -> None:
    assert check_bias(PRE_REPORT, {"age": {"DPL": MetricLimit(max=0.1)}})[0].limit == MetricLimit(max=0.1)


def test_an_unknown_metric_name_is_a_facet_error_naming_it() -> None:
    with pytest.raises(FacetError, match="unknown Clarify metric 'DPLL'"):
        check_bias(PRE_REPORT, {"sex": {"DPLL": {"max": 0.1}}})


def test_an_unknown_facet_is_a_facet_error_naming_it() -> None:
    with pytest.raises(FacetError, match="facet 'gender'"):
        check_bias(PRE_REPORT, {"gender": {"DPL": {"max": 0.1}}})


def test_a_limit_on_a_metric_the_report_did_not_compute_is_a_facet_error() -> None:
    # Given a report without CDDL (no group column was configured)
    with pytest.raises(FacetError, match="CDDL for facet 'sex'"):
        check_bias(PRE_REPORT, {"sex": {"CDDL": {"max": 0.1}}})


def test_a_report_without_a_bias_section_is_refused() -> None:
    with pytest.raises(ArtifactNotFoundError, match="none of the sections"):
        check_bias({"version": "1.0"}, {})


def test_raise_for_breaches_names_facet_metric_value_and_limit_of_every_breach() -> None:
    breaches = check_bias(POST_REPORT, {"age": {"DI": {"min": 0.9, "max": 1.1}}, "sex": {"DPPL": {"max": -0.1}}})

    with pytest.raises(BiasThresholdExceeded) as caught:
        raise_for_breaches(breaches)

    message = str(caught.value)
    assert message.startswith("2 bias metric(s) outside their limits: ")
    assert "facet 'age' (age-d) DI = 0.81 outside limit [min 0.9, max 1.1] (post-training)" in message
    assert "facet 'sex' (sex-d) DPPL = -0.047 outside limit [max -0.1] (post-training)" in message


def test_raise_for_breaches_names_why_an_undefined_metric_failed() -> None:
    breach = BiasBreach(
        stage="post",
        facet="sex",
        value_or_threshold="female*",
        metric="TE",
        value=None,
        limit=MetricLimit(max=1),
        error="TE is undefined: FP_d is 0",
    )

    with pytest.raises(BiasThresholdExceeded, match=r"TE = undefined outside limit \[max 1\] .*FP_d is 0"):
        raise_for_breaches([breach])


def test_raise_for_breaches_without_breaches_returns() -> None:
    raise_for_breaches([])


def test_german_credit_passes_the_shipped_pre_training_limits(german_credit_config: PipelineConfig) -> None:
    # Given the shipped configuration's bias section, as the pipeline hands it to the bias job
    assert german_credit_config.bias is not None
    job_config = parse_bias_config(
        german_credit_config.bias.job_document(label="creditability", positive_label="good", decision_threshold=0.5)
    )
    report = bias_report(read_dataset(GERMAN_CREDIT_CSV), job_config, stage="pre")

    assert check_bias(report, german_credit_config.bias.thresholds) == []


def test_the_shipped_limits_catch_a_label_shift_against_young_applicants(
    german_credit_config: PipelineConfig,
) -> None:
    # Given German credit where every young applicant's repayment is recorded as "bad"
    assert german_credit_config.bias is not None
    frame = read_dataset(GERMAN_CREDIT_CSV)
    frame.loc[frame["age_in_years"].astype(int) <= 25, "creditability"] = "bad"
    job_config = parse_bias_config(
        german_credit_config.bias.job_document(label="creditability", positive_label="good", decision_threshold=0.5)
    )

    breaches = check_bias(bias_report(frame, job_config, stage="pre"), german_credit_config.bias.thresholds)

    assert [(b.facet, b.metric) for b in breaches] == [("age_25_or_younger", "DPL")]


# --------------------------------------------------------------------------------------------------
# The bias section of the pipeline configuration
# --------------------------------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def edited(edit: Edit) -> str:
    raw = copy.deepcopy(SHIPPED)
    edit(raw)
    return yaml.safe_dump(raw, sort_keys=False)


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="pipeline.yaml")
    return str(caught.value)


def test_shipped_bias_section_parses_with_three_facets(german_credit_config: PipelineConfig) -> None:
    assert german_credit_config.bias is not None
    assert [(f.name, f.column) for f in german_credit_config.bias.facets] == [
        ("sex", "personal_status_and_sex"),
        ("age_25_or_younger", "age_in_years"),
        ("foreign_worker", "foreign_worker"),
    ]


def test_a_configuration_without_a_bias_section_still_parses() -> None:
    assert parse_config(edited(lambda raw: raw.pop("bias"))).bias is None


def test_job_document_round_trips_through_the_jobs_parser(german_credit_config: PipelineConfig) -> None:
    assert german_credit_config.bias is not None
    document = german_credit_config.bias.job_document(
        label="creditability", positive_label="good", decision_threshold=0.5
    )

    parsed = parse_bias_config(document)

    assert parsed.thresholds == {
        facet: {metric: limit.to_json_dict() for metric, limit in limits.items()}
        for facet, limits in german_credit_config.bias.thresholds.items()
    }
    assert [facet.value_or_threshold for facet in parsed.facets] == ["female*", "(-inf, 25]", "yes"]


def _set_facet(key: str, value: Any) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        raw["bias"]["facets"][0][key] = value

    return edit


def _set_threshold(facet: str, metric: str, limit: Any) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        raw["bias"]["thresholds"].setdefault(facet, {})[metric] = limit

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            _set_facet("prefx", "female"), "bias.facets.0.prefx: Extra inputs are not permitted", id="facet-key"
        ),
        pytest.param(_set_facet("threshold", 30), "facet 'sex' needs exactly one of", id="two-selectors"),
        pytest.param(lambda raw: raw["bias"]["facets"][0].pop("prefix"), "exactly one of", id="no-selector"),
        pytest.param(_set_facet("name", "sex and gender"), "bias.facets.0.name", id="facet-name"),
        pytest.param(
            lambda raw: raw["bias"]["facets"][2].update(values=[True]), "bias.facets.2.values.0", id="yaml-yes"
        ),
        pytest.param(_set_threshold("sex", "DPLL", {"max": 0.1}), "unknown Clarify metrics ['DPLL']", id="metric"),
        pytest.param(_set_threshold("gender", "DPL", {"max": 0.1}), "unknown facets ['gender']", id="facet"),
        pytest.param(_set_threshold("sex", "DI", {"min": 2, "max": 1}), "min 2.0 is greater than max 1.0", id="range"),
        pytest.param(_set_threshold("sex", "DI", {}), "needs min and/or max", id="empty-limit"),
        pytest.param(_set_threshold("sex", "DI", {"maximum": 1}), "bias.thresholds.sex.DI.maximum", id="limit-key"),
        pytest.param(
            lambda raw: (raw["bias"].pop("group_column"), _set_threshold("sex", "CDDL", {"max": 0.1})(raw)),
            "['CDDL'] need a group_column",
            id="cddl-without-group",
        ),
        pytest.param(_set_facet("column", "creditability"), "use the target column 'creditability'", id="target"),
        pytest.param(
            lambda raw: raw["bias"]["facets"].append(dict(raw["bias"]["facets"][0])),
            "facet names used more than once: ['sex']",
            id="duplicate-facet",
        ),
        pytest.param(lambda raw: raw["bias"].update(facets=[]), "bias.facets", id="no-facets"),
        pytest.param(lambda raw: raw["bias"].update(group_colum="purpose"), "bias.group_colum", id="bias-key"),
    ],
)
def test_bias_section_mistakes_are_config_errors_naming_the_field(edit: Edit, expected: str) -> None:
    assert expected in config_error(edited(edit))
