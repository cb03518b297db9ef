"""Feature encoding shared by training, evaluation, explainability, bias analysis and inference.

Numeric features pass through as float64. Categorical features are one-hot encoded against the
category list learned from the training data, sorted so the encoding is deterministic; a category
unseen in training encodes as all zeros.

Missing values follow each feature's policy (configuration ``dataset.missing``, README "Missing
values"), resolved by one function, :func:`apply_missing_treatment`, which both :func:`encode_frame`
(training, evaluation, explainability, bias) and the endpoint (``monitoring.InferencePayload.matrix``)
call:

- ``allow``: a numeric value stays NaN, which XGBoost treats as missing (a learned default branch at
  every split); a categorical value becomes its own "missing" state, the all-zero one-hot block. In
  training only a missing value produces that block (every training category has its column), so the
  model learns what missing means; at serving a category unseen in training lands in the same state.
- ``impute-median`` / ``impute-mode``: replaced by the training split's median (numeric) or most frequent
  value (ties: the smallest), learned by :func:`fit_feature_spec` and stored in the spec.
- ``reject``: a missing value is refused (:class:`MissingValueRefused`); validation keeps such rows out of
  training and the endpoint answers 400 naming the feature.

The learned :class:`FeatureSpec` (categories and imputation values) is persisted next to the model, so
every later stage encodes exactly as training did.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from governed_mlops.errors import JobInputError
from governed_mlops_ml.job_config import MISSING_POLICIES, JobConfig, MissingRule

#: Rows listed in a missing-value error.
_ROWS_SHOWN = 5
_BINARY = 2  # a binary target has two labels

__all__ = [
    "FEATURE_SPEC_FORMAT_VERSION",
    "CategoricalFeature",
    "FeatureSpec",
    "MissingTreatment",
    "MissingValueRefused",
    "apply_missing_treatment",
    "encode_frame",
    "encode_target",
    "encoded_column_name",
    "feature_spec_from_dict",
    "fit_feature_spec",
]

FEATURE_SPEC_FORMAT_VERSION = 2
"""2 adds ``missing`` (each feature's missing-value treatment). Version 1 documents are still read: every
feature then has policy ``allow`` and no stated limit, which is how those models were trained."""
_READABLE_FORMAT_VERSIONS = (1, FEATURE_SPEC_FORMAT_VERSION)
_IMPUTING = ("impute-median", "impute-mode")


class MissingValueRefused(JobInputError):
    """A feature whose missing-value policy is ``reject`` is missing; ``rows`` are 0-based positions."""

    def __init__(self, feature: str, rows: Iterable[int]) -> None:
        self.feature = feature
        self.rows = tuple(int(row) for row in rows)
        shown = ", ".join(str(row + 1) for row in self.rows[:_ROWS_SHOWN]) + (
            ", ..." if len(self.rows) > _ROWS_SHOWN else ""
        )
        super().__init__(
            f"feature {self.feature!r} is missing in {len(self.rows)} row(s) (row {shown}, counting from 1) and its "
            "missing-value policy is reject: every row needs a value"
        )


@dataclass(frozen=True)
class MissingTreatment:
    """What the model does with a missing value of one feature, fixed when the model is trained.

    ``max_fraction`` is the share of rows allowed to miss the feature, checked by validation and by
    monitoring (0 for ``reject``; ``None`` when not stated, as in specs of format version 1).
    ``value`` is the imputed value for ``impute-median`` / ``impute-mode``: a float for a numeric
    feature, one of the learned categories for a categorical one, computed on the training split.
    """

    policy: str = "allow"
    max_fraction: float | None = None
    value: float | str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "max_fraction": self.max_fraction, "value": self.value}


_ALLOW = MissingTreatment()


@dataclass(frozen=True)
class CategoricalFeature:
    """A categorical feature and the categories learned for it, in one-hot column order."""

    name: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class FeatureSpec:
    """How raw columns become the model's input matrix, and what the model predicts."""

    target: str
    positive_label: str
    negative_label: str
    numeric_features: tuple[str, ...]
    categorical_features: tuple[CategoricalFeature, ...]
    #: ``(feature, treatment)`` for every feature whose treatment is not plain ``allow`` without a limit.
    missing: tuple[tuple[str, MissingTreatment], ...] = ()

    def missing_for(self, feature: str) -> MissingTreatment:
        """How a missing value of ``feature`` is treated (plain ``allow`` unless the spec says otherwise)."""
        return dict(self.missing).get(feature, _ALLOW)

    @property
    def raw_features(self) -> tuple[str, ...]:
        """The input columns the encoder reads: numeric then categorical, in configuration order."""
        return (*self.numeric_features, *(feature.name for feature in self.categorical_features))

    @property
    def encoded_columns(self) -> tuple[str, ...]:
        """Names of the model's input columns, in matrix order (``feature=category`` for one-hot columns)."""
        one_hot = (
            encoded_column_name(feature.name, category)
            for feature in self.categorical_features
            for category in feature.categories
        )
        return (*self.numeric_features, *one_hot)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``feature_spec.json`` document for this spec."""
        return {
            "format_version": FEATURE_SPEC_FORMAT_VERSION,
            "target": self.target,
            "positive_label": self.positive_label,
            "negative_label": self.negative_label,
            "numeric_features": list(self.numeric_features),
            "categorical_features": [
                {"name": feature.name, "categories": list(feature.categories)} for feature in self.categorical_features
            ],
            "encoded_columns": list(self.encoded_columns),
            "missing": {name: self.missing_for(name).to_json_dict() for name in self.raw_features},
        }


def encoded_column_name(feature: str, category: str) -> str:
    """Name of the one-hot column for ``category`` of ``feature``."""
    return f"{feature}={category}"


def fit_feature_spec(frame: pd.DataFrame, config: JobConfig) -> FeatureSpec:
    """Learn the feature spec from training data: category lists, imputation values and the target's labels.

    ``frame`` is the training split: imputed values (median, most frequent value) are computed on it
    alone and then applied unchanged to the test split, at serving and in monitoring.

    Raises:
        JobInputError: a configured column is missing, the target has missing values, is not
            binary, or does not contain the positive label; two encoded columns share a name; a
            ``reject`` feature has missing values (:class:`MissingValueRefused`); or an imputed
            feature has no value to impute from.
    """
    _require_columns(frame, (*config.features, config.target))
    negative_label = _negative_label(frame[config.target], config.positive_label, config.target)
    categorical = tuple(
        CategoricalFeature(name=name, categories=_learn_categories(frame[name])) for name in config.categorical_features
    )
    treatments = (
        (name, _fit_missing(frame[name], name, config.missing_rule(name), numeric=name in config.numeric_features))
        for name in config.features
    )
    spec = FeatureSpec(
        target=config.target,
        positive_label=config.positive_label,
        negative_label=negative_label,
        numeric_features=config.numeric_features,
        categorical_features=categorical,
        missing=tuple((name, treatment) for name, treatment in treatments if treatment != _ALLOW),
    )
    _check_encoded_columns(spec)
    return spec


def encode_frame(frame: pd.DataFrame, spec: FeatureSpec) -> npt.NDArray[np.float64]:
    """Encode the feature columns of ``frame`` into the model's float64 input matrix.

    Columns not named by the spec (including the target) are ignored. Unknown categories become
    all-zero one-hot blocks; missing values are resolved by :func:`apply_missing_treatment`.

    Raises:
        JobInputError: a feature column is missing or a numeric column holds non-numeric or infinite
            values; :class:`MissingValueRefused` when a ``reject`` feature is missing.
    """
    _require_columns(frame, spec.raw_features)
    rows = len(frame)
    matrix = np.zeros((rows, len(spec.encoded_columns)), dtype=np.float64)
    for position, name in enumerate(spec.numeric_features):
        matrix[:, position] = _numeric_column(frame[name], name)
    offset = len(spec.numeric_features)
    row_numbers = np.arange(rows)
    for feature in spec.categorical_features:
        column = frame[feature.name]
        codes = _category_codes(column, feature.categories)
        known = codes >= 0
        matrix[row_numbers[known], offset + codes[known]] = 1.0
        # NaN across the block marks "missing" (as opposed to an unseen category) for apply_missing_treatment.
        matrix[column.isna().to_numpy(), offset : offset + len(feature.categories)] = np.nan
        offset += len(feature.categories)
    return apply_missing_treatment(matrix, spec)


def apply_missing_treatment(matrix: npt.NDArray[np.float64], spec: FeatureSpec) -> npt.NDArray[np.float64]:
    """Resolve the missing values of an encoded matrix in place, by each feature's policy; return the matrix.

    The one implementation of the missing-value policies: training, evaluation, explainability and bias
    analysis reach it through :func:`encode_frame`, the endpoint through ``InferencePayload.matrix``.
    A missing numeric value is NaN in its column; a missing categorical value is NaN across its whole
    one-hot block. ``allow`` leaves numeric NaN for XGBoost and turns a categorical block into the all-zero
    "missing" state; ``impute-*`` write the spec's stored value (the one-hot column of the stored
    category); ``reject`` raises.

    Raises:
        MissingValueRefused: a ``reject`` feature is missing in some row.
    """
    for name, start, width, numeric in _blocks(spec):
        if width == 0:
            continue
        block = matrix[:, start : start + width]
        missing = np.isnan(block[:, 0]) if numeric else np.isnan(block).all(axis=1)
        if not missing.any():
            continue
        treatment = spec.missing_for(name)
        if treatment.policy == "reject":
            raise MissingValueRefused(name, np.flatnonzero(missing))
        if numeric:
            if isinstance(treatment.value, float):  # impute-median / impute-mode; allow leaves NaN for XGBoost
                block[missing, 0] = treatment.value
            continue
        block[missing] = 0.0
        if isinstance(treatment.value, str):  # impute-mode; allow keeps the all-zero "missing" state
            block[missing, _category_index(spec, name, treatment.value)] = 1.0
    return matrix


@functools.cache
def _blocks(spec: FeatureSpec) -> tuple[tuple[str, int, int, bool], ...]:
    """``(feature, first matrix column, column count, numeric)`` in matrix order."""
    blocks = [(name, position, 1, True) for position, name in enumerate(spec.numeric_features)]
    offset = len(spec.numeric_features)
    for feature in spec.categorical_features:
        blocks.append((feature.name, offset, len(feature.categories), False))
        offset += len(feature.categories)
    return tuple(blocks)


def _category_index(spec: FeatureSpec, name: str, category: str) -> int:
    feature = next(f for f in spec.categorical_features if f.name == name)
    return feature.categories.index(category)


def encode_target(frame: pd.DataFrame, spec: FeatureSpec) -> npt.NDArray[np.int64]:
    """Encode the target column as 1 for the positive label and 0 for the negative label.

    Raises:
        JobInputError: the target column is missing, has missing values, or holds a label that is
            neither the positive nor the negative label learned in training.
    """
    _require_columns(frame, (spec.target,))
    labels = _target_labels(frame[spec.target], spec.target)
    unexpected = sorted(set(labels.tolist()) - {spec.positive_label, spec.negative_label})
    if unexpected:
        raise JobInputError(
            f"target {spec.target!r} holds labels {unexpected[:5]} that are neither the positive label "
            f"{spec.positive_label!r} nor the negative label {spec.negative_label!r}"
        )
    return np.asarray(labels == spec.positive_label, dtype=np.int64)


def feature_spec_from_dict(document: Mapping[str, Any]) -> FeatureSpec:
    """Rebuild a :class:`FeatureSpec` from its ``feature_spec.json`` document.

    Raises:
        JobInputError: the document has another format version, is malformed, or its stored encoded
            column list disagrees with the one implied by its features (a hand-edited or corrupt spec).
    """
    version = document.get("format_version")
    if version not in _READABLE_FORMAT_VERSIONS or isinstance(version, bool):
        raise JobInputError(
            f"feature spec format_version {version!r} is not supported "
            f"(expected one of {list(_READABLE_FORMAT_VERSIONS)})"
        )
    try:
        spec = FeatureSpec(
            target=str(document["target"]),
            positive_label=str(document["positive_label"]),
            negative_label=str(document["negative_label"]),
            numeric_features=tuple(str(name) for name in document["numeric_features"]),
            categorical_features=tuple(
                CategoricalFeature(name=str(entry["name"]), categories=tuple(str(c) for c in entry["categories"]))
                for entry in document["categorical_features"]
            ),
        )
        stored_columns = tuple(document["encoded_columns"])
        stored_missing = document["missing"] if version != 1 else {}
    except (KeyError, TypeError) as exc:
        raise JobInputError(f"feature spec is malformed: {exc!r}") from exc
    if stored_columns != spec.encoded_columns:
        raise JobInputError("feature spec 'encoded_columns' does not match its features and categories")
    treatments = _stored_treatments(stored_missing, spec)
    return replace(spec, missing=treatments)


def _stored_treatments(document: Any, spec: FeatureSpec) -> tuple[tuple[str, MissingTreatment], ...]:
    """The ``missing`` section of a spec document, checked against the spec's features and categories."""
    if not isinstance(document, Mapping):
        raise JobInputError(f"feature spec 'missing' must map features to treatments, got {document!r}")
    unknown = sorted(set(document) - set(spec.raw_features))
    if unknown:
        raise JobInputError(f"feature spec 'missing' names columns that are not features: {unknown}")
    categories = {feature.name: feature.categories for feature in spec.categorical_features}
    treatments = []
    for name in spec.raw_features:
        entry = document.get(name)
        if entry is None:
            continue
        if not isinstance(entry, Mapping) or set(entry) - {"policy", "max_fraction", "value"}:
            raise JobInputError(f"feature spec missing.{name} is malformed: {entry!r}")
        policy, limit, value = entry.get("policy", "allow"), entry.get("max_fraction"), entry.get("value")
        if policy not in MISSING_POLICIES:
            raise JobInputError(f"feature spec missing.{name}: unknown policy {policy!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 <= limit <= 1):
            raise JobInputError(f"feature spec missing.{name}: max_fraction {limit!r} is not a fraction")
        if policy not in _IMPUTING and value is not None:
            raise JobInputError(f"feature spec missing.{name}: policy {policy} imputes nothing but has value {value!r}")
        if policy in _IMPUTING:
            value = _stored_value(name, value, categories.get(name))
        treatment = MissingTreatment(policy=policy, max_fraction=None if limit is None else float(limit), value=value)
        if treatment != _ALLOW:
            treatments.append((name, treatment))
    return tuple(treatments)


def _stored_value(name: str, value: Any, categories: tuple[str, ...] | None) -> float | str:
    if categories is not None:
        if not isinstance(value, str) or value not in categories:
            raise JobInputError(f"feature spec missing.{name}: imputed value {value!r} is not a learned category")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JobInputError(f"feature spec missing.{name}: imputed value {value!r} is not a finite number")
    return float(value)


def _fit_missing(column: pd.Series, name: str, rule: MissingRule, *, numeric: bool) -> MissingTreatment:
    """The treatment of one feature, with its imputed value computed on ``column`` (the training split)."""
    missing = column.isna().to_numpy()
    if rule.policy == "reject":
        if missing.any():
            raise MissingValueRefused(name, np.flatnonzero(missing))
        return MissingTreatment(policy="reject", max_fraction=0.0)
    value: float | str | None = None
    if rule.policy in _IMPUTING:
        numbers = _numeric_column(column, name) if numeric else None
        present: list[Any] = (
            numbers[~np.isnan(numbers)].tolist() if numbers is not None else column[~missing].astype(str).tolist()
        )
        if not present:
            raise JobInputError(f"feature {name!r} ({rule.policy}) has no value in the training data to impute from")
        if rule.policy == "impute-median":
            value = float(np.median(present))
        else:
            value = float(_most_frequent(present)) if numeric else str(_most_frequent(present))
    return MissingTreatment(policy=rule.policy, max_fraction=rule.max_fraction, value=value)


def _most_frequent(values: Iterable[Any]) -> Any:
    """The most frequent value; among equally frequent ones the smallest, so the choice is deterministic."""
    counts = Counter(values)
    top = max(counts.values())
    return min(value for value, count in counts.items() if count == top)


def _require_columns(frame: pd.DataFrame, names: Iterable[str]) -> None:
    present = set(frame.columns)
    missing = [name for name in names if name not in present]
    if missing:
        raise JobInputError(f"data is missing required columns: {missing}")


def _target_labels(column: pd.Series, target: str) -> npt.NDArray[np.object_]:
    missing = int(column.isna().sum())
    if missing:
        raise JobInputError(f"target {target!r} has {missing} missing values")
    return np.asarray(column.astype(str).to_numpy(dtype=object))


def _negative_label(column: pd.Series, positive_label: str, target: str) -> str:
    labels: list[str] = sorted(set(_target_labels(column, target).tolist()))
    if len(labels) != _BINARY:
        raise JobInputError(f"target {target!r} must have exactly two labels, found {len(labels)}: {labels[:10]}")
    if positive_label not in labels:
        raise JobInputError(f"positive label {positive_label!r} does not occur in target {target!r}: {labels}")
    return next(str(label) for label in labels if label != positive_label)


def _learn_categories(column: pd.Series) -> tuple[str, ...]:
    present = column[column.notna()].astype(str)
    return tuple(sorted(set(present.tolist())))


def _numeric_column(column: pd.Series, name: str) -> npt.NDArray[np.float64]:
    values = np.asarray(pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    unparsable = np.isnan(values) & column.notna().to_numpy()
    if unparsable.any():
        examples = column[unparsable].astype(str).unique().tolist()[:5]
        raise JobInputError(f"numeric feature {name!r} has {int(unparsable.sum())} non-numeric values, e.g. {examples}")
    if np.isinf(values).any():
        raise JobInputError(f"numeric feature {name!r} has infinite values")
    return values


def _category_codes(column: pd.Series, categories: tuple[str, ...]) -> npt.NDArray[np.int64]:
    """Position of each value in ``categories``; -1 for a missing or unknown value."""
    if not categories:
        return np.full(len(column), -1, dtype=np.int64)
    missing = column.isna().to_numpy()
    text = column.astype(str).to_numpy(dtype=object)
    codes = np.asarray(pd.Index(list(categories), dtype=object).get_indexer(text), dtype=np.int64)
    codes[missing] = -1
    return codes


def _check_encoded_columns(spec: FeatureSpec) -> None:
    columns = spec.encoded_columns
    if not columns:
        raise JobInputError("the configured features encode to no model input columns")
    duplicated = sorted(name for name, count in Counter(columns).items() if count > 1)
    if duplicated:
        raise JobInputError(f"encoded column names collide: {duplicated[:5]}")
