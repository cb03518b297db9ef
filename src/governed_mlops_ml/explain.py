"""Explanations of the XGBoost model: exact TreeSHAP contributions, global importance and reason codes.

Contributions come from XGBoost's own ``pred_contribs``, which is the exact path-dependent TreeSHAP
algorithm (``shap.TreeExplainer`` on an XGBoost booster calls the same routine): deterministic, a
fraction of a second for a thousand rows, and available in SageMaker's XGBoost container, where
``shap`` is not installed. Values are in the model's margin space, the log-odds of
P(target == positive label); the positive label is the favourable outcome (credit granted), so a
negative contribution pushes an applicant towards denial.

The model sees one-hot columns (``feature=category``); explanations are reported on the original
columns by summing a categorical feature's one-hot contributions (numeric features map 1:1).
Because Shapley values are additive, the aggregated contributions of a row still sum, with the base
value, to the model's margin for that row. An unknown or missing category encodes as an all-zero
block and a missing number as NaN (XGBoost's default branch); both are explained like any other value.

XGBoost computes in float32, so "sum of contributions + base value == margin" holds to float32
precision (a few 1e-6 in log-odds on German credit), not to float64 precision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb

from governed_mlops.errors import JobInputError
from governed_mlops_ml.features import FeatureSpec, encode_frame
from governed_mlops_ml.job_config import DecisionLabels

_MATRIX = 2  # rows x columns
#: Sizes from this value up show two decimals; smaller ones two significant digits.
_TWO_DECIMALS_FROM = 0.005

__all__ = [
    "NEGLIGIBLE_CONTRIBUTION",
    "ContributionTable",
    "Decision",
    "Reason",
    "adverse_reasons",
    "explain_matrix",
    "explain_rows",
    "global_importance",
    "humanise_feature_name",
    "raw_value_text",
    "reason_codes",
]


NEGLIGIBLE_CONTRIBUTION = 1e-6
"""Contributions smaller than this (log-odds) are float32 noise, never a reason for a decision."""


@dataclass(frozen=True)
class ContributionTable:
    """Per-row SHAP contributions (log-odds) on the original columns, and the encoded columns behind them.

    ``contributions[i].sum() + base_value`` equals ``margins[i]`` (to float32 precision), and
    ``contributions[i, j]`` is the sum of ``encoded_contributions[i, k]`` over the encoded columns
    ``k`` of feature ``j``.
    """

    features: tuple[str, ...]
    contributions: npt.NDArray[np.float64]
    encoded_columns: tuple[str, ...]
    encoded_contributions: npt.NDArray[np.float64]
    base_value: float
    margins: npt.NDArray[np.float64]

    @property
    def rows(self) -> int:
        """Number of explained rows."""
        return int(self.contributions.shape[0])

    def row(self, index: int) -> dict[str, float]:
        """``{original feature: contribution}`` of one row, in feature order."""
        return {name: float(value) for name, value in zip(self.features, self.contributions[index], strict=True)}

    def to_frame(self) -> pd.DataFrame:
        """The original-column contributions as a data frame (one row per explained row)."""
        return pd.DataFrame(self.contributions, columns=list(self.features))


@dataclass(frozen=True)
class Reason:
    """One adverse-action reason: a feature whose value lowered the score, and how much (log-odds, < 0)."""

    feature: str
    value: str | None
    contribution: float
    text: str


@dataclass(frozen=True)
class Decision:
    """The model's decision for one applicant and the reasons that pushed it towards the unfavourable outcome.

    ``score`` is P(target == positive label); the decision is the favourable one (``approve`` where
    ``model.decisions`` says so, else the dataset's positive label) when the score is at least the
    threshold (the evaluation job's rule), the unfavourable one below it. ``reasons`` lists the features with negative
    contributions (beyond :data:`NEGLIGIBLE_CONTRIBUTION`), most negative first; it is filled for
    approved applicants too (the factors that lowered their score), and is what an adverse-action
    notice uses for denied ones. ``margin`` is the model's log-odds, ``base_value`` the expected
    log-odds over the training data.
    """

    score: float
    decision: str
    threshold: float
    margin: float
    base_value: float
    reasons: tuple[Reason, ...]

    @property
    def favourable(self) -> bool:
        """Whether the score reached the threshold (the decision is the favourable one)."""
        return self.score >= self.threshold


def dataset_decisions(spec: FeatureSpec) -> DecisionLabels:
    """The decisions of a model without ``model.decisions``: its dataset's positive label, and the other one."""
    return DecisionLabels(favourable=spec.positive_label, unfavourable=spec.negative_label)


def humanise_feature_name(name: str) -> str:
    """A column name in plain words.

    ``status_of_existing_checking_account`` becomes ``Status of existing checking account``.
    """
    words = name.replace("_", " ").replace("-", " ").split()
    if not words:
        return name
    text = " ".join(words)
    return text[0].upper() + text[1:]


def explain_rows(booster: xgb.Booster, spec: FeatureSpec, frame: pd.DataFrame) -> ContributionTable:
    """Exact TreeSHAP contributions of every row of a raw data frame, aggregated to the original columns.

    Columns the spec does not name (the target, identifiers) are ignored.

    Raises:
        JobInputError: the frame has no rows, a feature column is missing or malformed, or the spec
            does not fit the booster.
    """
    return _explain_matrix(booster, spec, encode_frame(frame, spec))


def global_importance(table: ContributionTable) -> list[tuple[str, float]]:
    """Mean absolute contribution per original feature, largest first (ties keep feature order)."""
    means = np.abs(table.contributions).mean(axis=0)
    order = sorted(range(len(table.features)), key=lambda position: -means[position])
    return [(table.features[position], float(means[position])) for position in order]


def reason_codes(
    booster: xgb.Booster,
    spec: FeatureSpec,
    row: Mapping[str, object],
    threshold: float,
    top_k: int = 4,
    *,
    decisions: DecisionLabels | None = None,
) -> Decision:
    """Score one applicant and name the ``top_k`` features that pushed the score most towards denial.

    ``row`` maps every raw feature of the spec to its value, normally as text as read from a CSV
    (extra keys are ignored); ``None``, NaN or an empty string is a missing value. A category not
    seen in training is explained as such.

    Raises:
        JobInputError: a feature is absent from ``row``, a numeric value is not a number, the
            threshold is not strictly between 0 and 1, or ``top_k`` is not positive.
    """
    if not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
        raise JobInputError(f"decision threshold must lie strictly between 0 and 1, got {threshold!r}")
    if top_k < 1:
        raise JobInputError(f"top_k must be at least 1, got {top_k!r}")
    absent = [name for name in spec.raw_features if name not in row]
    if absent:
        raise JobInputError(f"the applicant row is missing features: {absent}")
    values = {name: raw_value_text(row[name]) for name in spec.raw_features}
    frame = pd.DataFrame({name: pd.Series([value], dtype=object) for name, value in values.items()})
    matrix = encode_frame(frame, spec)
    table = _explain_matrix(booster, spec, matrix)
    score = float(booster.predict(xgb.DMatrix(matrix, missing=np.nan))[0])

    reasons = adverse_reasons(spec, table.row(0), values, top_k)
    return Decision(
        score=score,
        decision=(decisions or dataset_decisions(spec)).of(score, threshold),
        threshold=float(threshold),
        margin=float(table.margins[0]),
        base_value=table.base_value,
        reasons=reasons,
    )


def adverse_reasons(
    spec: FeatureSpec, contributions: Mapping[str, float], values: Mapping[str, str | None], top_k: int
) -> tuple[Reason, ...]:
    """The ``top_k`` features whose contribution lowered the score most (beyond :data:`NEGLIGIBLE_CONTRIBUTION`),
    most negative first; ``values`` gives each feature's raw value as text (``None``: missing)."""
    negative = [name for name in spec.raw_features if contributions[name] < -NEGLIGIBLE_CONTRIBUTION]
    # Most negative first; the stable sort keeps feature order between exact ties.
    ranked = sorted(negative, key=lambda name: contributions[name])[:top_k]
    return tuple(
        Reason(
            feature=name,
            value=values[name],
            contribution=float(contributions[name]),
            text=_reason_text(spec, name, values[name], contributions[name]),
        )
        for name in ranked
    )


def explain_matrix(booster: xgb.Booster, spec: FeatureSpec, matrix: npt.NDArray[np.float64]) -> ContributionTable:
    """Exact TreeSHAP contributions of an encoded matrix (as :func:`explain_rows` gives for a raw frame)."""
    return _explain_matrix(booster, spec, matrix)


def _explain_matrix(booster: xgb.Booster, spec: FeatureSpec, matrix: npt.NDArray[np.float64]) -> ContributionTable:
    columns = spec.encoded_columns
    if matrix.ndim != _MATRIX or matrix.shape[1] != len(columns) or booster.num_features() != len(columns):
        raise JobInputError(
            f"the feature spec encodes {len(columns)} columns (matrix shape {matrix.shape}) but the model "
            f"expects {booster.num_features()}"
        )
    if matrix.shape[0] == 0:
        raise JobInputError("no rows to explain")
    data = xgb.DMatrix(matrix, missing=np.nan)
    raw = np.asarray(booster.predict(data, pred_contribs=True), dtype=np.float64)
    margins = np.asarray(booster.predict(data, output_margin=True), dtype=np.float64)
    encoded = raw[:, :-1]
    # The last column is the bias term: the expected margin over the training data, the same for every row.
    base_value = float(raw[0, -1])
    return ContributionTable(
        features=spec.raw_features,
        contributions=encoded @ _aggregation_matrix(spec),
        encoded_columns=columns,
        encoded_contributions=encoded,
        base_value=base_value,
        margins=margins,
    )


def _aggregation_matrix(spec: FeatureSpec) -> npt.NDArray[np.float64]:
    """0/1 matrix (encoded column x original feature) that sums each feature's encoded columns."""
    mapping = np.zeros((len(spec.encoded_columns), len(spec.raw_features)), dtype=np.float64)
    numeric = len(spec.numeric_features)
    mapping[np.arange(numeric), np.arange(numeric)] = 1.0
    offset = numeric
    for position, feature in enumerate(spec.categorical_features, start=numeric):
        width = len(feature.categories)
        mapping[offset : offset + width, position] = 1.0
        offset += width
    return mapping


def raw_value_text(value: object) -> str | None:
    """A raw feature value as reasons quote it; ``None`` for a missing one.

    read_dataset treats only empty fields as missing (pandas gives them as NaN); the same rule holds
    for one applicant, from a CSV row or a JSON request.
    """
    if isinstance(value, str):
        return value or None
    if value is None or bool(pd.isna(value)):
        return None
    return str(value)


def _reason_text(spec: FeatureSpec, name: str, value: str | None, contribution: float) -> str:
    label = humanise_feature_name(name)
    if value is None:
        subject = f"{label} (missing)"
    elif name in spec.numeric_features:
        subject = f"{label} of {value}"
    else:
        categories = next(feature.categories for feature in spec.categorical_features if feature.name == name)
        unseen = "" if value in categories else " (a value not seen in training)"
        subject = f"{label} '{value}'{unseen}"
    return f"{subject} lowered the score by {_magnitude(contribution)} (log-odds)"


def _magnitude(contribution: float) -> str:
    size = abs(contribution)
    return f"{size:.2f}" if size >= _TWO_DECIMALS_FROM else f"{size:.2g}"
