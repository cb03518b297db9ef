"""SageMaker processing-job entry point: SageMaker Clarify bias metrics of a labelled dataset.

Arguments: ``--data-dir`` (one CSV with the label and facet columns), ``--config-dir``
(``bias_config.json``), ``--stage pre|post``, ``--output-dir`` and, for ``post`` only,
``--model-dir`` (holds the training job's ``model.tar.gz``). Writes into the output directory:

- ``analysis.json``: the stage's metrics per facet in Clarify's ``analysis.json`` shape, each with
  its configured limit (limits are reported, not enforced: the bias gate decides),
- ``<stage>_training_bias.svg``: a chart of those metrics against their limits.

Post-training metrics use the model's predicted label: score >= ``decision_threshold`` of
``bias_config.json``. On failure the reason goes to stderr and, when SM_OUTPUT_DIR is set, to
``SM_OUTPUT_DIR/failure``; the exit code is non-zero. Imports only the standard library, the
scientific stack and ``governed_mlops_ml``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from governed_mlops.domain.bias_names import STAGE_SECTIONS
from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import (
    MODEL_ARCHIVE,
    extract_model_archive,
    find_single_csv,
    load_feature_spec,
    read_dataset,
    read_json,
    write_json,
)
from governed_mlops_ml.bias import BIAS_CONFIG_FILE, BiasJobConfig, bias_report, parse_bias_config
from governed_mlops_ml.bias_plots import chart_file, plot_stage
from governed_mlops_ml.features import FeatureSpec, encode_frame
from governed_mlops_ml.runner import JobArgumentParser, run_job

ANALYSIS_FILE = "analysis.json"


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The directory arguments and the stage of the processing job."""
    parser = JobArgumentParser(
        prog="bias.py", description="Compute SageMaker Clarify bias metrics of a dataset (and a model)."
    )
    for name in ("--data-dir", "--config-dir", "--output-dir"):
        parser.add_argument(name, type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--stage", choices=sorted(STAGE_SECTIONS), required=True)
    arguments = parser.parse_args(list(argv))
    if arguments.stage == "post" and arguments.model_dir is None:
        raise JobInputError("bias.py: --stage post needs --model-dir (the model to predict with)")
    if arguments.stage == "pre" and arguments.model_dir is not None:
        raise JobInputError("bias.py: --model-dir is only used with --stage post")
    return arguments


def main(argv: Sequence[str]) -> None:
    """Write the bias report and chart of ``--stage`` for the CSV in ``--data-dir``."""
    started = time.perf_counter()
    arguments = parse_arguments(argv)
    config = parse_bias_config(read_json(arguments.config_dir / BIAS_CONFIG_FILE))
    frame = read_dataset(find_single_csv(arguments.data_dir))
    options: dict[str, Any] = {}
    if arguments.stage == "post":
        options = _model_inputs(arguments.model_dir, config, frame)
    report = bias_report(frame, config, stage=arguments.stage, **options)

    output_dir: Path = arguments.output_dir
    write_json(output_dir / ANALYSIS_FILE, report)
    plot_stage(report, arguments.stage, output_dir / chart_file(arguments.stage))
    for facet, entries in report[STAGE_SECTIONS[arguments.stage]]["facets"].items():
        for entry in entries:
            values = " ".join(f"{metric['name']}={_format(metric['value'])}" for metric in entry["metrics"])
            print(f"facet={facet} d={entry['value_or_threshold']} {values}")
    print(f"stage={arguments.stage} rows={len(frame)} bias_seconds={time.perf_counter() - started:.3f}")


def _model_inputs(model_dir: Path, config: BiasJobConfig, frame: pd.DataFrame) -> dict[str, Any]:
    """Predicted labels, the model's input matrix and each matrix column's raw source column."""
    # Imported here: xgboost takes seconds to import and the pre-training stage never needs it.
    from governed_mlops_ml.model import SCORING_FILES, load_booster, score_matrix  # noqa: PLC0415 - xgboost takes seconds to import and the pre-training stage never needs it

    if config.decision_threshold is None:
        raise JobInputError(f"{BIAS_CONFIG_FILE}: 'decision_threshold' is required for post-training metrics")
    with tempfile.TemporaryDirectory(prefix="model-") as extracted:
        unpacked = extract_model_archive(model_dir / MODEL_ARCHIVE, Path(extracted), files=SCORING_FILES)
        spec = load_feature_spec(unpacked)
        booster = load_booster(unpacked)
    if spec.target != config.label or spec.positive_label != config.positive_label:
        raise JobInputError(
            f"model predicts {spec.target}=={spec.positive_label!r} but {BIAS_CONFIG_FILE} asks about "
            f"{config.label}=={config.positive_label!r}"
        )
    features = encode_frame(frame, spec)
    scores = score_matrix(booster, features)
    predicted: npt.NDArray[np.int64] = (scores >= config.decision_threshold).astype(np.int64)
    return {"predicted": predicted, "features": features, "feature_sources": _feature_sources(spec)}


def _feature_sources(spec: FeatureSpec) -> list[str]:
    one_hot = [feature.name for feature in spec.categorical_features for _ in feature.categories]
    return [*spec.numeric_features, *one_hot]


def _format(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.6f}"


if __name__ == "__main__":
    sys.exit(run_job(lambda: main(sys.argv[1:]), os.environ.get("SM_OUTPUT_DIR")))
