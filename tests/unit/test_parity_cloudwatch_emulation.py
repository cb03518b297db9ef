"""The parity harness's CloudWatch Logs metric filters and CloudWatch metric math (moto evaluates neither)."""

from __future__ import annotations

import json

import pytest

from governed_mlops_ml.serving import prediction_metric_filters
from tests.parity.cloudwatch_emulation import (
    UnsupportedExpression,
    UnsupportedPattern,
    breaches,
    compile_pattern,
    evaluate_expression,
    metric_data,
)

LINE = json.dumps(
    {
        "mlops_metric": "predictions",
        "EndpointName": "credit-risk",
        "ModelVersion": "credit-risk/2",
        "PredictedRows": 5,
        "PositivePredictions": 1,
    }
)
BEHAVIOUR = "IF(rows >= 20 AND (positives / rows < 0.5 OR positives / rows > 0.98), 1, 0)"


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        ('{ $.mlops_metric = "predictions" }', True),
        ('{ $.mlops_metric = "other" }', False),
        ('{ $.mlops_metric != "other" }', True),
        ("{ $.PredictedRows > 4 && $.PositivePredictions = 1 }", True),
        ("{ $.PredictedRows >= 6 }", False),
        ('{ $.absent = "x" }', False),
    ],
)
def test_a_json_pattern_matches_as_cloudwatch_logs_documents(pattern: str, matched: bool) -> None:
    assert compile_pattern(pattern)(LINE) is matched


def test_a_json_pattern_never_matches_a_plain_text_line() -> None:
    assert compile_pattern('{ $.mlops_metric = "predictions" }')("INFO predictions 5") is False


@pytest.mark.parametrize("pattern", ["[ip, user]", '{ $.a = "x*" }', "{ ($.a = 1) || $.b = 2 }", '{ $.a < "x" }'])
def test_a_pattern_outside_the_emulated_subset_is_refused_by_name(pattern: str) -> None:
    with pytest.raises(UnsupportedPattern):
        compile_pattern(pattern)


def test_the_serving_filters_turn_a_line_into_rows_and_positives_per_endpoint_and_version() -> None:
    data = [d for f in prediction_metric_filters("/aws/sagemaker/Endpoints/credit-risk") for d in metric_data(f, LINE)]

    assert sorted((d["MetricName"], d["Value"]) for d in data) == [("PositivePredictions", 1.0), ("PredictedRows", 5.0)]
    for datum in data:
        assert datum["Namespace"] == "GovernedMLOps"
        assert datum["Unit"] == "Count"
        assert datum["Dimensions"] == [
            {"Name": "EndpointName", "Value": "credit-risk"},
            {"Name": "ModelVersion", "Value": "credit-risk/2"},
        ]


def test_an_event_without_a_dimension_or_numeric_value_publishes_nothing() -> None:
    (rows_filter, _) = prediction_metric_filters("/aws/sagemaker/Endpoints/credit-risk")
    without_version = json.loads(LINE)
    del without_version["ModelVersion"]
    text_value = {**json.loads(LINE), "PredictedRows": "five"}

    assert metric_data(rows_filter, json.dumps(without_version)) == []
    assert metric_data(rows_filter, json.dumps(text_value)) == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"positives": 2.0, "rows": 40.0}, 1.0),  # 5% approved: below the band
        ({"positives": 28.0, "rows": 40.0}, 0.0),  # 70%: inside
        ({"positives": 40.0, "rows": 40.0}, 1.0),  # 100%: above
        ({"positives": 0.0, "rows": 10.0}, 0.0),  # too few rows to judge
        ({"positives": None, "rows": None}, None),  # no data at all: missing
    ],
)
def test_the_behaviour_alarms_metric_math_flags_a_rate_outside_the_band(
    values: dict[str, float | None], expected: float | None
) -> None:
    assert evaluate_expression(BEHAVIOUR, values) == expected


def test_metric_math_arithmetic_precedence_and_not() -> None:
    assert evaluate_expression("a + b * 2 - -1", {"a": 1.0, "b": 3.0}) == 8.0
    assert evaluate_expression("NOT (a > 1) || !(b == 3)", {"a": 2.0, "b": 3.0}) == 0.0
    assert evaluate_expression("a / b", {"a": 1.0, "b": 0.0}) is None


@pytest.mark.parametrize("expression", ["FILL(a, 0)", "a +", "unknown_id > 1", "a ^ 2"])
def test_metric_math_outside_the_subset_is_refused_by_name(expression: str) -> None:
    with pytest.raises(UnsupportedExpression):
        evaluate_expression(expression, {"a": 1.0})


def test_comparison_operators_of_an_alarm() -> None:
    assert breaches(1.0, "GreaterThanThreshold", 0.0)
    assert not breaches(0.0, "GreaterThanThreshold", 0.0)
    assert breaches(0.0, "LessThanOrEqualToThreshold", 0.0)
    with pytest.raises(UnsupportedExpression):
        breaches(1.0, "LessThanLowerOrGreaterThanUpperThreshold", 0.0)
