"""CloudWatch alarms on an endpoint's new (green) fleet, evaluated locally on its invocation measurements.

Evaluation is pure: :func:`evaluate_alarm` observes the rule's metric on one bake window's measurements,
then judges the observation against the rule (too few samples, over the threshold, within it);
:func:`end_of_bake` applies the rule's TreatMissingData when the bake is over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any, Literal, get_args

from governed_mlops_local.endpoints.metrics import SCORE_BINS, Measurement

#: CloudWatch's limit on an alarm name.
_MAX_ALARM_NAME = 255

__all__ = [
    "ALARM_METRICS",
    "AlarmEvaluation",
    "AlarmMetric",
    "AlarmRule",
    "AlarmState",
    "end_of_bake",
    "evaluate_alarm",
]

AlarmMetric = Literal[
    "Invocation5XXErrors rate",
    "ModelLatency p99",
    "PositivePredictionRate delta vs baseline",
]
ALARM_METRICS: tuple[str, ...] = get_args(AlarmMetric)
AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


@dataclass(frozen=True)
class AlarmRule:
    """A CloudWatch alarm on an endpoint's new (green) fleet, evaluated locally.

    - ``Invocation5XXErrors rate``: share of green's requests answered 5xx; ALARM when above ``threshold``.
    - ``ModelLatency p99``: 99th percentile of green's model latency in milliseconds; ALARM when above ``threshold``.
    - ``PositivePredictionRate delta vs baseline``: share of green's predicted rows with score >=
      ``score_threshold``, compared with ``baseline_rate`` (the model's rate on its training data);
      ALARM when the absolute difference is above ``threshold`` (the tolerance).

    Fewer than ``min_samples`` requests (rows for the prediction rate) in the bake window leave the
    alarm in INSUFFICIENT_DATA. At the end of a bake ``treat_missing_data="breaching"`` turns that into
    ALARM (CloudWatch's TreatMissingData); the default ``"missing"`` lets the deployment proceed, as
    SageMaker does.
    """

    alarm_name: str
    metric: AlarmMetric
    threshold: float
    baseline_rate: float | None = None
    score_threshold: float = 0.5
    min_samples: int = 20
    treat_missing_data: Literal["missing", "breaching"] = "missing"

    def __post_init__(self) -> None:
        if not self.alarm_name or len(self.alarm_name) > _MAX_ALARM_NAME:
            raise ValueError(f"alarm name must be 1-255 characters, got {self.alarm_name!r}")
        if self.metric not in ALARM_METRICS:
            raise ValueError(f"alarm {self.alarm_name!r}: metric {self.metric!r} is not one of {list(ALARM_METRICS)}")
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"alarm {self.alarm_name!r}: threshold must be a finite number >= 0")
        if self.metric == "PositivePredictionRate delta vs baseline" and (
            self.baseline_rate is None or not 0.0 <= self.baseline_rate <= 1.0
        ):
            raise ValueError(f"alarm {self.alarm_name!r}: baseline_rate in [0, 1] is required for {self.metric!r}")
        if not 0.0 < self.score_threshold <= 1.0:
            raise ValueError(f"alarm {self.alarm_name!r}: score_threshold must lie in (0, 1]")
        if self.min_samples < 1:
            raise ValueError(f"alarm {self.alarm_name!r}: min_samples must be at least 1")
        if self.treat_missing_data not in ("missing", "breaching"):
            raise ValueError(f"alarm {self.alarm_name!r}: treat_missing_data must be 'missing' or 'breaching'")

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json_dict(cls, document: Mapping[str, Any]) -> AlarmRule:
        return cls(**dict(document))


@dataclass(frozen=True)
class AlarmEvaluation:
    """The state an alarm evaluates to on a window of measurements."""

    alarm_name: str
    state: AlarmState
    reason: str
    value: float | None
    samples: int

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Observation:
    """A metric's value on a window (None without samples), how many samples it rests on, and what it says."""

    value: float | None
    samples: int
    description: str


def _served(measurements: Sequence[Measurement]) -> list[Measurement]:
    # 4xx are the caller's errors: they say nothing about the model and are left out, as the
    # Invocation5XXErrors and ModelLatency metrics leave them out.
    return [m for m in measurements if not HTTPStatus.BAD_REQUEST <= m.status < HTTPStatus.INTERNAL_SERVER_ERROR]


def _error_rate(_rule: AlarmRule, measurements: Sequence[Measurement]) -> _Observation:
    served = _served(measurements)
    samples = len(served)
    failed = sum(1 for m in served if m.status >= HTTPStatus.INTERNAL_SERVER_ERROR)
    value = failed / samples if samples else None
    shown = value if value is not None else 0
    return _Observation(value, samples, f"Invocation5XXErrors rate {shown:.4f} ({failed} of {samples} requests)")


def _latency_p99(_rule: AlarmRule, measurements: Sequence[Measurement]) -> _Observation:
    served = _served(measurements)
    samples = len(served)
    # numpy arrives with the first model an endpoint loads; the runtime starts without it.
    import numpy as np  # noqa: PLC0415 - see above

    value = float(np.percentile([m.latency_ms for m in served], 99)) if samples else None
    shown = value if value is not None else 0
    return _Observation(value, samples, f"ModelLatency p99 {shown:.2f} ms over {samples} requests")


def _prediction_rate_delta(rule: AlarmRule, measurements: Sequence[Measurement]) -> _Observation:
    cut = round(rule.score_threshold * SCORE_BINS)
    answered = [m for m in measurements if m.status == HTTPStatus.OK]
    samples = sum(m.rows for m in answered)
    positives = sum(count for m in answered for b, count in m.score_bins.items() if b >= cut)
    rate = positives / samples if samples else None
    value = abs(rate - float(rule.baseline_rate or 0.0)) if rate is not None else None
    description = (
        f"PositivePredictionRate {rate if rate is not None else 0:.4f} over {samples} rows vs baseline "
        f"{rule.baseline_rate:.4f}: delta {value if value is not None else 0:.4f}"
    )
    return _Observation(value, samples, description)


_OBSERVE: dict[str, Callable[[AlarmRule, Sequence[Measurement]], _Observation]] = {
    "Invocation5XXErrors rate": _error_rate,
    "ModelLatency p99": _latency_p99,
    "PositivePredictionRate delta vs baseline": _prediction_rate_delta,
}


def _judge(rule: AlarmRule, observed: _Observation) -> AlarmEvaluation:
    if observed.samples < rule.min_samples or observed.value is None:
        reason = f"Insufficient Data: {observed.samples} samples, the alarm needs at least {rule.min_samples}"
        return AlarmEvaluation(rule.alarm_name, "INSUFFICIENT_DATA", reason, observed.value, observed.samples)
    if observed.value > rule.threshold:
        reason = f"Threshold Crossed: {observed.description} is greater than the threshold {rule.threshold}"
        return AlarmEvaluation(rule.alarm_name, "ALARM", reason, observed.value, observed.samples)
    reason = f"{observed.description} is within the threshold {rule.threshold}"
    return AlarmEvaluation(rule.alarm_name, "OK", reason, observed.value, observed.samples)


def evaluate_alarm(rule: AlarmRule, measurements: Sequence[Measurement]) -> AlarmEvaluation:
    """Evaluate ``rule`` on the measurements of one fleet within one bake window (pure)."""
    return _judge(rule, _OBSERVE[rule.metric](rule, measurements))


def end_of_bake(rule: AlarmRule, evaluation: AlarmEvaluation) -> AlarmEvaluation:
    """``evaluation`` as it stands when the bake ends: INSUFFICIENT_DATA becomes ALARM when the rule treats
    missing data as breaching (CloudWatch's TreatMissingData); any other evaluation is unchanged."""
    if evaluation.state != "INSUFFICIENT_DATA" or rule.treat_missing_data != "breaching":
        return evaluation
    return AlarmEvaluation(
        rule.alarm_name,
        "ALARM",
        f"{evaluation.reason} at the end of the bake, and missing data is treated as breaching",
        evaluation.value,
        evaluation.samples,
    )
