"""The bias processing job (jobs/bias.py), run as SageMaker runs it: a subprocess with directory arguments.

The model is trained by jobs/train.py on the pipeline's own train split; pre-training metrics are
computed on the whole German credit data set, post-training metrics on the hold-out split.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.bias_gates import check_bias
from governed_mlops.domain.bias_names import METRIC_DESCRIPTIONS, POST_TRAINING_METRICS, PRE_TRAINING_METRICS
from governed_mlops.domain.split import split_dataset
from governed_mlops.reports.images import image_mime
from governed_mlops_ml.artifacts import write_model_archive
from governed_mlops_ml.bias_plots import plot_stage

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = REPO_ROOT / "jobs" / "train.py"
BIAS_SCRIPT = REPO_ROOT / "jobs" / "bias.py"
GERMAN_CREDIT_CSV = REPO_ROOT / "data" / "german_credit" / "german_credit.csv"
GERMAN_CREDIT_CONFIG = REPO_ROOT / "models" / "credit-risk" / "config.yaml"
JOB_TIMEOUT_SECONDS = 300
SVG = "{http://www.w3.org/2000/svg}"
FACETS = ["sex", "age_25_or_younger", "foreign_worker"]


@dataclass(frozen=True)
class Inputs:
    root: Path
    full: Path
    test: Path
    bias_config: Path
    model: Path


@dataclass(frozen=True)
class BiasRun:
    output: Path
    failure: Path
    returncode: int
    stdout: str
    stderr: str

    def assert_succeeded(self) -> None:
        assert self.returncode == 0, f"bias job failed ({self.returncode}):\n{self.stderr}"

    def analysis(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.output / "analysis.json").read_text(encoding="utf-8"))
        return document


@pytest.fixture(scope="module")
def pipeline_config() -> PipelineConfig:
    return parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"), source=GERMAN_CREDIT_CONFIG.name)


def _environment(**sagemaker: str) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SM_")}
    return {**environment, **sagemaker}


def _directory(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, pipeline_config: PipelineConfig) -> Inputs:
    root = tmp_path_factory.mktemp("bias-job")
    dataset, gates, bias = pipeline_config.dataset, pipeline_config.gates, pipeline_config.bias
    assert bias is not None
    split = split_dataset(GERMAN_CREDIT_CSV.read_bytes(), pipeline_config)
    train, test, full = _directory(root / "train"), _directory(root / "test"), _directory(root / "full")
    (train / "train.csv").write_bytes(split.train_csv)
    (test / "test.csv").write_bytes(split.test_csv)
    (full / "german_credit.csv").write_bytes(GERMAN_CREDIT_CSV.read_bytes())
    job_config = _directory(root / "job-config") / "job_config.json"
    job_config.write_text(
        json.dumps(
            {
                "target": dataset.target,
                "positive_label": dataset.positive_label,
                "numeric_features": dataset.numeric_features,
                "categorical_features": dataset.categorical_features,
                "seed": pipeline_config.training.seed,
                "decision_threshold": gates.decision_threshold,
            }
        ),
        encoding="utf-8",
    )
    bias_config = _directory(root / "bias-config")
    document = bias.job_document(
        label=dataset.target, positive_label=dataset.positive_label, decision_threshold=gates.decision_threshold
    )
    (bias_config / "bias_config.json").write_text(json.dumps(document), encoding="utf-8")

    training = subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT)],
        env=_environment(
            SM_CHANNEL_TRAIN=str(train),
            SM_CHANNEL_CONFIG=str(job_config.parent),
            SM_MODEL_DIR=str(root / "model"),
            SM_OUTPUT_DATA_DIR=str(root / "training-output" / "data"),
            SM_OUTPUT_DIR=str(root / "training-output"),
            SM_HPS=json.dumps({name: str(value) for name, value in pipeline_config.training.hyperparameters.items()}),
        ),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_SECONDS,
        check=False,
    )
    assert training.returncode == 0, training.stderr
    model = root / "model-artifact"
    write_model_archive(root / "model", model / "model.tar.gz")
    return Inputs(root=root, full=full, test=test, bias_config=bias_config, model=model)


def _start(inputs: Inputs, name: str, stage: str, data: Path, *, model: bool) -> tuple[subprocess.Popen[str], Path]:
    run_dir = _directory(inputs.root / name)
    arguments = [
        *("--data-dir", str(data)),
        *("--config-dir", str(inputs.bias_config)),
        *("--stage", stage),
        *("--output-dir", str(run_dir / "bias")),
        *(("--model-dir", str(inputs.model)) if model else ()),
    ]
    process = subprocess.Popen(
        [sys.executable, str(BIAS_SCRIPT), *arguments],
        env=_environment(SM_OUTPUT_DIR=str(run_dir / "output")),
        cwd=run_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, run_dir


def _finish(started: tuple[subprocess.Popen[str], Path]) -> BiasRun:
    process, run_dir = started
    stdout, stderr = process.communicate(timeout=JOB_TIMEOUT_SECONDS)
    return BiasRun(run_dir / "bias", run_dir / "output" / "failure", process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def runs(inputs: Inputs) -> dict[str, BiasRun]:
    """The pre- and post-training jobs, run side by side."""
    started = {
        "pre": _start(inputs, "pre", "pre", inputs.full, model=False),
        "post": _start(inputs, "post", "post", inputs.test, model=True),
    }
    finished = {stage: _finish(process) for stage, process in started.items()}
    for run in finished.values():
        run.assert_succeeded()
    return finished


@pytest.mark.parametrize(
    ("stage", "section", "metrics"),
    [
        ("pre", "pre_training_bias_metrics", list(PRE_TRAINING_METRICS)),
        ("post", "post_training_bias_metrics", list(POST_TRAINING_METRICS)),
    ],
)
def test_analysis_json_has_clarifys_shape_for_every_facet(
    runs: dict[str, BiasRun], stage: str, section: str, metrics: list[str]
) -> None:
    analysis = runs[stage].analysis()

    assert list(analysis) == ["version", section]
    assert (analysis[section]["label"], analysis[section]["label_value_or_threshold"]) == ("creditability", "good")
    assert list(analysis[section]["facets"]) == FACETS
    for entries in analysis[section]["facets"].values():
        [entry] = entries
        assert [m["name"] for m in entry["metrics"]] == metrics
        assert all(m["description"] == METRIC_DESCRIPTIONS[m["name"]] for m in entry["metrics"])


def test_pre_training_values_on_german_credit_match_the_known_figures(runs: dict[str, BiasRun]) -> None:
    facets = runs["pre"].analysis()["pre_training_bias_metrics"]["facets"]

    def value(facet: str, metric: str) -> float:
        return float(next(m["value"] for m in facets[facet][0]["metrics"] if m["name"] == metric))

    assert (value("sex", "CI"), value("sex", "DPL")) == pytest.approx((0.38, -0.0187), abs=5e-5)
    assert (value("age_25_or_younger", "CI"), value("age_25_or_younger", "DPL")) == pytest.approx(
        (0.62, 0.1494), abs=5e-5
    )


def test_configured_limits_are_reported_next_to_their_metrics(
    runs: dict[str, BiasRun], pipeline_config: PipelineConfig
) -> None:
    assert pipeline_config.bias is not None
    metrics = runs["post"].analysis()["post_training_bias_metrics"]["facets"]["sex"][0]["metrics"]

    assert {m["name"]: m["limit"] for m in metrics if "limit" in m} == {
        name: limit.to_json_dict()
        for name, limit in pipeline_config.bias.thresholds["sex"].items()
        if name in POST_TRAINING_METRICS
    }


@pytest.mark.parametrize("stage", ["pre", "post"])
def test_the_demo_model_and_data_pass_the_shipped_bias_limits(
    runs: dict[str, BiasRun], pipeline_config: PipelineConfig, stage: str
) -> None:
    assert pipeline_config.bias is not None

    assert check_bias(runs[stage].analysis(), pipeline_config.bias.thresholds) == []


@pytest.mark.parametrize("stage", ["pre", "post"])
def test_the_chart_shows_every_reported_value_of_every_facet(runs: dict[str, BiasRun], stage: str) -> None:
    chart = (runs[stage].output / f"{stage}_training_bias.svg").read_bytes()
    section = runs[stage].analysis()[f"{stage}_training_bias_metrics"]
    reported = [
        "undefined" if metric["value"] is None else f"{metric['value']:.3f}"
        for metric_name in (PRE_TRAINING_METRICS if stage == "pre" else POST_TRAINING_METRICS)
        for facet in FACETS
        for entry in section["facets"][facet]
        for metric in entry["metrics"]
        if metric["name"] == metric_name
    ]

    root = ET.fromstring(chart)
    shown = ["".join(text.itertext()) for text in root.iter(f"{SVG}text") if text.get("class") == "value"]

    assert image_mime(chart) == "image/svg+xml"
    assert shown == reported


def test_the_chart_is_byte_identical_when_drawn_again(runs: dict[str, BiasRun], tmp_path: Path) -> None:
    run = runs["post"]

    redrawn = plot_stage(run.analysis(), "post", tmp_path / "again.svg")

    assert redrawn.read_bytes() == (run.output / "post_training_bias.svg").read_bytes()


def test_a_missing_facet_column_fails_the_job_naming_facet_and_column(inputs: Inputs) -> None:
    # Given a data set without the foreign_worker column
    data = _directory(inputs.root / "without-foreign-worker")
    with GERMAN_CREDIT_CSV.open(encoding="utf-8", newline="") as source:
        rows = list(csv.reader(source))
    drop = rows[0].index("foreign_worker")
    with (data / "data.csv").open("w", encoding="utf-8", newline="") as target:
        csv.writer(target).writerows([value for position, value in enumerate(row) if position != drop] for row in rows)

    # When the pre-training bias job runs on it
    run = _finish(_start(inputs, "missing-facet", "pre", data, model=False))

    # Then it fails with the reason in the failure file
    assert run.returncode == 1
    assert (
        run.failure.read_text(encoding="utf-8") == "facet 'foreign_worker': column 'foreign_worker' is not in the data"
    )


def test_post_training_without_a_model_is_a_usage_error(inputs: Inputs) -> None:
    run = _finish(_start(inputs, "post-without-model", "post", inputs.test, model=False))

    assert (run.returncode, run.failure.read_text(encoding="utf-8")) == (
        1,
        "bias.py: --stage post needs --model-dir (the model to predict with)",
    )
