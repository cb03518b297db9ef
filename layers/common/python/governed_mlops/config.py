"""Pipeline configuration: which dataset, how to validate, split, train and gate it.

One YAML file describes a credit dataset and the pipeline's limits for it, so a differently
shaped dataset runs the whole pipeline with a new file and no code change. Unknown keys are
refused (a typo is an error that names the field, never a silently ignored setting).
"""

from __future__ import annotations

import copy
import functools
import hashlib
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from governed_mlops.domain.bias_names import GROUP_METRICS, POST_TRAINING_METRICS, PRE_TRAINING_METRICS, metric_stage
from governed_mlops.domain.hyperparameters import parse_hyperparameters
from governed_mlops.errors import ConfigError, JobInputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueRange(_Strict):
    min: float | None = None
    max: float | None = None


#: How a missing value in a feature column is treated (see README "Missing values").
#: ``allow``: left missing; XGBoost learns a default branch for it at every split (its native
#: handling), serving and monitoring pass it through. ``impute-median`` / ``impute-mode``: replaced by
#: the training split's median (numeric) or most frequent value, the same value at serving and in
#: monitoring. ``reject``: a row missing it fails validation (counted against ``max_fraction`` = 0).
MissingPolicy = Literal["allow", "impute-median", "impute-mode", "reject"]
DEFAULT_MISSING_POLICY: MissingPolicy = "allow"


class ColumnMissing(_Strict):
    """A feature's missing-value policy and the share of rows allowed to miss it (validation limit)."""

    policy: MissingPolicy = DEFAULT_MISSING_POLICY
    #: Defaults to ``validation.max_missing_fraction``; ``reject`` allows none.
    max_fraction: float | None = Field(default=None, ge=0, le=1)


class DatasetConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    target: str
    positive_label: str = Field(description="Target value meaning the favourable outcome (credit granted).")
    numeric_features: list[str] = Field(default_factory=list)
    categorical_features: list[str] = Field(default_factory=list)
    ranges: dict[str, ValueRange] = Field(default_factory=dict)
    #: Per feature; a feature not listed has policy ``allow`` and the global missing limit.
    missing: dict[str, ColumnMissing] = Field(default_factory=dict)
    attribution: str = ""
    #: The uploaded file's field separator (UCI's Bank Marketing files use semicolons). The prepared
    #: splits the jobs read are always comma-separated.
    delimiter: Literal[",", ";", "\t", "|"] = ","
    #: Spaces after a delimiter are not part of the value (UCI's Adult files write ``39, State-gov, ...``).
    skip_initial_space: bool = False

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
        not_features = sorted(set(self.missing) - set(features))
        if not_features:
            raise ValueError(f"missing policies given for columns that are not features: {not_features}")
        medians = sorted(
            c for c, m in self.missing.items() if m.policy == "impute-median" and c not in self.numeric_features
        )
        if medians:
            raise ValueError(f"impute-median needs a numeric feature; categorical: {medians} (use impute-mode)")
        return self

    def missing_policy(self, column: str) -> MissingPolicy:
        entry = self.missing.get(column)
        return entry.policy if entry is not None else DEFAULT_MISSING_POLICY

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


class ChampionGate(_Strict):
    """How much worse than the champion (the newest approved version) a challenger may be.

    Both models are scored by the same evaluation job on the challenger's hold-out split; AUC is compared
    on the rows of it the champion did not train on (see :mod:`governed_mlops.domain.champion`).
    """

    #: The challenger's AUC may be at most this much below the champion's.
    max_auc_drop: float = Field(default=0.01, ge=0, le=1)
    #: A limited post-training bias metric may move at most this much further from its limit's centre.
    max_bias_worsening: float = Field(default=0.05, ge=0)
    #: Fewer hold-out rows unseen by the champion than this: the AUC comparison is reported, not gated.
    min_unseen_rows: int = Field(default=50, ge=1)


class QualityGates(_Strict):
    """Minimum hold-out metrics; a model below any of them is not registered."""

    decision_threshold: float = Field(default=0.5, gt=0, lt=1)
    min_auc: float = Field(default=0.7, ge=0, le=1)
    min_ks: float = Field(default=0.0, ge=0, le=1)
    min_accuracy: float = Field(default=0.0, ge=0, le=1)
    min_precision: float = Field(default=0.0, ge=0, le=1)
    min_recall: float = Field(default=0.0, ge=0, le=1)
    #: Against the champion, when one exists (optional: these defaults otherwise).
    champion: ChampionGate = ChampionGate()


class FacetConfig(_Strict):
    """A sensitive attribute (SageMaker Clarify facet) and the rule selecting its disadvantaged group, facet d.

    Exactly one selector: ``values`` (the column's value is one of them), ``prefix`` (the value starts
    with it, e.g. ``female`` for ``female : divorced/separated/married``) or ``threshold`` (the value
    is a number at most the threshold, e.g. 25 for applicants aged 25 or younger). Every other row is facet a.
    The column may be any column of the data, a model feature or not; its presence is checked against
    the data by the bias job.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    column: str = Field(min_length=1)
    values: list[str] | None = Field(default=None, min_length=1)
    prefix: str | None = Field(default=None, min_length=1)
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    label: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        description="Facet d in words for the approval page (e.g. 'applicants aged 25 or younger').",
    )

    @model_validator(mode="after")
    def _exactly_one_selector(self) -> FacetConfig:
        chosen = [key for key in ("values", "prefix", "threshold") if getattr(self, key) is not None]
        if len(chosen) != 1:
            raise ValueError(f"facet {self.name!r} needs exactly one of values, prefix, threshold; got {chosen}")
        return self


class MetricLimit(_Strict):
    """Allowed range of one bias metric: ``min`` and/or ``max`` (inclusive)."""

    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _is_a_range(self) -> MetricLimit:
        if self.min is None and self.max is None:
            raise ValueError("a metric limit needs min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    def to_json_dict(self) -> dict[str, float]:
        """``{"min": x, "max": y}`` with only the bounds that are set."""
        return {key: value for key, value in (("min", self.min), ("max", self.max)) if value is not None}


class BiasConfig(_Strict):
    """Bias analysis (SageMaker Clarify metrics): facets, optional group column, limits per facet and metric."""

    facets: list[FacetConfig] = Field(default_factory=list)
    group_column: str | None = Field(default=None, min_length=1)
    thresholds: dict[str, dict[str, MetricLimit]] = Field(default_factory=dict)
    not_assessed_reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description=(
            "Why no facet is analysed (the data holds no protected attribute); required when facets is empty, "
            "shown to approvers and in the model card."
        ),
    )

    @model_validator(mode="after")
    def _thresholds_name_known_facets_and_metrics(self) -> BiasConfig:
        if not self.facets and not (self.not_assessed_reason or "").strip():
            raise ValueError(
                "bias.facets is empty: name the protected attributes to analyse, or say in "
                "bias.not_assessed_reason why the data holds none"
            )
        if self.facets and self.not_assessed_reason is not None:
            raise ValueError("bias.not_assessed_reason is only for a configuration with no facets; remove it")
        names = [facet.name for facet in self.facets]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"facet names used more than once: {duplicated}")
        unknown_facets = sorted(set(self.thresholds) - set(names))
        if unknown_facets:
            raise ValueError(f"thresholds for unknown facets {unknown_facets} (facets: {names})")
        for facet, limits in self.thresholds.items():
            unknown_metrics = sorted(metric for metric in limits if metric_stage(metric) is None)
            if unknown_metrics:
                known = [*PRE_TRAINING_METRICS, *POST_TRAINING_METRICS]
                raise ValueError(f"thresholds.{facet}: unknown Clarify metrics {unknown_metrics} (known: {known})")
            grouped = sorted(set(limits) & GROUP_METRICS)
            if grouped and self.group_column is None:
                raise ValueError(f"thresholds.{facet}: {grouped} need a group_column")
        return self

    def job_document(self, *, label: str, positive_label: str, decision_threshold: float) -> dict[str, Any]:
        """The bias job's ``bias_config.json`` (read by ``governed_mlops_ml.bias.parse_bias_config``)."""
        return {
            "label": label,
            "positive_label": positive_label,
            # The label is for people; the bias job's input stays what it was.
            "facets": [facet.model_dump(exclude_none=True, exclude={"label"}) for facet in self.facets],
            "group_column": self.group_column,
            "thresholds": {
                facet: {metric: limit.to_json_dict() for metric, limit in limits.items()}
                for facet, limits in self.thresholds.items()
            },
            "decision_threshold": decision_threshold,
        } | ({"not_assessed_reason": self.not_assessed_reason} if self.not_assessed_reason else {})


RiskTier = Literal["high", "medium", "low"]

#: Approvals a model version needs before it may deploy, by the model's risk tier. ``low`` is approved
#: automatically (still gated; the audit ledger records that no person decided).
APPROVALS_REQUIRED: dict[str, int] = {"high": 2, "medium": 1, "low": 0}

_RESOURCE_NAME = r"^[a-z0-9](-?[a-z0-9]){0,40}$"


class CanaryLimits(_Strict):
    """The model's canary alarms: latency and the approval rate the new variant may show."""

    max_latency_ms: float = Field(default=500, ge=1)
    min_positive_rate: float = Field(default=0.05, ge=0, le=1)
    max_positive_rate: float = Field(default=0.98, ge=0, le=1)

    @model_validator(mode="after")
    def _is_a_range(self) -> CanaryLimits:
        if self.min_positive_rate >= self.max_positive_rate:
            raise ValueError("min_positive_rate must be below max_positive_rate")
        return self


class DecisionNames(_Strict):
    """What the served model calls its two outcomes (``model.decisions``), e.g. ``approve`` and ``deny``.

    Without it a model answers with its dataset's own labels: the positive label when the score reaches
    the decision threshold, the other label below it (``malignant``/``benign``, ``yes``/``no``...).
    """

    favourable: str = Field(min_length=1, max_length=40, description="Decision when the score reaches the threshold.")
    unfavourable: str = Field(min_length=1, max_length=40, description="Decision below the threshold.")

    @model_validator(mode="after")
    def _distinct(self) -> DecisionNames:
        if self.favourable == self.unfavourable:
            raise ValueError(f"the two decisions must differ, both are {self.favourable!r}")
        return self


_CARD_TEXT = 2048  # the SageMaker Model Card schema's longest text fields


class ModelCardText(_Strict):
    """What people state on the model's SageMaker Model Card (``model.card``); the pipeline derives the rest.

    Without it the card says, in general terms, what the model estimates and decides (its dataset,
    target, positive label and decisions) and rates its risk by ``model.risk_tier``.
    """

    intended_uses: str | None = Field(default=None, min_length=1, max_length=_CARD_TEXT)
    purpose: str | None = Field(default=None, min_length=1, max_length=_CARD_TEXT)
    business_problem: str | None = Field(default=None, min_length=1, max_length=_CARD_TEXT)
    risk_explanation: str | None = Field(default=None, min_length=1, max_length=_CARD_TEXT)
    owner: str | None = Field(default=None, min_length=1, max_length=1024)
    line_of_business: str | None = Field(default=None, min_length=1, max_length=_CARD_TEXT)


class ModelSection(_Strict):
    """Operational part of a model project (``models/<name>/config.yaml``).

    Every name defaults to the model's name (the project's directory), so two projects never share an
    endpoint, a registry group, approvals or alarms unless a config says so explicitly.
    """

    name: str | None = Field(default=None, pattern=_RESOURCE_NAME)
    endpoint_name: str | None = Field(default=None, pattern=_RESOURCE_NAME)
    model_package_group: str | None = Field(default=None, pattern=_RESOURCE_NAME)
    approvers_group: str = Field(default="model-approvers", pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    risk_tier: RiskTier = "high"
    canary: CanaryLimits = CanaryLimits()
    decisions: DecisionNames | None = None
    card: ModelCardText = ModelCardText()


class QualityMonitoring(_Strict):
    """Model quality against ground-truth labels uploaded later (``mlops labels upload``)."""

    #: The AUC over labelled answers may be at most this much below the AUC the model was registered with.
    max_auc_drop: float = Field(default=0.05, ge=0.0, le=1.0, allow_inf_nan=False)
    #: Below this many labelled answers the quality report says "insufficient data", no verdict.
    min_labelled: int = Field(default=100, ge=1)


class MonitoringConfig(_Strict):
    """Model monitoring of the endpoint's captured traffic."""

    #: Below this many captured requests in a window the report says "insufficient data", no verdict.
    min_samples: int = Field(default=100, ge=1)
    quality: QualityMonitoring = QualityMonitoring()


class PipelineConfig(_Strict):
    model: ModelSection = ModelSection()
    dataset: DatasetConfig
    validation: ValidationLimits = ValidationLimits()
    split: SplitConfig = SplitConfig()
    training: TrainingConfig = TrainingConfig()
    gates: QualityGates = QualityGates()
    bias: BiasConfig | None = None
    monitoring: MonitoringConfig = MonitoringConfig()

    @model_validator(mode="after")
    def _bias_columns_are_not_the_target(self) -> PipelineConfig:
        if self.bias is None:
            return self
        columns = {f"facet {facet.name!r}": facet.column for facet in self.bias.facets}
        if self.bias.group_column is not None:
            columns["group_column"] = self.bias.group_column
        clashes = sorted(owner for owner, column in columns.items() if column == self.dataset.target)
        if clashes:
            raise ValueError(f"bias: {clashes} use the target column {self.dataset.target!r}")
        return self

    def sha256(self) -> str:
        """Content hash of the normalised configuration (recorded in lineage)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


@functools.lru_cache(maxsize=32)
def _yaml_document(text: str | bytes) -> Any:
    """The parsed YAML of a configuration text, kept per text.

    Most pipeline stages read the same configuration file, and the pure-Python YAML parser takes
    ~5-10 ms for it, as much as the rest of a gate check: a warm Lambda container keeps it here
    as it keeps its clients. Callers get a deep copy (see :func:`parse_config`).
    """
    return yaml.safe_load(text)


def parse_config(text: str | bytes, *, source: str = "config") -> PipelineConfig:
    """Parse YAML text into a :class:`PipelineConfig`.

    Raises ConfigError naming the offending field(s) for malformed YAML, unknown keys
    (typos) and invalid values.
    """
    try:
        # A copy: nothing a caller does to its configuration can reach the next caller's.
        raw = copy.deepcopy(_yaml_document(text))
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
