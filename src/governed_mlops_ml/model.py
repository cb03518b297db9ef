"""Training, scoring and (de)serialising the XGBoost booster.

The model file is XGBoost's JSON format under SageMaker's conventional name ``xgboost-model``.
With a fixed seed and ``nthread=1`` two trainings on the same data write byte-identical files, which
lets the pipeline prove that a registered model is the one its lineage says it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb

from governed_mlops.domain.hyperparameters import TrainingHyperparameters
from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import FEATURE_SPEC_FILE, MODEL_ARCHIVE, extract_model_archive, load_feature_spec
from governed_mlops_ml.features import FeatureSpec, encode_frame

_MATRIX = 2  # rows x columns

__all__ = [
    "MODEL_FILE",
    "booster_to_bytes",
    "load_booster",
    "predict_scores",
    "save_booster",
    "score_matrix",
    "train_booster",
    "xgboost_params",
]

MODEL_FILE = "xgboost-model"
"""File name of the model inside SM_MODEL_DIR (and so inside ``model.tar.gz``)."""
SCORING_FILES = frozenset({MODEL_FILE, FEATURE_SPEC_FILE})
"""What scoring with a model archive needs from it: the booster and its feature spec (not ``code/``)."""


def xgboost_params(hyperparameters: TrainingHyperparameters, seed: int) -> dict[str, Any]:
    """Booster parameters for ``xgboost.train``: the hyperparameters plus the fixed seed and one thread."""
    return {**hyperparameters.booster_params, "seed": seed, "nthread": 1}


def train_booster(
    features: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    hyperparameters: TrainingHyperparameters,
    seed: int,
) -> xgb.Booster:
    """Train a binary classifier on an encoded matrix (NaN = missing) and 0/1 labels.

    Raises:
        JobInputError: XGBoost rejects a hyperparameter value (e.g. ``subsample=2``).
    """
    matrix = xgb.DMatrix(features, label=labels, missing=np.nan, nthread=1)
    try:
        return xgb.train(xgboost_params(hyperparameters, seed), matrix, num_boost_round=hyperparameters.num_round)
    except xgb.core.XGBoostError as exc:
        raise JobInputError(f"XGBoost rejected the hyperparameters: {_first_line(exc)}") from exc


def score_matrix(booster: xgb.Booster, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(positive) for each row of an already encoded matrix.

    Raises:
        JobInputError: the matrix width differs from the number of features the booster was trained on.
    """
    if features.ndim != _MATRIX or features.shape[1] != booster.num_features():
        raise JobInputError(
            f"encoded matrix has shape {features.shape}, the model expects {booster.num_features()} columns"
        )
    scores = booster.predict(xgb.DMatrix(features, missing=np.nan))
    return np.asarray(scores, dtype=np.float64)


def predict_scores(booster: xgb.Booster, spec: FeatureSpec, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """P(target == positive label) for each row of a raw data frame, encoded with ``spec``.

    Raises:
        JobInputError: a feature column is missing or malformed, or the spec does not fit the booster.
    """
    return score_matrix(booster, encode_frame(frame, spec))


def booster_to_bytes(booster: xgb.Booster) -> bytes:
    """The booster in XGBoost's JSON model format (deterministic for a deterministic training)."""
    return bytes(booster.save_raw(raw_format="json"))


def save_booster(booster: xgb.Booster, model_dir: Path) -> Path:
    """Write the booster to ``model_dir/xgboost-model`` and return that path."""
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / MODEL_FILE
    path.write_bytes(booster_to_bytes(booster))
    return path


def load_booster(model_dir: Path) -> xgb.Booster:
    """Load ``model_dir/xgboost-model`` (JSON or UBJSON; XGBoost detects the format from the bytes).

    Raises:
        JobInputError: the file is missing or is not an XGBoost model.
    """
    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise JobInputError(f"model file {MODEL_FILE!r} not found in {model_dir}")
    booster = xgb.Booster()
    try:
        # Loading from bytes avoids XGBoost guessing the format from the extensionless file name.
        booster.load_model(bytearray(path.read_bytes()))
    except xgb.core.XGBoostError as exc:
        raise JobInputError(f"{path} is not a readable XGBoost model: {_first_line(exc)}") from exc
    return booster


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def load_model_archive(
    archive_dir: Path, extract_to: Path, *, target: str, positive_label: str
) -> tuple[FeatureSpec, xgb.Booster]:
    """Extract ``model.tar.gz`` from a job's model input and load its feature spec and booster.

    Refuses a model that predicts another target or favourable label than the job config asks for.
    """
    model_dir = extract_model_archive(archive_dir / MODEL_ARCHIVE, extract_to, files=SCORING_FILES)
    spec = load_feature_spec(model_dir)
    booster = load_booster(model_dir)
    if spec.target != target or spec.positive_label != positive_label:
        raise JobInputError(
            f"model predicts {spec.target}=={spec.positive_label!r} but the job config asks for "
            f"{target}=={positive_label!r}"
        )
    return spec, booster
