"""Pure ML helpers shared by the SageMaker job scripts and the pipeline's later stages.

This subpackage may import only the standard library, numpy, pandas, scikit-learn, scipy and
xgboost: it runs inside SageMaker's XGBoost framework container, where nothing else of
``governed_mlops`` (pydantic, boto3, PyYAML) is available.
"""

from __future__ import annotations

from governed_mlops.ml.artifacts import (
    FAILURE_FILE,
    FEATURE_SPEC_FILE,
    MODEL_ARCHIVE,
    extract_model_archive,
    find_single_csv,
    load_feature_spec,
    load_job_config,
    read_dataset,
    read_json,
    save_feature_spec,
    write_failure_reason,
    write_json,
    write_model_archive,
)
from governed_mlops.ml.errors import JobInputError
from governed_mlops.ml.evaluation import PREDICTION_COLUMNS, Evaluation, evaluate_model
from governed_mlops.ml.features import (
    CategoricalFeature,
    FeatureSpec,
    encode_frame,
    encode_target,
    encoded_column_name,
    feature_spec_from_dict,
    fit_feature_spec,
)
from governed_mlops.ml.hyperparameters import (
    TrainingHyperparameters,
    hyperparameters_from_command_line,
    hyperparameters_from_sm_hps,
    parse_hyperparameters,
    resolve_hyperparameters,
)
from governed_mlops.ml.job_config import JOB_CONFIG_FILE, JobConfig, parse_job_config
from governed_mlops.ml.metrics import (
    BinaryClassificationMetrics,
    ConfusionCounts,
    binary_classification_metrics,
    ks_statistic,
    model_quality_statistics,
)
from governed_mlops.ml.model import (
    MODEL_FILE,
    booster_to_bytes,
    load_booster,
    predict_scores,
    save_booster,
    score_matrix,
    train_booster,
)
from governed_mlops.ml.runner import run_job
from governed_mlops.ml.training import TrainedModel, train_model

__all__ = [
    "FAILURE_FILE",
    "FEATURE_SPEC_FILE",
    "JOB_CONFIG_FILE",
    "MODEL_ARCHIVE",
    "MODEL_FILE",
    "PREDICTION_COLUMNS",
    "BinaryClassificationMetrics",
    "CategoricalFeature",
    "ConfusionCounts",
    "Evaluation",
    "FeatureSpec",
    "JobConfig",
    "JobInputError",
    "TrainedModel",
    "TrainingHyperparameters",
    "binary_classification_metrics",
    "booster_to_bytes",
    "encode_frame",
    "encode_target",
    "encoded_column_name",
    "evaluate_model",
    "extract_model_archive",
    "feature_spec_from_dict",
    "find_single_csv",
    "fit_feature_spec",
    "hyperparameters_from_command_line",
    "hyperparameters_from_sm_hps",
    "ks_statistic",
    "load_booster",
    "load_feature_spec",
    "load_job_config",
    "model_quality_statistics",
    "parse_hyperparameters",
    "parse_job_config",
    "predict_scores",
    "read_dataset",
    "read_json",
    "resolve_hyperparameters",
    "run_job",
    "save_booster",
    "save_feature_spec",
    "score_matrix",
    "train_booster",
    "train_model",
    "write_failure_reason",
    "write_json",
    "write_model_archive",
]
