"""Benchmark: the two bias jobs (``jobs/bias.py``) on German credit, whole job function, warm process.

Sets up what the pipeline gives the jobs (Prepare Data's split, ``bias_config.json`` of
``models/credit-risk``, the model archive of ``jobs/train.py``'s code path), then calls the job's
``main`` for ``--stage pre`` on the train split (Check Data Bias) and ``--stage post`` on the test
split (Check Model Bias), ``--runs`` times each after one warm-up call, and prints the median and
range of each, with the part of the job spent in ``bias_report`` (the metrics) and ``plot_stage``
(the chart). ``--profile`` adds a cProfile listing of one call of each job, sorted by cumulative time.

Usage: .venv/bin/python benchmarks/bias_jobs.py [--runs N] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.hyperparameters import parse_hyperparameters
from governed_mlops.domain.split import split_dataset
from governed_mlops_ml.artifacts import read_dataset, save_feature_spec, write_model_archive
from governed_mlops_ml.job_config import JobConfig
from governed_mlops_ml.model import save_booster
from governed_mlops_ml.training import train_model

PROJECT = Path(__file__).resolve().parents[1]
GERMAN_CREDIT_CSV = PROJECT / "data" / "german_credit" / "german_credit.csv"
GERMAN_CREDIT_CONFIG = PROJECT / "models" / "credit-risk" / "config.yaml"
STAGES = ("pre", "post")


@dataclass(frozen=True)
class JobInputs:
    """Directories laid out as the pipeline hands them to the bias job."""

    train: Path
    test: Path
    config: Path
    model: Path
    root: Path

    def arguments(self, stage: str) -> list[str]:
        """``main``'s argv for one stage; each call writes into its own output directory."""
        data = self.train if stage == "pre" else self.test
        output = Path(tempfile.mkdtemp(prefix=f"{stage}-", dir=self.root))
        model = ["--model-dir", str(self.model)] if stage == "post" else []
        return [
            "--data-dir",
            str(data),
            "--config-dir",
            str(self.config),
            "--stage",
            stage,
            "--output-dir",
            str(output),
            *model,
        ]


def load_bias_job() -> ModuleType:
    """``jobs/bias.py`` as a module, so the benchmark calls the very ``main`` the job runs."""
    spec = importlib.util.spec_from_file_location("bench_bias_job", PROJECT / "jobs" / "bias.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot load jobs/bias.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _directory(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare(root: Path, config: PipelineConfig) -> JobInputs:
    """The split files, ``bias_config.json`` and ``model.tar.gz`` under ``root``."""
    dataset, gates = config.dataset, config.gates
    if config.bias is None:
        raise ValueError(f"{GERMAN_CREDIT_CONFIG} has no bias section")
    split = split_dataset(GERMAN_CREDIT_CSV.read_bytes(), config)
    train, test = _directory(root / "train"), _directory(root / "test")
    (train / "train.csv").write_bytes(split.train_csv)
    (test / "test.csv").write_bytes(split.test_csv)
    bias_dir = _directory(root / "bias-config")
    document = config.bias.job_document(
        label=dataset.target, positive_label=dataset.positive_label, decision_threshold=gates.decision_threshold
    )
    (bias_dir / "bias_config.json").write_text(json.dumps(document), encoding="utf-8")
    job_config = JobConfig(
        target=dataset.target,
        positive_label=dataset.positive_label,
        numeric_features=tuple(dataset.numeric_features),
        categorical_features=tuple(dataset.categorical_features),
        seed=config.training.seed,
        decision_threshold=gates.decision_threshold,
    )
    trained = train_model(
        read_dataset(train / "train.csv"), job_config, parse_hyperparameters(config.training.hyperparameters)
    )
    model_dir = _directory(root / "model")
    save_booster(trained.booster, model_dir)
    save_feature_spec(trained.spec, model_dir)
    archive = write_model_archive(model_dir, root / "model-artifact" / "model.tar.gz")
    return JobInputs(train=train, test=test, config=bias_dir, model=archive.parent, root=root)


class _PartTimer:
    """Wraps a function of the job module and adds up the seconds spent in it."""

    def __init__(self, module: ModuleType, name: str) -> None:
        self.seconds = 0.0
        self._inner: Callable[..., Any] = getattr(module, name)
        setattr(module, name, self)

    def restore(self, module: ModuleType, name: str) -> None:
        """Put the wrapped function back."""
        setattr(module, name, self._inner)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        begin = time.perf_counter()
        try:
            return self._inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - begin


def time_stage(job: ModuleType, inputs: JobInputs, stage: str, runs: int) -> dict[str, Any]:
    """One warm-up call, then ``runs`` timed calls of ``main``; median and range, and the metric/chart parts."""
    with contextlib.redirect_stdout(io.StringIO()):
        job.main(inputs.arguments(stage))
    totals, metrics, charts = [], [], []
    report, chart = _PartTimer(job, "bias_report"), _PartTimer(job, "plot_stage")
    try:
        for _ in range(runs):
            report.seconds = chart.seconds = 0.0
            arguments = inputs.arguments(stage)
            begin = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                job.main(arguments)
            totals.append(time.perf_counter() - begin)
            metrics.append(report.seconds)
            charts.append(chart.seconds)
    finally:
        report.restore(job, "bias_report")
        chart.restore(job, "plot_stage")
    return {
        "median_s": round(statistics.median(totals), 4),
        "min_s": round(min(totals), 4),
        "max_s": round(max(totals), 4),
        "bias_report_median_s": round(statistics.median(metrics), 4),
        "plot_stage_median_s": round(statistics.median(charts), 4),
    }


def profile_stage(job: ModuleType, inputs: JobInputs, stage: str, top: int = 25) -> str:
    """cProfile of one call of ``main``: the ``top`` entries by cumulative time."""
    arguments = inputs.arguments(stage)
    profiler = cProfile.Profile()
    with contextlib.redirect_stdout(io.StringIO()):
        profiler.runcall(job.main, arguments)
    listing = io.StringIO()
    pstats.Stats(profiler, stream=listing).sort_stats("cumulative").print_stats(top)
    return listing.getvalue()


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bias-jobs-") as tmp:
        yield Path(tmp)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed calls of each job after one warm-up call")
    parser.add_argument("--profile", action="store_true", help="print a cProfile listing of one call of each job")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    config = parse_config(GERMAN_CREDIT_CONFIG.read_text(encoding="utf-8"), source=GERMAN_CREDIT_CONFIG.name)
    job = load_bias_job()
    with _workdir() as root:
        inputs = prepare(root, config)
        for stage in STAGES:
            figures = time_stage(job, inputs, stage, args.runs)
            print(
                f"bias job --stage {stage:<4}  median {figures['median_s']:.3f} s "
                f"(min {figures['min_s']:.3f}, max {figures['max_s']:.3f}; {args.runs} runs)  "
                f"metrics {figures['bias_report_median_s']:.3f} s  chart {figures['plot_stage_median_s']:.3f} s"
            )
        if args.profile:
            for stage in STAGES:
                print(f"\n== cProfile: bias job --stage {stage} ==")
                print(profile_stage(job, inputs, stage))


if __name__ == "__main__":
    main(sys.argv[1:])
