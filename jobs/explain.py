"""SageMaker processing-job entry point: explain a trained model with exact TreeSHAP.

Arguments: ``--model-dir`` (holds the training job's ``model.tar.gz``), ``--data-dir`` (one CSV: the
rows to explain, normally the training split, as Clarify explains its baseline dataset; the target
column is not needed), ``--config-dir`` (``job_config.json``, for the decision threshold) and
``--output-dir``. Writes into the output directory:

- ``explainability.json``: in the shape of SageMaker Clarify's ``analysis.json`` explanations section,
  under ``tree_shap`` instead of ``kernel_shap``: global mean |SHAP| per original column (log-odds),
  the expected value, how it was computed, and the reason codes of the first denied rows,
- ``shap_summary.svg``: a bar chart of the global importances.

On failure the reason goes to stderr and, when SM_OUTPUT_DIR is set, to ``SM_OUTPUT_DIR/failure``;
the exit code is non-zero. Imports only the standard library, the scientific stack and
``governed_mlops_ml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from governed_mlops_ml.artifacts import (
    find_single_csv,
    load_job_config,
    read_dataset,
    write_json,
)
from governed_mlops_ml.explain import (
    explain_rows,
    global_importance,
    humanise_feature_name,
    reason_codes,
)
from governed_mlops_ml.explain_plots import DEFAULT_TOP_N, SUMMARY_PLOT_FILE, importance_bar_svg
from governed_mlops_ml.features import FeatureSpec
from governed_mlops_ml.job_config import DecisionLabels
from governed_mlops_ml.model import load_model_archive, predict_scores
from governed_mlops_ml.runner import JobArgumentParser, run_job

EXPLAINABILITY_FILE = "explainability.json"
REASON_CODE_EXAMPLES = 3
REASONS_PER_DECISION = 4
EXPLAINABILITY_FORMAT_VERSION = "1.0"


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The four directory arguments of the processing job."""
    parser = JobArgumentParser(prog="explain.py", description="Explain a trained model with TreeSHAP.")
    for name in ("--model-dir", "--data-dir", "--config-dir", "--output-dir"):
        parser.add_argument(name, type=Path, required=True)
    return parser.parse_args(list(argv))


def explainability_document(
    booster: xgb.Booster,
    spec: FeatureSpec,
    frame: pd.DataFrame,
    *,
    threshold: float,
    source: str,
    decisions: DecisionLabels | None = None,
) -> dict[str, Any]:
    """The ``explainability.json`` document for the rows of ``frame``."""
    table = explain_rows(booster, spec, frame)
    importance = global_importance(table)
    return {
        "version": EXPLAINABILITY_FORMAT_VERSION,
        "explanations": {
            "tree_shap": {
                "label0": {
                    "global_shap_values": dict(importance),
                    "expected_value": table.base_value,
                }
            }
        },
        "method": {
            "algorithm": "TreeSHAP (exact, path-dependent)",
            "implementation": f"xgboost {xgb.__version__} Booster.predict(pred_contribs=True)",
            "output": f"log-odds of P({spec.target} == {spec.positive_label!r})",
            "aggregation": "one-hot columns of a categorical feature summed into the feature",
            "global_statistic": "mean absolute SHAP value per feature",
        },
        "dataset": {"file": source, "rows": table.rows},
        "target": spec.target,
        "positive_label": spec.positive_label,
        "negative_label": spec.negative_label,
        "decision_threshold": threshold,
        "feature_labels": {name: humanise_feature_name(name) for name in spec.raw_features},
        "reason_code_examples": _reason_code_examples(booster, spec, frame, threshold, decisions),
    }


def _reason_code_examples(
    booster: xgb.Booster, spec: FeatureSpec, frame: pd.DataFrame, threshold: float, decisions: DecisionLabels | None
) -> list[dict[str, Any]]:
    """Reason codes of the first denied rows of ``frame`` (at most :data:`REASON_CODE_EXAMPLES`)."""
    denied = np.flatnonzero(predict_scores(booster, spec, frame) < threshold)[:REASON_CODE_EXAMPLES]
    examples: list[dict[str, Any]] = []
    for index in (int(position) for position in denied):
        row = {name: frame[name].iloc[index] for name in spec.raw_features}
        decision = reason_codes(booster, spec, row, threshold, top_k=REASONS_PER_DECISION, decisions=decisions)
        examples.append(
            {
                "row_index": index,
                "score": decision.score,
                "decision": decision.decision,
                "favourable": decision.favourable,
                "margin": decision.margin,
                "base_value": decision.base_value,
                "reasons": [dataclasses.asdict(reason) for reason in decision.reasons],
            }
        )
    return examples


def main(argv: Sequence[str]) -> None:
    """Explain the model archive in ``--model-dir`` on the CSV in ``--data-dir``."""
    started = time.perf_counter()
    arguments = parse_arguments(argv)
    config = load_job_config(arguments.config_dir)
    data_csv = find_single_csv(arguments.data_dir)
    with tempfile.TemporaryDirectory(prefix="model-") as extracted:
        spec, booster = load_model_archive(
            arguments.model_dir, Path(extracted), target=config.target, positive_label=config.positive_label
        )
    frame = read_dataset(data_csv)
    document = explainability_document(
        booster, spec, frame, threshold=config.decision_threshold, source=data_csv.name, decisions=config.decisions
    )
    label = document["explanations"]["tree_shap"]["label0"]
    importance = list(label["global_shap_values"].items())
    rows = document["dataset"]["rows"]
    chart = importance_bar_svg(
        importance,
        title=f"Global feature importance: top {min(DEFAULT_TOP_N, len(importance))} (TreeSHAP, {rows} rows)",
    )

    output_dir: Path = arguments.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / EXPLAINABILITY_FILE, document)
    (output_dir / SUMMARY_PLOT_FILE).write_bytes(chart)
    top = ", ".join(f"{name}={value:.4f}" for name, value in importance[:5])
    print(f"explained_rows={rows} expected_value={label['expected_value']:.6f}")
    print(f"top_features={top}")
    print(f"reason_code_examples={len(document['reason_code_examples'])}")
    print(f"explain_seconds={time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    sys.exit(run_job(lambda: main(sys.argv[1:]), os.environ.get("SM_OUTPUT_DIR")))
