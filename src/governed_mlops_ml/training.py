"""The training job's logic, free of I/O: learn the encoding, fit the booster, summarise the fit."""

from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass
from typing import Any

import pandas as pd
import xgboost as xgb

from governed_mlops.domain.hyperparameters import TrainingHyperparameters
from governed_mlops_ml.features import FeatureSpec, encode_frame, encode_target, fit_feature_spec
from governed_mlops_ml.job_config import JobConfig
from governed_mlops_ml.metrics import binary_classification_metrics
from governed_mlops_ml.model import score_matrix, train_booster

__all__ = ["TrainedModel", "library_versions", "train_model"]

_LIBRARIES = {"xgboost": "xgboost", "numpy": "numpy", "pandas": "pandas", "scikit-learn": "sklearn", "scipy": "scipy"}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that produced the model (recorded in its lineage).

    Read from the modules, not the distributions: the same library ships as ``xgboost`` or
    ``xgboost-cpu`` depending on the environment.
    """
    versions = {name: str(importlib.import_module(module).__version__) for name, module in _LIBRARIES.items()}
    return {**versions, "python": platform.python_version()}


@dataclass(frozen=True)
class TrainedModel:
    """A fitted booster, the feature spec it was trained with, and the ``training_metrics.json`` document."""

    booster: xgb.Booster
    spec: FeatureSpec
    metrics: dict[str, Any]


def train_model(frame: pd.DataFrame, config: JobConfig, hyperparameters: TrainingHyperparameters) -> TrainedModel:
    """Fit the feature spec and an XGBoost binary classifier of P(target == positive label) on ``frame``.

    ``frame`` is the training split: imputed values are learned from it alone (the evaluation job applies
    them, from the stored feature spec, to the test split).

    Raises:
        JobInputError: a configured column is missing or malformed, the target is not binary, or
            XGBoost rejects a hyperparameter.
    """
    spec = fit_feature_spec(frame, config)
    features = encode_frame(frame, spec)
    labels = encode_target(frame, spec)
    booster = train_booster(features, labels, hyperparameters, config.seed)
    train_fit = binary_classification_metrics(labels, score_matrix(booster, features), config.decision_threshold)
    metrics = {
        "train_auc": train_fit.auc,
        "train_ks": train_fit.ks,
        "rows": int(labels.size),
        "positive_rate": float(labels.mean()),
        "feature_count": len(spec.encoded_columns),
        "raw_feature_count": len(spec.raw_features),
        "xgboost_version": xgb.__version__,
        "library_versions": library_versions(),
        "seed": config.seed,
        "hyperparameters": hyperparameters.to_json_dict(),
        # Per feature: its policy, the value imputed (learned on this training split) and how often it applied.
        "missing_values": {
            name: spec.missing_for(name).to_json_dict() | {"missing_in_training": int(frame[name].isna().sum())}
            for name in spec.raw_features
        },
    }
    return TrainedModel(booster=booster, spec=spec, metrics=metrics)
