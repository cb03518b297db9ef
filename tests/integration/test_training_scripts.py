"""The SageMaker job scripts, run as SageMaker runs them: subprocesses with the SM_* directory contract.

The German credit data is split by the pipeline's own Prepare Data logic; the training job reads the
train channel and the evaluation job reads the packed ``model.tar.gz``, as in AWS.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import xgboost

from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.gates import evaluate_gates, read_metrics
from governed_mlops.domain.split import split_dataset
from governed_mlops_ml.artifacts import write_model_archive

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = REPO_ROOT / "jobs" / "train.py"
EVALUATE_SCRIPT = REPO_ROOT / "jobs" / "evaluate.py"
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
GERMAN_CREDIT_CONFIG = REPO_ROOT / "models" / "credit-risk" / "config.yaml"
JOB_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Channels:
    """Input directories shared by every job run of this module."""

    root: Path
    train: Path
    test: Path
    config: Path
    sm_hps: str
    test_rows: int


@dataclass(frozen=True)
class JobRun:
    """A finished job subprocess and the directory it wrote into."""

    directory: Path
    returncode: int
    stdout: str
    stderr: str

    def assert_succeeded(self) -> None:
        assert self.returncode == 0, f"job failed ({self.returncode}):\n{self.stderr}"


@pytest.fixture(scope="module")
def pipeline_config() -> PipelineConfig:
    return parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"), source=GERMAN_CREDIT_CONFIG.name)


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory, pipeline_config: PipelineConfig) -> Channels:
    root = tmp_path_factory.mktemp("sagemaker")
    split = split_dataset(GERMAN_CREDIT_CSV.read_bytes(), pipeline_config)
    train, test, config = root / "train", root / "test", root / "config"
    for directory in (train, test, config):
        directory.mkdir()
    (train / "train.csv").write_bytes(split.train_csv)
    (test / "test.csv").write_bytes(split.test_csv)
    (config / "job_config.json").write_text(json.dumps(_job_config(pipeline_config)), encoding="utf-8")
    # SageMaker hands hyperparameters over as strings.
    hyperparameters = {name: str(value) for name, value in pipeline_config.training.hyperparameters.items()}
    return Channels(root, train, test, config, json.dumps(hyperparameters), split.test_rows)


def _job_config(config: PipelineConfig) -> dict[str, Any]:
    return {
        "target": config.dataset.target,
        "positive_label": config.dataset.positive_label,
        "numeric_features": config.dataset.numeric_features,
        "categorical_features": config.dataset.categorical_features,
        "seed": config.training.seed,
        "decision_threshold": config.gates.decision_threshold,
    }


def _job_environment(**sagemaker: str) -> dict[str, str]:
    # The test process's own SM_* variables (if any) must not leak into the job.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SM_")}
    return {**environment, **sagemaker}


def _start_training(
    channels: Channels, run_dir: Path, *, train_dir: Path | None = None, argv: Sequence[str] = ()
) -> subprocess.Popen[str]:
    environment = _job_environment(
        SM_CHANNEL_TRAIN=str(train_dir or channels.train),
        SM_CHANNEL_CONFIG=str(channels.config),
        SM_MODEL_DIR=str(run_dir / "model"),
        SM_OUTPUT_DATA_DIR=str(run_dir / "output" / "data"),
        SM_OUTPUT_DIR=str(run_dir / "output"),
        SM_HPS=channels.sm_hps,
    )
    return subprocess.Popen(
        [sys.executable, str(TRAIN_SCRIPT), *argv],
        env=environment,
        cwd=run_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], directory: Path) -> JobRun:
    stdout, stderr = process.communicate(timeout=JOB_TIMEOUT_SECONDS)
    return JobRun(directory, process.returncode, stdout, stderr)


def _train(channels: Channels, name: str, **options: Any) -> JobRun:
    run_dir = channels.root / name
    run_dir.mkdir()
    return _finish(_start_training(channels, run_dir, **options), run_dir)


def _evaluate(channels: Channels, name: str, model_dir: Path, *, test_dir: Path | None = None) -> JobRun:
    run_dir = channels.root / name
    artifact_dir = run_dir / "model-artifact"
    write_model_archive(model_dir, artifact_dir / "model.tar.gz")
    arguments = [
        *("--model-dir", str(artifact_dir)),
        *("--test-dir", str(test_dir or channels.test)),
        *("--config-dir", str(channels.config)),
        *("--output-dir", str(run_dir / "evaluation")),
    ]
    process = subprocess.Popen(
        [sys.executable, str(EVALUATE_SCRIPT), *arguments],
        env=_job_environment(SM_OUTPUT_DIR=str(run_dir / "output")),
        cwd=run_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return _finish(process, run_dir)


@pytest.fixture(scope="module")
def training_runs(channels: Channels) -> tuple[JobRun, JobRun]:
    """Two independent trainings on the same inputs, run side by side."""
    run_dirs = [channels.root / "training-1", channels.root / "training-2"]
    for run_dir in run_dirs:
        run_dir.mkdir()
    processes = [_start_training(channels, run_dir) for run_dir in run_dirs]
    first, second = (_finish(process, run_dir) for process, run_dir in zip(processes, run_dirs, strict=True))
    return first, second


@pytest.fixture(scope="module")
def training(training_runs: tuple[JobRun, JobRun]) -> JobRun:
    run = training_runs[0]
    run.assert_succeeded()
    return run


@pytest.fixture(scope="module")
def evaluation(channels: Channels, training: JobRun) -> JobRun:
    run = _evaluate(channels, "evaluation", training.directory / "model")
    run.assert_succeeded()
    return run


def _evaluation_document(evaluation: JobRun) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((evaluation.directory / "evaluation" / "evaluation.json").read_text())
    return document


def test_training_writes_the_model_its_feature_spec_threshold_and_serving_code(training: JobRun) -> None:
    model = training.directory / "model"
    assert sorted(path.name for path in model.iterdir()) == [
        "code",
        "feature_spec.json",
        "inference.json",
        "xgboost-model",
    ]
    # The code the container serves the model with is the code that trained it (here: jobs/ as run)
    assert (model / "code" / "inference.py").read_bytes() == (REPO_ROOT / "jobs" / "inference.py").read_bytes()
    assert (model / "code" / "train.py").read_bytes() == TRAIN_SCRIPT.read_bytes()
    assert not list((model / "code").rglob("__pycache__"))
    # This job config names no decisions (model.decisions), so the model answers with the dataset's labels
    assert json.loads((model / "inference.json").read_text()) == {
        "decision_threshold": 0.5,
        "decisions": {"favourable": "good", "unfavourable": "bad"},
    }


def test_two_training_runs_write_byte_identical_models(training_runs: tuple[JobRun, JobRun]) -> None:
    first, second = training_runs
    second.assert_succeeded()

    first_model = (first.directory / "model" / "xgboost-model").read_bytes()
    second_model = (second.directory / "model" / "xgboost-model").read_bytes()

    assert first_model == second_model


def test_training_metrics_record_rows_seed_and_xgboost_version(
    training: JobRun, channels: Channels, pipeline_config: PipelineConfig
) -> None:
    metrics = json.loads((training.directory / "output" / "data" / "training_metrics.json").read_text())
    train_rows = len((channels.train / "train.csv").read_text(encoding="utf-8").splitlines()) - 1

    assert (metrics["rows"], metrics["seed"], metrics["xgboost_version"]) == (
        train_rows,
        pipeline_config.training.seed,
        xgboost.__version__,
    )


def test_feature_spec_encodes_every_configured_feature(training: JobRun, pipeline_config: PipelineConfig) -> None:
    spec = json.loads((training.directory / "model" / "feature_spec.json").read_text())

    assert spec["numeric_features"] + [f["name"] for f in spec["categorical_features"]] == (
        pipeline_config.dataset.features
    )


def test_evaluation_auc_on_the_holdout_is_above_0_7(evaluation: JobRun) -> None:
    auc = _evaluation_document(evaluation)["binary_classification_metrics"]["auc"]["value"]

    assert auc > 0.7


def test_evaluation_document_has_the_model_quality_shape(evaluation: JobRun) -> None:
    document = _evaluation_document(evaluation)

    assert set(document["binary_classification_metrics"]) == {
        "auc",
        "ks",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "true_positive_rate",
        "false_positive_rate",
        "confusion_matrix",
        "receiver_operating_characteristic_curve",
    }
    assert (document["positive_label"], document["threshold"]) == ("good", 0.5)


def test_evaluation_confusion_matrix_counts_every_test_row(evaluation: JobRun, channels: Channels) -> None:
    matrix = _evaluation_document(evaluation)["binary_classification_metrics"]["confusion_matrix"]

    assert sum(count for row in matrix.values() for count in row.values()) == channels.test_rows


def test_evaluation_passes_the_configured_quality_gates(evaluation: JobRun, pipeline_config: PipelineConfig) -> None:
    outcome = evaluate_gates(read_metrics(_evaluation_document(evaluation)), pipeline_config.gates)

    assert outcome.passed, outcome.failed


def test_predictions_csv_has_one_scored_row_per_test_row(evaluation: JobRun, channels: Channels) -> None:
    with (evaluation.directory / "evaluation" / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))

    assert [int(row["row_index"]) for row in rows] == list(range(channels.test_rows))
    assert all(0.0 <= float(row["score"]) <= 1.0 and row["actual"] in {"good", "bad"} for row in rows)


def test_command_line_hyperparameters_win_over_sm_hps(channels: Channels) -> None:
    # Given SM_HPS asking for the configured number of rounds, and the command line for 5
    run = _train(channels, "training-cli", argv=["--num_round", "5"])

    # Then the job trains 5 rounds
    run.assert_succeeded()
    metrics = json.loads((run.directory / "output" / "data" / "training_metrics.json").read_text())
    assert metrics["hyperparameters"]["num_round"] == 5


def test_training_on_data_without_the_target_fails_with_the_reason_in_the_failure_file(
    channels: Channels,
) -> None:
    # Given a train channel whose CSV lacks the target column
    train_dir = channels.root / "train-without-target"
    train_dir.mkdir()
    with (channels.train / "train.csv").open(encoding="utf-8", newline="") as source:
        rows = [row[:-1] for row in csv.reader(source)]
    with (train_dir / "train.csv").open("w", encoding="utf-8", newline="") as target:
        csv.writer(target).writerows(rows)

    # When the training job runs
    run = _train(channels, "training-bad-data", train_dir=train_dir)

    # Then it exits non-zero and names the missing column on stderr and in the failure file
    reason = (run.directory / "output" / "failure").read_text(encoding="utf-8")
    assert (run.returncode, reason) == (1, "data is missing required columns: ['creditability']")
    assert reason in run.stderr


def test_evaluation_of_a_single_class_test_set_fails_with_the_reason_in_the_failure_file(
    channels: Channels, training: JobRun
) -> None:
    # Given a test channel holding only "good" rows
    test_dir = channels.root / "test-single-class"
    test_dir.mkdir()
    lines = (channels.test / "test.csv").read_text(encoding="utf-8").splitlines()
    good_only = [lines[0], *(line for line in lines[1:] if line.endswith(",good"))]
    (test_dir / "test.csv").write_text("\n".join(good_only) + "\n", encoding="utf-8")

    # When the evaluation job runs
    run = _evaluate(channels, "evaluation-single-class", training.directory / "model", test_dir=test_dir)

    # Then it exits non-zero and says why
    reason = (run.directory / "output" / "failure").read_text(encoding="utf-8")
    assert run.returncode == 1
    assert "need both classes" in reason
