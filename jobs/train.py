"""SageMaker script-mode training entry point (XGBoost framework container).

Reads the training CSV from the ``train`` channel and ``job_config.json`` from the ``config``
channel, trains a binary XGBoost classifier of P(target == positive label) with a fixed seed and
one thread, and writes into SM_MODEL_DIR:

- ``xgboost-model``: the booster in XGBoost's JSON format (byte-identical across identical runs),
- ``feature_spec.json``: how raw columns are encoded into the model's input matrix,
- ``inference.json``: the decision threshold the served model turns scores into decisions with,
- ``code/``: this job code (``inference.py`` and what it imports), which the SageMaker container
  serves the model with (``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``: a network-isolated
  container cannot fetch code),

and ``SM_OUTPUT_DATA_DIR/training_metrics.json``. Hyperparameters come from SM_HPS and from
``--name value`` command-line pairs (the command line wins). On failure the reason goes to stderr
and, when SM_OUTPUT_DIR is set, to ``SM_OUTPUT_DIR/failure``; the exit code is non-zero.

Imports only the standard library, the scientific stack and ``governed_mlops_ml``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from governed_mlops.domain.hyperparameters import resolve_hyperparameters
from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import find_single_csv, load_job_config, read_dataset, save_feature_spec, write_json
from governed_mlops_ml.explain import dataset_decisions
from governed_mlops_ml.model import save_booster
from governed_mlops_ml.runner import run_job
from governed_mlops_ml.serving import SERVING_CODE_DIR, copy_serving_code, write_inference_settings
from governed_mlops_ml.training import train_model

TRAINING_METRICS_FILE = "training_metrics.json"
_REQUIRED_ENVIRONMENT = ("SM_CHANNEL_TRAIN", "SM_CHANNEL_CONFIG", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR")


def main(environ: Mapping[str, str], argv: Sequence[str]) -> None:
    """Train from the SageMaker directory contract described by ``environ`` and ``argv``."""
    started = time.perf_counter()
    missing = [name for name in _REQUIRED_ENVIRONMENT if not environ.get(name)]
    if missing:
        raise JobInputError(f"environment variables not set: {missing}")
    hyperparameters = resolve_hyperparameters(environ.get("SM_HPS"), argv)
    config = load_job_config(Path(environ["SM_CHANNEL_CONFIG"]))
    train_csv = find_single_csv(Path(environ["SM_CHANNEL_TRAIN"]))
    trained = train_model(read_dataset(train_csv), config, hyperparameters)

    model_dir = Path(environ["SM_MODEL_DIR"])
    save_booster(trained.booster, model_dir)
    save_feature_spec(trained.spec, model_dir)
    write_inference_settings(
        model_dir, config.decision_threshold, decisions=config.decisions or dataset_decisions(trained.spec)
    )
    copy_serving_code(Path(__file__).resolve().parent, model_dir / SERVING_CODE_DIR)
    write_json(Path(environ["SM_OUTPUT_DATA_DIR"]) / TRAINING_METRICS_FILE, trained.metrics)
    # One "name=value" line per metric, for SageMaker metric definitions scraping the log.
    print(f"train_auc={trained.metrics['train_auc']:.6f}")
    print(f"rows={trained.metrics['rows']} features={trained.metrics['feature_count']} source={train_csv.name}")
    print(f"training_seconds={time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    sys.exit(run_job(lambda: main(os.environ, sys.argv[1:]), os.environ.get("SM_OUTPUT_DIR")))
