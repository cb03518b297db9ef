"""benchmarks/bias_jobs.py: the inputs it lays out are what the bias job accepts, and its timers leave the job as
they found it. No wall-clock time is asserted: the benchmark prints those.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from governed_mlops.config import parse_config
from governed_mlops.domain.bias_names import STAGE_SECTIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = REPO_ROOT / "benchmarks" / "bias_jobs.py"


@pytest.fixture(scope="module")
def benchmark() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bias_jobs_under_test", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def prepared(benchmark: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, object]:
    config_path = benchmark.GERMAN_CREDIT_CONFIG
    config = parse_config(config_path.read_text(encoding="utf-8"), source=config_path.name)
    return benchmark.load_bias_job(), benchmark.prepare(tmp_path_factory.mktemp("bias-jobs"), config)


@pytest.mark.parametrize("stage", ["pre", "post"])
def test_the_job_accepts_the_prepared_inputs_and_writes_its_report(
    prepared: tuple[ModuleType, object], stage: str
) -> None:
    job, inputs = prepared
    arguments = inputs.arguments(stage)

    job.main(arguments)

    output = Path(arguments[arguments.index("--output-dir") + 1])
    report = json.loads((output / "analysis.json").read_text(encoding="utf-8"))
    assert list(report) == ["version", STAGE_SECTIONS[stage]]
    assert (output / f"{stage}_training_bias.svg").is_file()


def test_timing_a_stage_reports_its_parts_and_restores_the_job(
    benchmark: ModuleType, prepared: tuple[ModuleType, object]
) -> None:
    job, inputs = prepared
    originals = (job.bias_report, job.plot_stage)

    figures = benchmark.time_stage(job, inputs, "pre", 2)

    assert (job.bias_report, job.plot_stage) == originals
    assert set(figures) == {"median_s", "min_s", "max_s", "bias_report_median_s", "plot_stage_median_s"}
    assert figures["min_s"] <= figures["median_s"] <= figures["max_s"]
    assert 0 < figures["bias_report_median_s"] + figures["plot_stage_median_s"] <= figures["max_s"]


def test_runs_below_one_are_refused(benchmark: ModuleType) -> None:
    with pytest.raises(SystemExit):
        benchmark.main(["--runs", "0"])
