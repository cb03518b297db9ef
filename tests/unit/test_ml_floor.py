"""benchmarks/ml_floor.py: each step of the ML floor produces what its pipeline stage produces.

Run on the first 200 rows of German credit (the configuration's minimum). No wall-clock time is
asserted: the benchmark prints those; here only the results of the steps are checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from governed_mlops.config import PipelineConfig
from governed_mlops.domain.bias_names import POST_TRAINING_METRICS, PRE_TRAINING_METRICS
from governed_mlops.reports.images import image_mime
from tests.benchmark_scripts import benchmark_module

REPO_ROOT = Path(__file__).resolve().parents[2]
ML_FLOOR = REPO_ROOT / "benchmarks" / "ml_floor.py"
SAMPLE_ROWS = 200
FACETS = ["sex", "age_25_or_younger", "foreign_worker"]


@pytest.fixture(scope="module")
def ml_floor() -> Iterator[ModuleType]:
    with benchmark_module(ML_FLOOR, "ml_floor_under_test") as module:
        yield module


@pytest.fixture(scope="module")
def sample(german_credit_bytes: bytes, german_credit_config: PipelineConfig, ml_floor: ModuleType) -> Any:
    lines = german_credit_bytes.splitlines(keepends=True)
    return ml_floor.Inputs(
        data=b"".join(lines[: SAMPLE_ROWS + 1]), source="german_credit_sample.csv", config=german_credit_config
    )


@pytest.fixture(scope="module")
def run(ml_floor: ModuleType, sample: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return ml_floor.run_floor(sample, tmp_path_factory.mktemp("ml-floor"))


def _metric_names(report: dict[str, Any], section: str) -> dict[str, list[str]]:
    facets = report[section]["facets"]
    return {facet: [metric["name"] for metric in entries[0]["metrics"]] for facet, entries in facets.items()}


def test_floor_runs_the_pipeline_steps_in_order(run: Any) -> None:
    assert list(run.seconds) == [
        "validation",
        "split",
        "pre_training_bias",
        "pre_training_bias_chart",
        "training",
        "evaluation",
        "shap",
        "shap_chart",
        "post_training_bias",
        "post_training_bias_chart",
    ]


def test_validation_passes_the_sample_and_counts_its_rows(run: Any) -> None:
    report = run.outputs["validation"]

    assert (report.passed, report.rows) == (True, SAMPLE_ROWS)


def test_split_keeps_every_row_and_holds_out_a_quarter(run: Any) -> None:
    parts = run.outputs["split"]

    assert (len(parts.train), len(parts.test)) == (parts.result.train_rows, parts.result.test_rows)
    assert parts.result.train_rows + parts.result.test_rows == SAMPLE_ROWS
    assert parts.result.test_rows == pytest.approx(SAMPLE_ROWS * 0.25, abs=1)


def test_pre_training_bias_reports_every_metric_of_every_facet(run: Any) -> None:
    report = run.outputs["pre_training_bias"]

    assert _metric_names(report, "pre_training_bias_metrics") == {facet: list(PRE_TRAINING_METRICS) for facet in FACETS}


def test_training_fits_a_booster_better_than_chance_on_its_own_data(run: Any) -> None:
    trained = run.outputs["training"]

    assert trained.metrics["rows"] == run.outputs["split"].result.train_rows
    assert trained.metrics["train_auc"] > 0.5


def test_evaluation_scores_every_test_row(run: Any) -> None:
    evaluation = run.outputs["evaluation"]

    assert len(evaluation.predictions) == run.outputs["split"].result.test_rows
    assert 0.0 <= evaluation.statistics["binary_classification_metrics"]["auc"]["value"] <= 1.0


def test_shap_explains_every_train_row_over_the_raw_features(run: Any, sample: Any) -> None:
    document = run.outputs["shap"]
    importance = document["explanations"]["tree_shap"]["label0"]["global_shap_values"]

    assert document["dataset"]["rows"] == run.outputs["split"].result.train_rows
    assert set(importance) == set(sample.config.dataset.features)
    assert image_mime(run.outputs["shap_chart"]) == "image/svg+xml"


def test_post_training_bias_reports_every_metric_of_every_facet(run: Any) -> None:
    report = run.outputs["post_training_bias"]

    assert _metric_names(report, "post_training_bias_metrics") == {
        facet: list(POST_TRAINING_METRICS) for facet in FACETS
    }


def test_bias_charts_are_written_as_svg(run: Any) -> None:
    for step in ("pre_training_bias_chart", "post_training_bias_chart"):
        assert image_mime(run.outputs[step].read_bytes()) == "image/svg+xml"
