"""Feature encoding shared by training, evaluation, explainability, bias analysis and inference.

Numeric features pass through as float64 (missing → NaN, which XGBoost treats as missing).
Categorical features are one-hot encoded against the category list learned from the training data,
sorted so the encoding is deterministic; a category unseen in training (or a missing value) encodes
as all zeros. The learned :class:`FeatureSpec` is persisted next to the model so every later stage
encodes exactly as training did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from governed_mlops.errors import JobInputError
from governed_mlops_ml.job_config import JobConfig

__all__ = [
    "FEATURE_SPEC_FORMAT_VERSION",
    "CategoricalFeature",
    "FeatureSpec",
    "encode_frame",
    "encode_target",
    "encoded_column_name",
    "feature_spec_from_dict",
    "fit_feature_spec",
]

FEATURE_SPEC_FORMAT_VERSION = 1


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
        }


def encoded_column_name(feature: str, category: str) -> str:
    """Name of the one-hot column for ``category`` of ``feature``."""
    return f"{feature}={category}"


def fit_feature_spec(frame: pd.DataFrame, config: JobConfig) -> FeatureSpec:
    """Learn the feature spec from training data: category lists and the binary target's labels.

    Raises:
        JobInputError: a configured column is missing, the target has missing values, is not
            binary, or does not contain the positive label; or two encoded columns share a name.
    """
    _require_columns(frame, (*config.features, config.target))
    negative_label = _negative_label(frame[config.target], config.positive_label, config.target)
    categorical = tuple(
        CategoricalFeature(name=name, categories=_learn_categories(frame[name])) for name in config.categorical_features
    )
    spec = FeatureSpec(
        target=config.target,
        positive_label=config.positive_label,
        negative_label=negative_label,
        numeric_features=config.numeric_features,
        categorical_features=categorical,
    )
    _check_encoded_columns(spec)
    return spec


def encode_frame(frame: pd.DataFrame, spec: FeatureSpec) -> npt.NDArray[np.float64]:
    """Encode the feature columns of ``frame`` into the model's float64 input matrix.

    Columns not named by the spec (including the target) are ignored. Missing numeric values become
    NaN; unknown or missing categories become all-zero one-hot blocks.

    Raises:
        JobInputError: a feature column is missing or a numeric column holds non-numeric or infinite values.
    """
    _require_columns(frame, spec.raw_features)
    rows = len(frame)
    matrix = np.zeros((rows, len(spec.encoded_columns)), dtype=np.float64)
    for position, name in enumerate(spec.numeric_features):
        matrix[:, position] = _numeric_column(frame[name], name)
    offset = len(spec.numeric_features)
    row_numbers = np.arange(rows)
    for feature in spec.categorical_features:
        codes = _category_codes(frame[feature.name], feature.categories)
        known = codes >= 0
        matrix[row_numbers[known], offset + codes[known]] = 1.0
        offset += len(feature.categories)
    return matrix


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
    if document.get("format_version") != FEATURE_SPEC_FORMAT_VERSION:
        raise JobInputError(
            f"feature spec format_version {document.get('format_version')!r} is not supported "
            f"(expected {FEATURE_SPEC_FORMAT_VERSION})"
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
    except (KeyError, TypeError) as exc:
        raise JobInputError(f"feature spec is malformed: {exc!r}") from exc
    if stored_columns != spec.encoded_columns:
        raise JobInputError("feature spec 'encoded_columns' does not match its features and categories")
    return spec


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
    if len(labels) != 2:
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
