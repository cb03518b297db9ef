"""SageMaker processing-job entry point: data-quality baseline and drift analysis (Model Monitor's two jobs).

``baseline --dataset-dir DIR --model-dir DIR --output-dir DIR``
    Reads the one CSV in ``--dataset-dir`` (the training data, with a header) and the feature spec
    from ``--model-dir/model.tar.gz``; writes ``statistics.json`` and ``constraints.json`` in Model
    Monitor's shape (the statistics also keep the drift baseline and the feature spec).

``analyze --baseline-dir DIR --capture-dir DIR --output-dir DIR [--psi X] [--ks-p-value X] [--chi2-p-value X]
[--min-rows N] [--completeness-tolerance X] [--min-samples N]``
    Reads ``statistics.json`` (and ``constraints.json`` if present) from ``--baseline-dir`` and every
    Data Capture ``*.jsonl`` file under ``--capture-dir``; writes ``constraint_violations.json``
    (its ``status``, violations plus every per-feature drift number) and the captured data's
    ``statistics.json``. Violations are a result, not a failure: the job succeeds and prints
    ``status=... violations=N``; the pipeline decides what a violation means. Fewer captured rows than
    ``--min-samples`` (pass the model's ``monitoring.min_samples``) give ``status=insufficient_data``: no
    verdict. Completeness is judged per feature against the missing-value policy stored in the feature spec.

``run --model-dir DIR --train-dir DIR --capture-dir DIR --config-dir DIR --output-dir DIR [--labels-dir DIR]``
    One scheduled monitoring run of one endpoint (what ``mlops monitor run`` does in the CLI process;
    :func:`governed_mlops_ml.monitoring.window.analyse_window`): ``monitor_config.json`` from
    ``--config-dir`` names the endpoint config, the previous window's end and the model's pinned
    monitoring settings, bias facets and limits; writes ``constraint_violations.json``, the statistics,
    ``model_quality.json`` and ``bias_drift.json`` (when labels exist) and ``run.json`` (the summary the
    Monitoring Result function acts on). "Nothing new" and "insufficient data" are results, not failures.

On failure the reason goes to stderr and, when SM_OUTPUT_DIR is set, to ``SM_OUTPUT_DIR/failure``;
the exit code is non-zero. Imports only the standard library, the scientific stack and ``governed_mlops_ml``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import (
    FEATURE_SPEC_FILE,
    MODEL_ARCHIVE,
    extract_model_archive,
    find_single_csv,
    load_feature_spec,
    read_dataset,
    read_json,
    write_json,
)
from governed_mlops_ml.monitoring import DriftThresholds, baseline, detect_drift, read_capture, spec_from_statistics
from governed_mlops_ml.monitoring.window import MONITOR_CONFIG_FILE, MonitorJobConfig, analyse_window
from governed_mlops_ml.runner import run_job

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
RUN_FILE = "run.json"


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so a usage error still reaches the failure file."""

    def error(self, message: str) -> NoReturn:
        raise JobInputError(f"monitor.py: {message}")


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The ``baseline`` or ``analyze`` command and its directories and thresholds."""
    parser = _ArgumentParser(description="Model Monitor data-quality baseline and drift analysis.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)
    make = commands.add_parser("baseline", help="statistics.json and constraints.json of the training data")
    for name in ("--dataset-dir", "--model-dir", "--output-dir"):
        make.add_argument(name, type=Path, required=True)
    analyze = commands.add_parser("analyze", help="constraint_violations.json of captured traffic")
    for name in ("--baseline-dir", "--capture-dir", "--output-dir"):
        analyze.add_argument(name, type=Path, required=True)
    defaults = DriftThresholds()
    analyze.add_argument("--psi", type=float, default=defaults.psi)
    analyze.add_argument("--ks-p-value", type=float, default=defaults.ks_p_value)
    analyze.add_argument("--chi2-p-value", type=float, default=defaults.chi2_p_value)
    analyze.add_argument("--min-rows", type=int, default=defaults.min_rows)
    analyze.add_argument("--completeness-tolerance", type=float, default=defaults.completeness_tolerance)
    analyze.add_argument("--min-samples", type=int, default=defaults.min_samples)
    run = commands.add_parser("run", help="one monitoring window: drift, model quality, bias drift, run.json")
    for name in ("--model-dir", "--train-dir", "--capture-dir", "--config-dir", "--output-dir"):
        run.add_argument(name, type=Path, required=True)
    run.add_argument("--labels-dir", type=Path, default=None)
    return parser.parse_args(list(argv))


def make_baseline(dataset_dir: Path, model_dir: Path, output_dir: Path) -> None:
    """Write the baseline statistics and constraints of the training CSV for the model's features."""
    with tempfile.TemporaryDirectory(prefix="model-") as extracted:
        spec = load_feature_spec(
            extract_model_archive(model_dir / MODEL_ARCHIVE, Path(extracted), files={FEATURE_SPEC_FILE})
        )
    frame = read_dataset(find_single_csv(dataset_dir))
    statistics, constraints = baseline(frame, spec)
    write_json(output_dir / STATISTICS_FILE, statistics)
    write_json(output_dir / CONSTRAINTS_FILE, constraints)
    print(f"baseline rows={len(frame)} features={len(spec.raw_features)}")


def analyze(arguments: argparse.Namespace) -> None:
    """Compare the captured requests with the baseline and write the violations report."""
    statistics = read_json(arguments.baseline_dir / STATISTICS_FILE)
    constraints_path = arguments.baseline_dir / CONSTRAINTS_FILE
    constraints = read_json(constraints_path) if constraints_path.exists() else None
    spec = spec_from_statistics(statistics)
    files = sorted(arguments.capture_dir.rglob("*.jsonl"))
    captured = read_capture(files, spec)
    if captured.empty:
        raise JobInputError(f"no captured requests in {len(files)} capture files under {arguments.capture_dir}")
    thresholds = DriftThresholds(
        psi=arguments.psi,
        ks_p_value=arguments.ks_p_value,
        chi2_p_value=arguments.chi2_p_value,
        min_rows=arguments.min_rows,
        completeness_tolerance=arguments.completeness_tolerance,
        min_samples=arguments.min_samples,
    )
    report = detect_drift(statistics, captured, thresholds, constraints)
    report["drift_metrics"]["capture"] = {
        "files": len(files),
        "records": captured.attrs.get("records", 0),
        "skipped_records": captured.attrs.get("skipped_records", 0),
    }
    current, _ = baseline(captured, spec)
    write_json(arguments.output_dir / VIOLATIONS_FILE, report)
    write_json(arguments.output_dir / STATISTICS_FILE, current)
    drifted = report["drift_metrics"]["drifted_features"]
    print(
        f"status={report['status']} rows={len(captured)} violations={len(report['violations'])} "
        f"drifted={','.join(drifted) or '-'}"
    )


def _single_archive(model_dir: Path) -> Path:
    """The one ``*.tar.gz`` in the model channel (the serving model's archive, whatever its key is called)."""
    archives = sorted(model_dir.rglob("*.tar.gz"))
    if len(archives) != 1:
        raise JobInputError(f"expected exactly one model archive (*.tar.gz) under {model_dir}, found {len(archives)}")
    return archives[0]


def run_window(arguments: argparse.Namespace) -> None:
    """One monitoring window of one endpoint; every report under ``--output-dir``."""
    config = MonitorJobConfig.from_json(read_json(arguments.config_dir / MONITOR_CONFIG_FILE))
    label_files: dict[str, bytes] = {}
    if arguments.labels_dir is not None:
        base = config.labels_uri if config.labels_uri.endswith("/") else config.labels_uri + "/"
        for path in sorted(arguments.labels_dir.rglob("*.csv")):
            label_files[base + path.relative_to(arguments.labels_dir).as_posix()] = path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="monitor-") as scratch:
        analysis = analyse_window(
            config,
            model_archive=_single_archive(arguments.model_dir),
            train_csv=find_single_csv(arguments.train_dir),
            capture_files=sorted(arguments.capture_dir.rglob("*.jsonl")),
            label_files=label_files,
            work=Path(scratch),
        )
    for name, document in analysis.documents.items():
        write_json(arguments.output_dir / name, document)
    write_json(arguments.output_dir / RUN_FILE, analysis.summary)
    summary = analysis.summary
    print(
        f"status={summary['status']} records={summary['records']} violations={len(summary['violations'])} "
        f"quality={(summary['model_quality'] or {}).get('status', '-')} "
        f"bias={(summary['bias_drift'] or {}).get('status', '-')}"
    )


def main(argv: Sequence[str]) -> None:
    arguments = parse_arguments(argv)
    if arguments.command == "baseline":
        make_baseline(arguments.dataset_dir, arguments.model_dir, arguments.output_dir)
    elif arguments.command == "run":
        run_window(arguments)
    else:
        analyze(arguments)


if __name__ == "__main__":
    sys.exit(run_job(lambda: main(sys.argv[1:]), os.environ.get("SM_OUTPUT_DIR")))
