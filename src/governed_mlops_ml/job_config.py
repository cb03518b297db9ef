"""The job configuration handed to the training and evaluation jobs (``job_config.json``).

The pipeline writes this file into the job's ``config`` channel. Parsing is strict (unknown or
missing keys, wrong types and inconsistent feature lists are refused) because the jobs cannot use
pydantic: the SageMaker XGBoost container only guarantees the scientific Python stack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from governed_mlops.errors import JobInputError

__all__ = ["JOB_CONFIG_FILE", "JobConfig", "parse_job_config"]

JOB_CONFIG_FILE = "job_config.json"

_KEYS = ("target", "positive_label", "numeric_features", "categorical_features", "seed", "decision_threshold")


@dataclass(frozen=True)
class JobConfig:
    """What the jobs need to know about the dataset and the decision rule."""

    target: str
    positive_label: str
    numeric_features: tuple[str, ...]
    categorical_features: tuple[str, ...]
    seed: int
    decision_threshold: float

    @property
    def features(self) -> tuple[str, ...]:
        """Numeric then categorical feature names, in configuration order."""
        return (*self.numeric_features, *self.categorical_features)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``job_config.json`` document for this configuration."""
        return {
            "target": self.target,
            "positive_label": self.positive_label,
            "numeric_features": list(self.numeric_features),
            "categorical_features": list(self.categorical_features),
            "seed": self.seed,
            "decision_threshold": self.decision_threshold,
        }


def parse_job_config(raw: Mapping[str, Any]) -> JobConfig:
    """Validate a decoded ``job_config.json`` document and return it as a :class:`JobConfig`.

    Raises:
        JobInputError: a key is missing or unknown, a value has the wrong type, a feature is listed
            twice or is the target, no feature is listed, or the threshold is outside (0, 1).
    """
    if not isinstance(raw, Mapping):
        raise JobInputError(f"{JOB_CONFIG_FILE} must hold a JSON object, got {type(raw).__name__}")
    missing = [key for key in _KEYS if key not in raw]
    unknown = sorted(set(raw) - set(_KEYS))
    if missing or unknown:
        raise JobInputError(f"{JOB_CONFIG_FILE}: missing keys {missing}, unknown keys {unknown}")
    config = JobConfig(
        target=_non_empty_string(raw, "target"),
        positive_label=_non_empty_string(raw, "positive_label"),
        numeric_features=_string_list(raw, "numeric_features"),
        categorical_features=_string_list(raw, "categorical_features"),
        seed=_integer(raw, "seed"),
        decision_threshold=_threshold(raw, "decision_threshold"),
    )
    _check_features(config)
    return config


def _non_empty_string(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value:
        raise JobInputError(f"{JOB_CONFIG_FILE}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _string_list(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw[key]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise JobInputError(f"{JOB_CONFIG_FILE}: {key!r} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _integer(raw: Mapping[str, Any], key: str) -> int:
    value = raw[key]
    # bool is an int subclass; a JSON true is not a seed.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise JobInputError(f"{JOB_CONFIG_FILE}: {key!r} must be a non-negative integer, got {value!r}")
    return value


def _threshold(raw: Mapping[str, Any], key: str) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JobInputError(f"{JOB_CONFIG_FILE}: {key!r} must be a number, got {value!r}")
    if not 0.0 < value < 1.0:
        raise JobInputError(f"{JOB_CONFIG_FILE}: {key!r} must lie strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_features(config: JobConfig) -> None:
    features = config.features
    if not features:
        raise JobInputError(f"{JOB_CONFIG_FILE}: no features listed (numeric_features / categorical_features)")
    duplicated = sorted({name for name in features if features.count(name) > 1})
    if duplicated:
        raise JobInputError(f"{JOB_CONFIG_FILE}: features listed more than once: {duplicated}")
    if config.target in features:
        raise JobInputError(f"{JOB_CONFIG_FILE}: target {config.target!r} is also listed as a feature")
