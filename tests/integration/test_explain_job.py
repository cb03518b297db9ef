"""The explainability processing job, run as SageMaker runs it: a subprocess on a trained model archive.

The German credit data is split by the pipeline's own Prepare Data logic, ``jobs/train.py`` trains on
the train channel, and ``jobs/explain.py`` explains the packed ``model.tar.gz`` on the training split.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.split import split_dataset
from governed_mlops.reports.images import image_mime
from governed_mlops.services.stages import job_config_document
from governed_mlops_ml.artifacts import (
    extract_model_archive,
    load_feature_spec,
    read_dataset,
    write_model_archive,
)
from governed_mlops_ml.explain import explain_rows, global_importance, humanise_feature_name
from governed_mlops_ml.explain_plots import DEFAULT_TOP_N
from governed_mlops_ml.model import load_booster

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = REPO_ROOT / "jobs" / "train.py"
EXPLAIN_SCRIPT = REPO_ROOT / "jobs" / "explain.py"
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
GERMAN_CREDIT_CONFIG = REPO_ROOT / "models" / "credit-risk" / "config.yaml"
JOB_TIMEOUT_SECONDS = 300
SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Run:
    """A finished job subprocess and the directory it ran in."""

    directory: Path
    returncode: int
    stdout: str
    stderr: str

    def assert_succeeded(self) -> None:
        assert self.returncode == 0, f"job failed ({self.returncode}):\n{self.stderr}"


@dataclass(frozen=True)
class Workspace:
    root: Path
    train: Path
    config: Path
    model_archive_dir: Path
    train_rows: int


def _environment(**sagemaker: str) -> dict[str, str]:
    # The test process's own SM_* variables (if any) must not leak into the job.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SM_")}
    return {**environment, "MPLCONFIGDIR": tempfile.gettempdir(), **sagemaker}


def _run(arguments: list[str], directory: Path, environment: dict[str, str]) -> Run:
    directory.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [sys.executable, *arguments],
        env=environment,
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_SECONDS,
        check=False,
    )
    return Run(directory, completed.returncode, completed.stdout, completed.stderr)


def _explain(workspace: Workspace, name: str, *, data_dir: Path | None = None) -> Run:
    run_dir = workspace.root / name
    arguments = [
        str(EXPLAIN_SCRIPT),
        *("--model-dir", str(workspace.model_archive_dir)),
        *("--data-dir", str(data_dir or workspace.train)),
        *("--config-dir", str(workspace.config)),
        *("--output-dir", str(run_dir / "explainability")),
    ]
    return _run(arguments, run_dir, _environment(SM_OUTPUT_DIR=str(run_dir / "output")))


@pytest.fixture(scope="module")
def pipeline_config() -> PipelineConfig:
    return parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"), source=GERMAN_CREDIT_CONFIG.name)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, pipeline_config: PipelineConfig) -> Workspace:
    """A trained model archive (from jobs/train.py) and the channels it was trained from."""
    root = tmp_path_factory.mktemp("explain-job")
    split = split_dataset(GERMAN_CREDIT_CSV.read_bytes(), pipeline_config)
    train, config = root / "train", root / "config"
    train.mkdir()
    config.mkdir()
    (train / "train.csv").write_bytes(split.train_csv)
    job_config = job_config_document(pipeline_config)  # what Prepare Data writes, decisions included
    (config / "job_config.json").write_text(json.dumps(job_config), encoding="utf-8")
    hyperparameters = {name: str(value) for name, value in pipeline_config.training.hyperparameters.items()}
    training_dir = root / "training"
    training = _run(
        [str(TRAIN_SCRIPT)],
        training_dir,
        _environment(
            SM_CHANNEL_TRAIN=str(train),
            SM_CHANNEL_CONFIG=str(config),
            SM_MODEL_DIR=str(training_dir / "model"),
            SM_OUTPUT_DATA_DIR=str(training_dir / "output" / "data"),
            SM_OUTPUT_DIR=str(training_dir / "output"),
            SM_HPS=json.dumps(hyperparameters),
        ),
    )
    training.assert_succeeded()
    archive_dir = root / "model-artifact"
    write_model_archive(training_dir / "model", archive_dir / "model.tar.gz")
    return Workspace(root, train, config, archive_dir, split.train_rows)


@pytest.fixture(scope="module")
def explanation(workspace: Workspace) -> Run:
    run = _explain(workspace, "explain")
    run.assert_succeeded()
    return run


def _document(run: Run) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((run.directory / "explainability" / "explainability.json").read_text())
    return document


def test_explain_job_writes_the_report_and_the_summary_plot(explanation: Run) -> None:
    assert sorted(path.name for path in (explanation.directory / "explainability").iterdir()) == [
        "explainability.json",
        "shap_summary.svg",
    ]


def test_summary_plot_shows_the_reported_top_features_with_their_values(explanation: Run) -> None:
    chart = (explanation.directory / "explainability" / "shap_summary.svg").read_bytes()
    importance = _document(explanation)["explanations"]["tree_shap"]["label0"]["global_shap_values"]
    top = sorted(importance.items(), key=lambda item: -item[1])[:DEFAULT_TOP_N]

    root = ET.fromstring(chart)
    values = ["".join(text.itertext()) for text in root.iter(f"{SVG}text") if text.get("class") == "value"]
    features = ["".join(text.itertext()) for text in root.iter(f"{SVG}text") if text.get("class") == "feature"]

    assert image_mime(chart) == "image/svg+xml"
    assert values == [f"{value:.3f}" for _, value in top]
    assert features == [humanise_feature_name(name) for name, _ in top]


def test_report_has_the_clarify_explanations_shape_under_tree_shap(explanation: Run) -> None:
    document = _document(explanation)

    assert document["version"] == "1.0"
    assert set(document["explanations"]) == {"tree_shap"}
    assert set(document["explanations"]["tree_shap"]["label0"]) == {"global_shap_values", "expected_value"}


def test_global_shap_values_cover_every_original_column_sorted_descending(
    explanation: Run, pipeline_config: PipelineConfig
) -> None:
    values = _document(explanation)["explanations"]["tree_shap"]["label0"]["global_shap_values"]

    assert sorted(values) == sorted(pipeline_config.dataset.features)
    assert list(values.values()) == sorted(values.values(), reverse=True)


def test_report_explains_every_training_row(explanation: Run, workspace: Workspace) -> None:
    assert _document(explanation)["dataset"] == {"file": "train.csv", "rows": workspace.train_rows}


def test_global_values_match_an_in_process_explanation_of_the_same_archive(
    explanation: Run, workspace: Workspace, tmp_path: Path
) -> None:
    # Given the same model archive, extracted and explained in this process
    model_dir = extract_model_archive(workspace.model_archive_dir / "model.tar.gz", tmp_path / "model")
    table = explain_rows(
        load_booster(model_dir), load_feature_spec(model_dir), read_dataset(workspace.train / "train.csv")
    )

    # Then the job's global values and expected value are exactly those
    label = _document(explanation)["explanations"]["tree_shap"]["label0"]
    assert list(label["global_shap_values"].items()) == global_importance(table)
    assert label["expected_value"] == table.base_value


def test_reason_code_examples_are_three_denied_rows_with_negative_reasons(explanation: Run) -> None:
    document = _document(explanation)
    examples = document["reason_code_examples"]

    assert len(examples) == 3
    for example in examples:
        assert (example["decision"], example["favourable"]) == ("deny", False)
        assert example["score"] < document["decision_threshold"]
        contributions = [reason["contribution"] for reason in example["reasons"]]
        assert 1 <= len(contributions) <= 4
        assert all(value < 0 for value in contributions)
        assert contributions == sorted(contributions)
        assert all(reason["text"].endswith("(log-odds)") for reason in example["reasons"])


def test_reason_code_example_margins_add_up_from_the_base_value(explanation: Run) -> None:
    examples = _document(explanation)["reason_code_examples"]

    for example in examples:
        score_from_margin = 1.0 / (1.0 + np.exp(-example["margin"]))
        assert example["score"] == pytest.approx(score_from_margin, abs=1e-6)


def test_two_runs_write_byte_identical_outputs(explanation: Run, workspace: Workspace) -> None:
    second = _explain(workspace, "explain-again")
    second.assert_succeeded()

    for name in ("explainability.json", "shap_summary.svg"):
        first_bytes = (explanation.directory / "explainability" / name).read_bytes()
        assert (second.directory / "explainability" / name).read_bytes() == first_bytes, name


def test_explaining_data_without_a_feature_column_fails_with_the_reason_in_the_failure_file(
    workspace: Workspace,
) -> None:
    # Given a data channel whose CSV lacks the first column (status of the checking account)
    data_dir = workspace.root / "data-without-feature"
    data_dir.mkdir()
    lines = (workspace.train / "train.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    frame = read_dataset(workspace.train / "train.csv").drop(columns=[header[0]])
    frame.to_csv(data_dir / "train.csv", index=False)

    # When the explain job runs
    run = _explain(workspace, "explain-bad-data", data_dir=data_dir)

    # Then it exits non-zero and names the missing column on stderr and in the failure file
    reason = (run.directory / "output" / "failure").read_text(encoding="utf-8")
    assert run.returncode == 1
    assert reason == f"data is missing required columns: ['{header[0]}']"
    assert reason in run.stderr
