"""Benchmark: the floor — the pipeline's ML computations on German credit in one plain Python process.

No local runtime, no moto, no job subprocesses, no model archive: the project's own functions, called
in the order the pipeline calls them, on the data the pipeline gives each stage:

- load: read the CSV and parse the pipeline configuration;
- validation: ``validate_dataset`` (Validate Data), failing like the stage on a bad dataset;
- split: ``split_dataset`` (Prepare Data) and parsing both files as the jobs read them;
- pre_training_bias (+ its chart): ``bias_report`` on the train split, as Check Data Bias;
- training: ``train_model`` on the train split, as Train Model;
- evaluation: ``evaluate_model`` on the test split, as Evaluate Model;
- shap (+ its chart): ``explainability_document`` of ``jobs/explain.py`` on the train split, as Explain Model;
- post_training_bias (+ its chart): predictions and ``bias_report`` on the test split, as Check Model Bias.

Gate checks, registration and deployment are left out: they are bookkeeping, not ML computation.

Prints the wall time of each step and the total, and ``imports_s`` (from this script's first line to
the end of its imports: numpy, pandas, xgboost, the project) and ``compute_s`` (the
first, cold run of the steps in this fresh process). ``--warm-runs N`` repeats the steps N more times
in the same process and reports their median (``warm_compute_s``), the figure to set against a warm
pipeline. ``--json`` writes ``benchmarks/results/ml_floor.json``.

Usage: .venv/bin/python benchmarks/ml_floor.py [--warm-runs N] [--json]
"""

# ruff: noqa: E402 - the clock starts before the imports, so that a fresh process can report their cost.
from __future__ import annotations

import time

_SCRIPT_STARTED = time.perf_counter()

import argparse
import hashlib
import importlib.util
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.hyperparameters import parse_hyperparameters
from governed_mlops.domain.split import SplitResult, split_dataset
from governed_mlops.domain.validation import raise_for_report, validate_dataset
from governed_mlops.models import ObjectDigest, S3Ref, ValidationReport
from governed_mlops_ml.artifacts import read_dataset
from governed_mlops_ml.bias import BiasJobConfig, bias_report, parse_bias_config
from governed_mlops_ml.bias_plots import plot_stage
from governed_mlops_ml.evaluation import Evaluation, evaluate_model
from governed_mlops_ml.explain_plots import DEFAULT_TOP_N, importance_bar_svg
from governed_mlops_ml.features import FeatureSpec, encode_frame
from governed_mlops_ml.job_config import JobConfig
from governed_mlops_ml.model import score_matrix
from governed_mlops_ml.training import TrainedModel, train_model

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "benchmarks" / "results"
GERMAN_CREDIT_CSV = PROJECT / "data" / "german_credit" / "german_credit.csv"
GERMAN_CREDIT_CONFIG = PROJECT / "models" / "credit-risk" / "config.yaml"


def _load_job(name: str) -> ModuleType:
    """A job script of ``jobs/`` as a module, so the floor calls the very functions the job calls."""
    spec = importlib.util.spec_from_file_location(f"ml_floor_job_{name}", PROJECT / "jobs" / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load jobs/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_EXPLAIN_JOB = _load_job("explain")
IMPORTS_S = time.perf_counter() - _SCRIPT_STARTED

T = TypeVar("T")


@dataclass(frozen=True)
class Inputs:
    """The raw dataset and the parsed pipeline configuration."""

    data: bytes
    source: str
    config: PipelineConfig


@dataclass(frozen=True)
class Split:
    """The split files and the frames the jobs read from them."""

    result: SplitResult
    train: pd.DataFrame
    test: pd.DataFrame


@dataclass
class FloorRun:
    """Seconds per step, in pipeline order, and what each step produced."""

    seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def timed(self, step: str, compute: Callable[[], T]) -> T:
        begin = time.perf_counter()
        output = compute()
        self.seconds[step] = time.perf_counter() - begin
        self.outputs[step] = output
        return output

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


def load_inputs(data_path: Path = GERMAN_CREDIT_CSV, config_path: Path = GERMAN_CREDIT_CONFIG) -> Inputs:
    """Read the dataset's bytes and parse the pipeline configuration."""
    config = parse_config(config_path.read_text(encoding="utf-8"), source=config_path.name)
    return Inputs(data=data_path.read_bytes(), source=data_path.name, config=config)


def validate(inputs: Inputs) -> ValidationReport:
    """Validate Data: the report, or DataValidationError listing every problem."""
    ref = S3Ref(bucket="ml-floor", key=f"datasets/{inputs.source}")
    digest = ObjectDigest(ref=ref, sha256=hashlib.sha256(inputs.data).hexdigest(), size=len(inputs.data))
    report = validate_dataset(inputs.data, inputs.config, digest)
    raise_for_report(report)
    return report


def split(inputs: Inputs, workdir: Path) -> Split:
    """Prepare Data's split, then both files parsed as the jobs parse their input CSV."""
    result = split_dataset(inputs.data, inputs.config)
    frames = []
    for name, content in (("train", result.train_csv), ("test", result.test_csv)):
        path = workdir / f"{name}.csv"
        path.write_bytes(content)
        frames.append(read_dataset(path))
    return Split(result=result, train=frames[0], test=frames[1])


def job_config(config: PipelineConfig) -> JobConfig:
    """What Prepare Data writes as ``job_config.json``."""
    dataset = config.dataset
    return JobConfig(
        target=dataset.target,
        positive_label=dataset.positive_label,
        numeric_features=tuple(dataset.numeric_features),
        categorical_features=tuple(dataset.categorical_features),
        seed=config.training.seed,
        decision_threshold=config.gates.decision_threshold,
    )


def bias_job_config(config: PipelineConfig) -> BiasJobConfig:
    """What Prepare Data writes as ``bias_config.json``, parsed as the bias job parses it."""
    if config.bias is None:
        raise ValueError("the configuration has no bias section")
    dataset = config.dataset
    document = config.bias.job_document(
        label=dataset.target, positive_label=dataset.positive_label, decision_threshold=config.gates.decision_threshold
    )
    return parse_bias_config(document)


def pre_training_bias(train: pd.DataFrame, config: BiasJobConfig) -> dict[str, Any]:
    """Check Data Bias: Clarify's pre-training metrics of the train split."""
    return bias_report(train, config, stage="pre")


def train(frame: pd.DataFrame, config: PipelineConfig) -> TrainedModel:
    """Train Model: the feature spec and the booster, with the configured hyperparameters."""
    hyperparameters = parse_hyperparameters(config.training.hyperparameters)
    return train_model(frame, job_config(config), hyperparameters)


def evaluate(trained: TrainedModel, test: pd.DataFrame, config: PipelineConfig) -> Evaluation:
    """Evaluate Model: quality statistics of the test split at the decision threshold."""
    return evaluate_model(trained.booster, trained.spec, test, config.gates.decision_threshold)


def explain(trained: TrainedModel, train_frame: pd.DataFrame, config: PipelineConfig, source: str) -> dict[str, Any]:
    """Explain Model: the ``explainability.json`` document of the train split (TreeSHAP, reason codes)."""
    document: dict[str, Any] = _EXPLAIN_JOB.explainability_document(
        trained.booster, trained.spec, train_frame, threshold=config.gates.decision_threshold, source=source
    )
    return document


def shap_chart(document: dict[str, Any]) -> bytes:
    """Explain Model's ``shap_summary.svg``."""
    importance = list(document["explanations"]["tree_shap"]["label0"]["global_shap_values"].items())
    rows = document["dataset"]["rows"]
    return importance_bar_svg(
        importance,
        title=f"Global feature importance: top {min(DEFAULT_TOP_N, len(importance))} (TreeSHAP, {rows} rows)",
    )


def post_training_bias(trained: TrainedModel, test: pd.DataFrame, config: BiasJobConfig) -> dict[str, Any]:
    """Check Model Bias: the model's predicted labels on the test split and Clarify's post-training metrics."""
    if config.decision_threshold is None:
        raise ValueError("post-training bias needs a decision threshold")
    features = encode_frame(test, trained.spec)
    predicted = (score_matrix(trained.booster, features) >= config.decision_threshold).astype(np.int64)
    return bias_report(
        test, config, stage="post", predicted=predicted, features=features, feature_sources=_sources(trained.spec)
    )


def _sources(spec: FeatureSpec) -> list[str]:
    """The raw column of each encoded column (numeric, then one-hot), as ``jobs/bias.py`` builds it."""
    one_hot = [feature.name for feature in spec.categorical_features for _ in feature.categories]
    return [*spec.numeric_features, *one_hot]


def run_floor(inputs: Inputs, workdir: Path) -> FloorRun:
    """Every step once, in pipeline order; charts are written into ``workdir``."""
    run = FloorRun()
    run.timed("validation", lambda: validate(inputs))
    parts = run.timed("split", lambda: split(inputs, workdir))
    bias_config = bias_job_config(inputs.config)
    pre = run.timed("pre_training_bias", lambda: pre_training_bias(parts.train, bias_config))
    run.timed("pre_training_bias_chart", lambda: plot_stage(pre, "pre", workdir / "pre_training_bias.svg"))
    trained = run.timed("training", lambda: train(parts.train, inputs.config))
    run.timed("evaluation", lambda: evaluate(trained, parts.test, inputs.config))
    document = run.timed("shap", lambda: explain(trained, parts.train, inputs.config, "train.csv"))
    run.timed("shap_chart", lambda: shap_chart(document))
    post = run.timed("post_training_bias", lambda: post_training_bias(trained, parts.test, bias_config))
    run.timed("post_training_bias_chart", lambda: plot_stage(post, "post", workdir / "post_training_bias.svg"))
    return run


def measure(warm_runs: int) -> dict[str, Any]:
    """Load, one cold run and ``warm_runs`` warm runs; the figures as a JSON-able dict."""
    begin = time.perf_counter()
    inputs = load_inputs()
    load_s = time.perf_counter() - begin
    with tempfile.TemporaryDirectory(prefix="ml-floor-") as tmp:
        first = run_floor(inputs, Path(tmp))
        warm = [run_floor(inputs, Path(tmp)) for _ in range(warm_runs)]
    figures: dict[str, Any] = {
        "dataset": inputs.source,
        "rows": first.outputs["validation"].rows,
        "imports_s": round(IMPORTS_S, 3),
        "load_s": round(load_s, 3),
        "compute_s": round(first.total_s, 3),
        "steps_s": {step: round(seconds, 3) for step, seconds in first.seconds.items()},
        "warm_runs": warm_runs,
    }
    if warm:
        figures["warm_compute_s"] = round(statistics.median(run.total_s for run in warm), 3)
        figures["warm_steps_s"] = {
            step: round(statistics.median(run.seconds[step] for run in warm), 3) for step in first.seconds
        }
    return figures


def report(figures: dict[str, Any]) -> None:
    """Print the figures of :func:`measure`."""
    print(f"ML floor on {figures['dataset']} ({figures['rows']} rows), one plain process")
    warm = figures.get("warm_steps_s", {})
    for step, seconds in figures["steps_s"].items():
        print(f"  {step:<26} {seconds:7.3f} s" + (f"   warm {warm[step]:7.3f} s" if warm else ""))
    print(
        f"imports_s {figures['imports_s']:.3f}  load_s {figures['load_s']:.3f}  compute_s {figures['compute_s']:.3f} "
        f"(fresh process, first run)"
    )
    if warm:
        print(f"warm_compute_s {figures['warm_compute_s']:.3f} (median of {figures['warm_runs']} warm runs)")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm-runs", type=int, default=3, help="warm repetitions after the first run")
    parser.add_argument("--json", action="store_true", help="write benchmarks/results/ml_floor.json")
    parser.add_argument("--json-line", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    figures = measure(args.warm_runs)
    if args.json_line:
        # For benchmarks/e2e_local.py, which spawns this script as its fresh-process floor.
        print(json.dumps(figures))
        return
    report(figures)
    if args.json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "ml_floor.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"written to {RESULTS / 'ml_floor.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
