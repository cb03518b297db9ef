"""Explain one credit decision of a registered model version (``mlops explain``).

Everything comes from the model version's lineage record, fetched from the object store and checked
against the sha256 the lineage records: the model archive (``feature_spec.json`` + the booster), the
pipeline configuration (the decision threshold and the numeric ranges) and, for ``--row N``, the
dataset the model was trained from. A fetched object whose digest differs from the lineage is
refused: an explanation of some other model than the registered one is worse than none.

The applicant is either a JSON object (one key per model feature) or data row ``N`` (0-based, after
the header) of the training dataset. Rules for a JSON applicant, reported in the output:

- a feature whose key is absent is an error naming it, unless ``allow_missing`` is set, when it is
  scored as a missing value (what XGBoost does with an empty field of the training data: NaN for a
  number, no category for a categorical);
- a ``null`` or ``""`` value is an explicit missing value, scored the same way (the training data
  may contain empty fields, so the model has a branch for them);
- keys that are not features are ignored with a warning; known columns that are not model inputs
  (the target, protected attributes kept for bias analysis) are listed as such;
- a number outside the configuration's range, or a category never seen in training, is scored but
  warned about (the validation stage would not have let such a row into training).

This module imports ``governed_mlops_ml`` (numpy, pandas, xgboost): it serves the CLI, never a Lambda.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xgboost as xgb

from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import ObjectStore
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.errors import ExplainabilityError, JobInputError, ReproducibilityMismatch
from governed_mlops.models import ModelVersion, ObjectDigest
from governed_mlops_ml.artifacts import MODEL_ARCHIVE, extract_model_archive, load_feature_spec, read_dataset
from governed_mlops_ml.explain import Decision, reason_codes
from governed_mlops_ml.features import FeatureSpec
from governed_mlops_ml.job_config import DecisionLabels
from governed_mlops_ml.model import load_booster

#: Known categories listed in a note about an unseen one.
_CATEGORIES_SHOWN = 8

__all__ = [
    "DEFAULT_TOP_K",
    "Applicant",
    "ExplainedDecision",
    "LoadedModel",
    "applicant_from_json",
    "applicant_from_training_row",
    "explain_applicant",
    "load_model",
    "parse_applicant_json",
]

DEFAULT_TOP_K = 4
"""Reasons shown by default: adverse-action notices customarily give up to four principal reasons."""


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version, ready to score: lineage record, configuration, feature spec, booster."""

    record: ModelVersion
    config: PipelineConfig
    spec: FeatureSpec
    booster: Any  # xgboost.Booster (xgboost ships no type information)

    @property
    def threshold(self) -> float:
        """The decision threshold of the pinned configuration the model was gated with."""
        return self.config.gates.decision_threshold

    @property
    def decisions(self) -> DecisionLabels | None:
        """The configured names of the two decisions (None: the dataset's labels)."""
        names = self.config.model.decisions
        return None if names is None else DecisionLabels(favourable=names.favourable, unfavourable=names.unfavourable)

    @property
    def non_feature_columns(self) -> frozenset[str]:
        """Known columns of the data that the model does not read: the target and the bias columns."""
        columns = {self.config.dataset.target}
        if self.config.bias is not None:
            columns |= {facet.column for facet in self.config.bias.facets}
            if self.config.bias.group_column is not None:
                columns.add(self.config.bias.group_column)
        return frozenset(columns - set(self.spec.raw_features))


@dataclass(frozen=True)
class Applicant:
    """One applicant's feature values (text, ``None`` = missing) and how they were obtained."""

    values: dict[str, str | None]
    source: str
    absent: tuple[str, ...] = ()
    """Features whose key was absent from the input and that are scored as missing (``allow_missing``)."""
    unknown_fields: tuple[str, ...] = ()
    """Input keys that name no column the model or its configuration knows; ignored."""
    unused_columns: tuple[str, ...] = ()
    """Input keys naming known columns the model does not read (target, protected attributes); ignored."""
    actual_label: str | None = None
    """The observed outcome, for a row of the training data."""
    row: int | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        """Every feature scored as a missing value (absent key, null, empty string, empty CSV field)."""
        return tuple(name for name, value in self.values.items() if value is None)


@dataclass(frozen=True)
class ExplainedDecision:
    """The decision for one applicant, its reasons, and everything needed to trust or reproduce it."""

    model: LoadedModel
    applicant: Applicant
    decision: Decision
    warnings: tuple[str, ...] = field(default=())

    @property
    def denied(self) -> bool:
        return not self.decision.favourable

    def to_json_dict(self) -> dict[str, Any]:
        """Machine-readable form (``mlops explain --json``)."""
        record = self.model.record
        applicant = self.applicant
        return {
            "model_version": record.model_version,
            "model_status": record.status,
            "source": applicant.source,
            "row": applicant.row,
            "decision": self.decision.decision,
            "score": self.decision.score,
            "threshold": self.decision.threshold,
            "score_meaning": f"P({self.model.spec.target} == {self.model.spec.positive_label!r})",
            "margin": self.decision.margin,
            "base_value": self.decision.base_value,
            "reasons_kind": "adverse_action" if self.denied else "factors_lowering_score",
            "reasons": [
                {
                    "rank": rank,
                    "feature": reason.feature,
                    "value": reason.value,
                    "contribution": reason.contribution,
                    "text": reason.text,
                }
                for rank, reason in enumerate(self.decision.reasons, start=1)
            ],
            "missing_features": list(applicant.missing),
            "missing_policy": (
                "scored as missing values (NaN for numbers, no category for categoricals), "
                "as for an empty field of the training data"
            ),
            "unknown_fields": list(applicant.unknown_fields),
            "unused_columns": list(applicant.unused_columns),
            "actual_label": applicant.actual_label,
            "warnings": list(self.warnings),
            "inputs": dict(applicant.values),
            "lineage": {
                "model_sha256": record.model_artifact.sha256,
                "config_sha256": record.config.sha256,
                "data_sha256": record.data.sha256,
                "execution_name": record.execution_name,
            },
        }


def load_model(registry: ModelRegistry, store: ObjectStore, model_version: str) -> LoadedModel:
    """Fetch a model version's archive and configuration from its lineage, check their digests, load them.

    Raises:
        ModelVersionNotFoundError: no such model version.
        ArtifactNotFoundError: the archive or configuration is not in the store.
        ReproducibilityMismatch: a fetched object's sha256 differs from the lineage record.
        ExplainabilityError: the archive does not hold a usable feature spec and booster.
    """
    record = registry.get(model_version)
    config_bytes = _fetch_verified(store, record.config, "configuration", record.model_version)
    config = parse_config(config_bytes, source=record.config.ref.pinned_uri)
    archive = _fetch_verified(store, record.model_artifact, "model artifact", record.model_version)
    with tempfile.TemporaryDirectory(prefix="mlops-explain-") as scratch:
        archive_path = Path(scratch) / MODEL_ARCHIVE
        archive_path.write_bytes(archive)
        try:
            model_dir = extract_model_archive(archive_path, Path(scratch) / "model")
            spec = load_feature_spec(model_dir)
            booster = load_booster(model_dir)
        except JobInputError as exc:
            raise ExplainabilityError(f"{record.model_version}: unusable model archive: {exc}") from exc
    return LoadedModel(record=record, config=config, spec=spec, booster=booster)


def parse_applicant_json(text: str, *, source: str) -> dict[str, Any]:
    """Decode an applicant file: strict JSON (no NaN/Infinity) holding one object.

    Raises:
        ExplainabilityError: the text is not JSON or not a JSON object.
    """

    def _refuse_constant(name: str) -> None:
        raise ValueError(f"{name} is not valid JSON")

    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise ExplainabilityError(f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ExplainabilityError(
            f"{source} must hold one JSON object mapping feature names to values, but it holds {_json_type(document)}"
        )
    return document


def applicant_from_json(
    model: LoadedModel, document: Mapping[str, Any], *, source: str, allow_missing: bool = False
) -> Applicant:
    """The applicant described by a JSON object (see the module docstring for the rules).

    Raises:
        ExplainabilityError: features are absent (and ``allow_missing`` is not set), or a value is
            not a string, number or null, or a numeric feature's value is not a finite number.
    """
    features = model.spec.raw_features
    absent = tuple(name for name in features if name not in document)
    if absent and not allow_missing:
        strangers = [key for key in document if key not in features]
        named = [_with_lookalike(name, strangers) for name in absent]
        raise ExplainabilityError(
            f"{source} is missing {len(absent)} of the model's {len(features)} features: {', '.join(named)}. "
            "Add them, or pass --allow-missing to score them as missing values"
        )
    values = {name: _as_text(name, document[name], model.spec) if name in document else None for name in features}
    unused = tuple(key for key in document if key in model.non_feature_columns)
    unknown = tuple(key for key in document if key not in features and key not in model.non_feature_columns)
    return Applicant(values=values, source=source, absent=absent, unknown_fields=unknown, unused_columns=unused)


def applicant_from_training_row(model: LoadedModel, store: ObjectStore, row: int) -> Applicant:
    """Data row ``row`` (0-based, after the header) of the dataset pinned in the model's lineage.

    Raises:
        ArtifactNotFoundError / ReproducibilityMismatch: the dataset cannot be fetched or differs from the lineage.
        ExplainabilityError: ``row`` is out of range, or the dataset lacks a feature column.
    """
    record = model.record
    data = _fetch_verified(store, record.data, "dataset", record.model_version)
    with tempfile.TemporaryDirectory(prefix="mlops-explain-") as scratch:
        path = Path(scratch) / Path(record.data.ref.key).name
        path.write_bytes(data)
        try:
            frame = read_dataset(path)
        except JobInputError as exc:
            raise ExplainabilityError(f"{record.data.ref.pinned_uri}: {exc}") from exc
    rows = len(frame)
    if not 0 <= row < rows:
        raise ExplainabilityError(
            f"row {row} is out of range: {record.data.ref.key} has {rows} data rows (0 to {rows - 1})"
        )
    absent = [name for name in model.spec.raw_features if name not in frame.columns]
    if absent:
        raise ExplainabilityError(f"{record.data.ref.pinned_uri} has no column for features {absent}")
    series = frame.iloc[row]
    values = {name: _cell(series[name]) for name in model.spec.raw_features}
    target = model.spec.target
    return Applicant(
        values=values,
        source=f"{record.data.ref.pinned_uri} data row {row}",
        actual_label=_cell(series[target]) if target in frame.columns else None,
        row=row,
    )


def explain_applicant(model: LoadedModel, applicant: Applicant, top_k: int = DEFAULT_TOP_K) -> ExplainedDecision:
    """Score the applicant at the configured threshold and name the ``top_k`` reasons toward denial.

    Raises:
        ExplainabilityError: a value cannot be encoded, or ``top_k`` is not positive.
    """
    try:
        decision = reason_codes(
            model.booster, model.spec, applicant.values, model.threshold, top_k, decisions=model.decisions
        )
    except (JobInputError, xgb.core.XGBoostError) as exc:
        raise ExplainabilityError(f"cannot score {applicant.source}: {exc}") from exc
    return ExplainedDecision(
        model=model, applicant=applicant, decision=decision, warnings=tuple(_warnings(model, applicant))
    )


def _fetch_verified(store: ObjectStore, digest: ObjectDigest, what: str, model_version: str) -> bytes:
    data = store.get(digest.ref)
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest.sha256:
        raise ReproducibilityMismatch(
            f"the {what} {digest.ref.pinned_uri} has sha256 {actual}, but the lineage of {model_version} "
            f"records {digest.sha256}: refusing to explain with an object other than the registered one"
        )
    return data


def _as_text(name: str, value: Any, spec: FeatureSpec) -> str | None:
    """A JSON value as the text a CSV field would hold (the form the feature encoder reads)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ExplainabilityError(f"feature {name!r}: expected a string, a number or null, got {_json_type(value)}")
    if isinstance(value, str):
        text = value
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # 4.0 and 4 are the same number; "4" is how a CSV writes it
    else:
        text = str(value)
    if text and name in spec.numeric_features:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ExplainabilityError(f"feature {name!r} is numeric: {value!r} is not a finite number")
    return text or None


def _with_lookalike(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f"{name} (misspelt as {close[0]!r}?)" if close else name


def _cell(value: Any) -> str | None:
    # read_dataset reads every field as text and only empty fields as missing (NaN).
    return value if isinstance(value, str) else None


def _warnings(model: LoadedModel, applicant: Applicant) -> list[str]:
    notes: list[str] = []
    record = model.record
    if record.status != "Approved":
        notes.append(f"{record.model_version} is {record.status}, not an approved model: this is not a live decision")
    if applicant.unknown_fields:
        known = [*model.spec.raw_features, *sorted(model.non_feature_columns)]
        named = []
        for key in applicant.unknown_fields:
            close = difflib.get_close_matches(key, known, n=1)
            named.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
        notes.append(
            f"ignored {len(named)} unknown field(s), not features of {record.model_version}: {', '.join(named)}"
        )
    if applicant.absent:
        notes.append(
            f"absent from the input, scored as missing values (--allow-missing): {', '.join(applicant.absent)}"
        )
    for name in model.spec.numeric_features:
        text = applicant.values.get(name)
        limits = model.config.dataset.ranges.get(name)
        if text is None or limits is None:
            continue
        try:
            number = float(text)
        except ValueError:
            continue  # not a number: explain_applicant has already refused it
        if (limits.min is not None and number < limits.min) or (limits.max is not None and number > limits.max):
            notes.append(
                f"{name} = {text} is outside the configured range [{_bound(limits.min)}, {_bound(limits.max)}]: "
                "such a row would not pass validation, so the score is an extrapolation"
            )
    for feature in model.spec.categorical_features:
        text = applicant.values.get(feature.name)
        if text is not None and text not in feature.categories:
            shown = ", ".join(repr(c) for c in feature.categories[:_CATEGORIES_SHOWN]) + (
                ", ..." if len(feature.categories) > _CATEGORIES_SHOWN else ""
            )
            notes.append(
                f"{feature.name} = {text!r} was never seen in training (scored as no category); known: {shown}"
            )
    return notes


def _bound(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if value.is_integer() else str(value)


def _json_type(value: Any) -> str:
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)
