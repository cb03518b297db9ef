"""Alarm evaluation of a canary's bake window (governed_mlops_local.endpoints.alarms), pure: breach, within the
threshold, insufficient data, and what TreatMissingData does when the bake ends."""

from __future__ import annotations

import pytest

from governed_mlops_local.endpoints.alarms import AlarmEvaluation, AlarmRule, end_of_bake, evaluate_alarm
from governed_mlops_local.endpoints.metrics import Measurement


def measured(status: int, latency_ms: float = 1.0, bins: dict[int, int] | None = None) -> Measurement:
    return Measurement(0.0, "green", "AllTraffic", status, latency_ms, sum((bins or {}).values()), bins or {})


def test_an_error_rate_above_the_threshold_is_an_alarm() -> None:
    # Given 3 of 20 served requests answered 5xx against a 10% threshold
    rule = AlarmRule("errors", "Invocation5XXErrors rate", 0.1)
    window = [measured(200)] * 17 + [measured(500)] * 3
    # When the bake window is evaluated
    evaluation = evaluate_alarm(rule, window)
    # Then the alarm fires and says by how much
    assert (evaluation.state, evaluation.value, evaluation.samples) == ("ALARM", 0.15, 20)
    assert evaluation.reason == (
        "Threshold Crossed: Invocation5XXErrors rate 0.1500 (3 of 20 requests) is greater than the threshold 0.1"
    )


def test_a_value_at_the_threshold_is_not_breaching() -> None:
    rule = AlarmRule("errors", "Invocation5XXErrors rate", 0.1)
    evaluation = evaluate_alarm(rule, [measured(200)] * 18 + [measured(503)] * 2)
    assert (evaluation.state, evaluation.value) == ("OK", 0.1)
    assert evaluation.reason == "Invocation5XXErrors rate 0.1000 (2 of 20 requests) is within the threshold 0.1"


def test_client_errors_count_neither_as_samples_nor_as_failures() -> None:
    rule = AlarmRule("latency", "ModelLatency p99", 50.0, min_samples=5)
    evaluation = evaluate_alarm(rule, [measured(200, 2.0)] * 4 + [measured(400, 900.0)] * 40)
    assert (evaluation.state, evaluation.samples) == ("INSUFFICIENT_DATA", 4)


def test_the_prediction_rate_counts_rows_of_answered_requests_only() -> None:
    # Given a baseline of 30% positives: 3 of 10 answered rows at or above 0.5, and a failed request's rows
    rule = AlarmRule("drift", "PositivePredictionRate delta vs baseline", 0.05, baseline_rate=0.3, min_samples=10)
    window = [measured(200, bins={500: 3, 100: 7}), measured(500, bins={900: 50})]
    evaluation = evaluate_alarm(rule, window)
    assert (evaluation.state, evaluation.samples, evaluation.value) == ("OK", 10, pytest.approx(0.0))


def test_fewer_samples_than_the_rule_needs_leave_the_alarm_without_data() -> None:
    rule = AlarmRule("errors", "Invocation5XXErrors rate", 0.1, min_samples=20)
    evaluation = evaluate_alarm(rule, [measured(500)] * 19)
    assert (evaluation.state, evaluation.value, evaluation.samples) == ("INSUFFICIENT_DATA", 1.0, 19)
    assert evaluation.reason == "Insufficient Data: 19 samples, the alarm needs at least 20"


def test_an_empty_window_has_no_value() -> None:
    rule = AlarmRule("latency", "ModelLatency p99", 50.0, min_samples=1)
    evaluation = evaluate_alarm(rule, [])
    assert (evaluation.state, evaluation.value, evaluation.samples) == ("INSUFFICIENT_DATA", None, 0)


def test_missing_data_treated_as_breaching_is_an_alarm_when_the_bake_ends() -> None:
    # Given a rule that treats missing data as breaching, and a window with too few requests
    rule = AlarmRule("errors", "Invocation5XXErrors rate", 0.1, treat_missing_data="breaching")
    during_bake = evaluate_alarm(rule, [measured(200)] * 3)
    # When the bake ends
    ended = end_of_bake(rule, during_bake)
    # Then the alarm fires, saying why
    assert during_bake.state == "INSUFFICIENT_DATA"
    assert (ended.state, ended.samples) == ("ALARM", 3)
    assert ended.reason == (
        "Insufficient Data: 3 samples, the alarm needs at least 20 at the end of the bake, "
        "and missing data is treated as breaching"
    )


def test_missing_data_treated_as_missing_lets_the_bake_end_without_data() -> None:
    rule = AlarmRule("errors", "Invocation5XXErrors rate", 0.1)
    during_bake = evaluate_alarm(rule, [measured(200)] * 3)
    assert end_of_bake(rule, during_bake) == during_bake


@pytest.mark.parametrize("state", ["OK", "ALARM"])
def test_the_end_of_a_bake_leaves_an_evaluated_alarm_as_it_is(state: str) -> None:
    rule = AlarmRule("errors", "Invocation5XXErrors rate", 0.1, treat_missing_data="breaching")
    evaluation = evaluate_alarm(rule, [measured(200)] * 20 + [measured(500)] * (10 if state == "ALARM" else 0))
    assert evaluation.state == state
    assert end_of_bake(rule, evaluation) is evaluation


def test_an_evaluation_reads_back_as_the_deployment_records_it() -> None:
    evaluation = AlarmEvaluation("errors", "OK", "fine", 0.0, 20)
    assert evaluation.to_json_dict() == {
        "alarm_name": "errors",
        "state": "OK",
        "reason": "fine",
        "value": 0.0,
        "samples": 20,
    }


def test_an_unknown_metric_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="metric 'Invocations' is not one of"):
        AlarmRule("a", "Invocations", 1.0)  # type: ignore[arg-type]
