"""The job configuration handed to the training and evaluation jobs (``job_config.json``).

The pipeline writes this file into the job's ``config`` channel. Parsing is strict (unknown or
missing keys, wrong types and inconsistent feature lists are refused) because the jobs cannot use
pydantic: the SageMaker XGBoost container only guarantees the scientific Python stack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from governed_mlops.errors import JobInputError

__all__ = [
    "DEFAULT_MISSING_RULE",
    "JOB_CONFIG_FILE",
    "MISSING_POLICIES",
    "DecisionLabels",
    "JobConfig",
    "MissingRule",
    "parse_job_config",
]

JOB_CONFIG_FILE = "job_config.json"

_KEYS = ("target", "positive_label", "numeric_features", "categorical_features", "seed", "decision_threshold")
#: Keys a document may leave out (written by later pipeline versions; absent in older ones).
_OPTIONAL_KEYS = ("missing", "decisions")

#: The missing-value policies of the pipeline configuration's ``dataset.missing`` (README "Missing values").
MISSING_POLICIES: Final = ("allow", "impute-median", "impute-mode", "reject")


@dataclass(frozen=True)
class MissingRule:
    """How one feature's missing values are treated, as configured in ``dataset.missing``.

    ``max_fraction`` is the share of rows allowed to miss the feature (0 for ``reject``); ``None``
    when the document does not say (a job config written before per-column policies existed).
    """

    policy: str = "allow"
    max_fraction: float | None = None


DEFAULT_MISSING_RULE: Final = MissingRule()


@dataclass(frozen=True)
class DecisionLabels:
    """The two outcomes a served model answers with: the configured ``model.decisions`` or the dataset's labels."""

    favourable: str
    unfavourable: str

    def of(self, score: float, threshold: float) -> str:
        """The decision for ``score``: favourable when it reaches ``threshold`` (the evaluation job's rule)."""
        return self.favourable if score >= threshold else self.unfavourable

    def to_json_dict(self) -> dict[str, str]:
        return {"favourable": self.favourable, "unfavourable": self.unfavourable}


def parse_decision_labels(value: Any, where: str) -> DecisionLabels:
    """``{"favourable": ..., "unfavourable": ...}`` with two distinct non-empty strings.

    Raises:
        JobInputError: another shape, an empty name or the same name twice.
    """
    if (
        not isinstance(value, Mapping)
        or set(value) != {"favourable", "unfavourable"}
        or not all(isinstance(v, str) and v for v in value.values())
        or value["favourable"] == value["unfavourable"]
    ):
        raise JobInputError(
            f"{where}: 'decisions' must be an object with two different non-empty strings "
            f"'favourable' and 'unfavourable', got {value!r}"
        )
    return DecisionLabels(favourable=value["favourable"], unfavourable=value["unfavourable"])


@dataclass(frozen=True)
class JobConfig:
    """What the jobs need to know about the dataset and the decision rule."""

    target: str
    positive_label: str
    numeric_features: tuple[str, ...]
    categorical_features: tuple[str, ...]
    seed: int
    decision_threshold: float
    #: ``(feature, rule)`` pairs; a feature not listed has :data:`DEFAULT_MISSING_RULE` (allow, no stated limit).
    missing: tuple[tuple[str, MissingRule], ...] = ()
    #: The configured names of the two decisions (``model.decisions``); None: the dataset's labels.
    decisions: DecisionLabels | None = None

    @property
    def features(self) -> tuple[str, ...]:
        """Numeric then categorical feature names, in configuration order."""
        return (*self.numeric_features, *self.categorical_features)

    def missing_rule(self, feature: str) -> MissingRule:
        """The missing-value rule of ``feature`` (allow without a stated limit when none is configured)."""
        return dict(self.missing).get(feature, DEFAULT_MISSING_RULE)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``job_config.json`` document for this configuration."""
        document: dict[str, Any] = {
            "target": self.target,
            "positive_label": self.positive_label,
            "numeric_features": list(self.numeric_features),
            "categorical_features": list(self.categorical_features),
            "seed": self.seed,
            "decision_threshold": self.decision_threshold,
        }
        if self.missing:
            document["missing"] = {
                name: {"policy": rule.policy, "max_fraction": rule.max_fraction} for name, rule in self.missing
            }
        if self.decisions is not None:
            document["decisions"] = self.decisions.to_json_dict()
        return document


def parse_job_config(raw: Mapping[str, Any]) -> JobConfig:
    """Validate a decoded ``job_config.json`` document and return it as a :class:`JobConfig`.

    Raises:
        JobInputError: a key is missing or unknown, a value has the wrong type, a feature is listed
            twice or is the target, no feature is listed, or the threshold is outside (0, 1).
    """
    if not isinstance(raw, Mapping):
        raise JobInputError(f"{JOB_CONFIG_FILE} must hold a JSON object, got {type(raw).__name__}")
    missing = [key for key in _KEYS if key not in raw]
    unknown = sorted(set(raw) - set(_KEYS) - set(_OPTIONAL_KEYS))
    if missing or unknown:
        raise JobInputError(f"{JOB_CONFIG_FILE}: missing keys {missing}, unknown keys {unknown}")
    config = JobConfig(
        target=_non_empty_string(raw, "target"),
        positive_label=_non_empty_string(raw, "positive_label"),
        numeric_features=_string_list(raw, "numeric_features"),
        categorical_features=_string_list(raw, "categorical_features"),
        seed=_integer(raw, "seed"),
        decision_threshold=_threshold(raw, "decision_threshold"),
        missing=_missing_rules(raw.get("missing", {})),
        decisions=parse_decision_labels(raw["decisions"], JOB_CONFIG_FILE) if "decisions" in raw else None,
    )
    _check_features(config)
    _check_missing_rules(config)
    return config


def _missing_rules(value: Any) -> tuple[tuple[str, MissingRule], ...]:
    if not isinstance(value, Mapping):
        raise JobInputError(f"{JOB_CONFIG_FILE}: 'missing' must map features to rules, got {value!r}")
    rules = []
    for name, entry in value.items():
        where = f"{JOB_CONFIG_FILE}: missing.{name}"
        if not isinstance(entry, Mapping) or set(entry) - {"policy", "max_fraction"}:
            raise JobInputError(f"{where} must be an object with 'policy' and 'max_fraction', got {entry!r}")
        policy = entry.get("policy", DEFAULT_MISSING_RULE.policy)
        if policy not in MISSING_POLICIES:
            raise JobInputError(f"{where}: policy {policy!r} is not one of {list(MISSING_POLICIES)}")
        limit = entry.get("max_fraction")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0.0 <= limit <= 1.0
        ):
            raise JobInputError(f"{where}: max_fraction must be a number from 0 to 1, got {limit!r}")
        rules.append((str(name), MissingRule(policy=policy, max_fraction=None if limit is None else float(limit))))
    return tuple(rules)


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


def _check_missing_rules(config: JobConfig) -> None:
    not_features = sorted(name for name, _ in config.missing if name not in config.features)
    if not_features:
        raise JobInputError(f"{JOB_CONFIG_FILE}: missing-value rules for columns that are not features: {not_features}")
    medians = sorted(
        name for name, rule in config.missing if rule.policy == "impute-median" and name in config.categorical_features
    )
    if medians:
        raise JobInputError(f"{JOB_CONFIG_FILE}: impute-median needs a numeric feature; categorical: {medians}")
