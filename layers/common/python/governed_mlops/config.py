"""Pipeline configuration: which dataset, how to validate, split, train and gate it.

One YAML file describes a credit dataset and the pipeline's limits for it, so a differently
shaped dataset runs the whole pipeline with a new file and no code change. Unknown keys are
refused (a typo is an error that names the field, never a silently ignored setting).
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from governed_mlops.errors import ConfigError
from governed_mlops.ml.errors import JobInputError
from governed_mlops.ml.hyperparameters import parse_hyperparameters


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueRange(_Strict):
    min: float | None = None
    max: float | None = None


class DatasetConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    target: str
    positive_label: str = Field(description="Target value meaning the favourable outcome (credit granted).")
    numeric_features: list[str] = Field(default_factory=list)
    categorical_features: list[str] = Field(default_factory=list)
    ranges: dict[str, ValueRange] = Field(default_factory=dict)
    attribution: str = ""

    @model_validator(mode="after")
    def _features_are_consistent(self) -> DatasetConfig:
        features = self.numeric_features + self.categorical_features
        if not features:
            raise ValueError("dataset declares no features (numeric_features / categorical_features)")
        duplicated = sorted({f for f in features if features.count(f) > 1})
        if duplicated:
            raise ValueError(f"features declared twice: {duplicated}")
        if self.target in features:
            raise ValueError(f"target {self.target!r} is also declared as a feature")
        unknown = sorted(set(self.ranges) - set(self.numeric_features))
        if unknown:
            raise ValueError(f"ranges given for columns that are not numeric features: {unknown}")
        return self

    @property
    def features(self) -> list[str]:
        return [*self.numeric_features, *self.categorical_features]


class ValidationLimits(_Strict):
    min_rows: int = Field(default=100, ge=1)
    max_missing_fraction: float = Field(default=0.05, ge=0, le=1)
    min_minority_fraction: float = Field(default=0.05, ge=0, le=0.5)
    max_duplicate_fraction: float = Field(default=0.01, ge=0, le=1)
    max_field_length: int = Field(default=1000, ge=1)


class SplitConfig(_Strict):
    test_fraction: float = Field(default=0.25, gt=0, lt=1)
    seed: int = 42


class TrainingConfig(_Strict):
    seed: int = 42
    hyperparameters: dict[str, float | int | str] = Field(default_factory=dict)

    @field_validator("hyperparameters")
    @classmethod
    def _training_job_accepts_them(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The same rules the training script applies, checked before any data is read, so a typo
        # fails the run at Validate Data instead of minutes later inside the training job.
        reserved = sorted(k for k in value if k.startswith("sagemaker_"))
        if reserved:
            raise ValueError(f"reserved hyperparameter names (set by the pipeline): {reserved}")
        try:
            parse_hyperparameters(value)
        except JobInputError as exc:
            raise ValueError(str(exc)) from exc
        return value


class QualityGates(_Strict):
    """Minimum hold-out metrics; a model below any of them is not registered."""

    decision_threshold: float = Field(default=0.5, gt=0, lt=1)
    min_auc: float = Field(default=0.7, ge=0, le=1)
    min_ks: float = Field(default=0.0, ge=0, le=1)
    min_accuracy: float = Field(default=0.0, ge=0, le=1)
    min_precision: float = Field(default=0.0, ge=0, le=1)
    min_recall: float = Field(default=0.0, ge=0, le=1)


class PipelineConfig(_Strict):
    dataset: DatasetConfig
    validation: ValidationLimits = ValidationLimits()
    split: SplitConfig = SplitConfig()
    training: TrainingConfig = TrainingConfig()
    gates: QualityGates = QualityGates()

    def sha256(self) -> str:
        """Content hash of the normalised configuration (recorded in lineage)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def parse_config(text: str | bytes, *, source: str = "config") -> PipelineConfig:
    """Parse YAML text into a :class:`PipelineConfig`.

    Raises ConfigError naming the offending field(s) for malformed YAML, unknown keys
    (typos) and invalid values.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from exc
