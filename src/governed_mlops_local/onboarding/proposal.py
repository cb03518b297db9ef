"""What inference decides about one CSV: features, dropped columns, bias facets and limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from governed_mlops.config import RiskTier
from governed_mlops_local.onboarding.rules import FOUR_FIFTHS

ProtectedKind = Literal["age", "sex", "marital status", "race/ethnicity", "religion", "nationality", "disability"]


@dataclass(frozen=True)
class Feature:
    """A model feature: its type with the reason, its missing-value policy and (numeric) its range."""

    name: str
    kind: Literal["numeric", "categorical"]
    why: str
    missing: int = 0
    missing_fraction: float = 0.0
    policy: Literal["allow", "impute-mode"] | None = None
    max_fraction: float | None = None
    policy_why: str = ""
    range_min: float | None = None
    range_max: float | None = None
    range_why: str = ""


@dataclass(frozen=True)
class DroppedColumn:
    """A column that is not a feature; it stays in the data, the model never reads it."""

    name: str
    why: str
    protected: tuple[ProtectedKind, ...] = ()


@dataclass(frozen=True)
class FacetProposal:
    """A bias facet: facet d (``values`` or ``threshold``) and the label rates the data shows for it."""

    name: str
    column: str
    kind: ProtectedKind
    why: str
    values: tuple[str, ...] | None = None
    threshold: float | None = None
    rows_d: int = 0
    rows_a: int = 0
    rate_d: float = 0.0
    rate_a: float = 0.0

    @property
    def dpl(self) -> float:
        """Clarify's DPL on the labels: q_a - q_d."""
        return self.rate_a - self.rate_d

    @property
    def label_di(self) -> float | None:
        """q_d / q_a on the labels: what DI would be for a model reproducing them (None when q_a is 0)."""
        return self.rate_d / self.rate_a if self.rate_a > 0 else None


@dataclass(frozen=True)
class BiasLimit:
    """A limit on one post-training metric of one facet: ``[low, high]`` inclusive, its rule and the label value."""

    metric: Literal["DPPL", "DI"]
    low: float
    high: float
    rule: Literal["policy", "no amplification"]
    #: The same metric computed on the labels (DPL for DPPL, q_d / q_a for DI) of the onboarded rows.
    label_value: float
    #: How much more disparate than the labels the model may be (no amplification only).
    tolerance: float = 0.0

    @property
    def why(self) -> str:
        """The rule, with the label value and the formula it was derived from, for the YAML comment."""
        if self.metric == "DI":
            value = f"{self.label_value:.3f}"
            if self.rule == "policy":
                return f"q'_d / q'_a, the four-fifths rule; label ratio {value}"
            if self.label_value <= 1:
                formula = f"min = {value} - {self.tolerance:.3g}"
            else:
                formula = f"max = 1 / (1/{value} - {self.tolerance:.3g})"
            return f"label ratio {value}, near or beyond the four-fifths rule: no amplification, {formula}; REVIEW"
        value = f"{self.label_value:+.3f}"
        if self.rule == "policy":
            return f"q'_a - q'_d, the 20-point policy; label gap {value}"
        bound = f"max = {value} + " if self.label_value > 0 else f"min = {value} - "
        formula = f"{bound}{self.tolerance:.3g}"
        return f"label gap {value}, near or beyond the 20-point policy: no amplification, {formula}; REVIEW"

    @property
    def breaches_policy(self) -> bool:
        """Whether the labels themselves are outside the policy range (not merely within the tolerance of it)."""
        low, high = FOUR_FIFTHS[self.metric]
        return not low <= self.label_value <= high


@dataclass(frozen=True)
class Limit:
    """A chosen validation limit and why."""

    value: float
    why: str


@dataclass
class Proposal:
    """Everything inferred from one CSV; :func:`render_config` writes it as commented YAML."""

    name: str
    dataset_name: str
    source: str
    sha256: str
    rows: int
    columns: int
    target: str
    positive_label: str
    negative_label: str
    label_counts: dict[str, int]
    risk_tier: RiskTier
    attribution: str
    #: The file's field separator (``dataset.delimiter``).
    delimiter: str = ","
    #: Spaces after each separator are padding (``dataset.skip_initial_space``).
    skip_initial_space: bool = False
    features: list[Feature] = field(default_factory=list)
    dropped: list[DroppedColumn] = field(default_factory=list)
    facets: list[FacetProposal] = field(default_factory=list)
    limits: dict[str, Limit] = field(default_factory=dict)
    #: Facet name -> the limits the bias gate applies to the model's outcomes (DPPL, DI); empty: reported only.
    bias_limits: dict[str, tuple[BiasLimit, ...]] = field(default_factory=dict)
    #: Facet name -> why its DPPL and DI are reported but not gated.
    ungated: dict[str, str] = field(default_factory=dict)
    canary: tuple[float, float] = (0.05, 0.98)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def numeric(self) -> list[Feature]:
        return [f for f in self.features if f.kind == "numeric"]

    @property
    def categorical(self) -> list[Feature]:
        return [f for f in self.features if f.kind == "categorical"]

    @property
    def positive_rate(self) -> float:
        return self.label_counts[self.positive_label] / self.rows
