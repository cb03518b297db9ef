"""SageMaker processing-job entry point: evaluate a trained model on the held-out test set.

Arguments: ``--model-dir`` (holds the training job's ``model.tar.gz``), ``--test-dir`` (one CSV),
``--config-dir`` (``job_config.json``) and ``--output-dir``. Writes into the output directory:

- ``evaluation.json``: Model Registry "ModelQuality" statistics at the job config's decision threshold,
- ``predictions.csv``: ``row_index,actual,score`` for every test row, for later stages.

On failure the reason goes to stderr and, when SM_OUTPUT_DIR is set, to ``SM_OUTPUT_DIR/failure``;
the exit code is non-zero. Imports only the standard library, the scientific stack and ``governed_mlops_ml``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from governed_mlops_ml.artifacts import (
    find_single_csv,
    load_job_config,
    read_dataset,
    write_json,
)
from governed_mlops_ml.evaluation import evaluate_model
from governed_mlops_ml.model import load_model_archive
from governed_mlops_ml.runner import JobArgumentParser, run_job

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "predictions.csv"


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The four directory arguments of the processing job."""
    parser = JobArgumentParser(prog="evaluate.py", description="Evaluate a trained model on the test set.")
    for name in ("--model-dir", "--test-dir", "--config-dir", "--output-dir"):
        parser.add_argument(name, type=Path, required=True)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str]) -> None:
    """Evaluate the model archive in ``--model-dir`` on the CSV in ``--test-dir``."""
    started = time.perf_counter()
    arguments = parse_arguments(argv)
    config = load_job_config(arguments.config_dir)
    test_csv = find_single_csv(arguments.test_dir)
    with tempfile.TemporaryDirectory(prefix="model-") as extracted:
        spec, booster = load_model_archive(
            arguments.model_dir, Path(extracted), target=config.target, positive_label=config.positive_label
        )
    evaluation = evaluate_model(booster, spec, read_dataset(test_csv), config.decision_threshold)

    output_dir: Path = arguments.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / EVALUATION_FILE, evaluation.statistics)
    evaluation.predictions.to_csv(output_dir / PREDICTIONS_FILE, index=False)
    metrics = evaluation.statistics["binary_classification_metrics"]
    print(f"auc={metrics['auc']['value']:.6f} ks={metrics['ks']['value']:.6f}")
    print(f"accuracy={metrics['accuracy']['value']:.6f} rows={evaluation.statistics['rows']}")
    print(f"evaluation_seconds={time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    sys.exit(run_job(lambda: main(sys.argv[1:]), os.environ.get("SM_OUTPUT_DIR")))
