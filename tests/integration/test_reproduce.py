"""`mlops reproduce` end to end: a model registered by the local pipeline, retrained from its lineage.

One pipeline run per module builds the registered model; every test works on its own copy of that
data directory, so a tampered blob never leaks into another test.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from governed_mlops.adapters.audit_ledger import LocalAuditLedger, load_or_create_key
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.models import ModelVersion, S3Ref
from governed_mlops_local.cli import main
from governed_mlops_local.runtime import LOCAL_IMAGES, LOCAL_PARAMETERS, STACK_NAME, LocalRuntime
from governed_mlops_local.sagemaker import SageMakerEmulator
from governed_mlops_local.services.reproduce import JobTemplates, ReproductionReport, reproduce
from governed_mlops_local.template import LocalTemplate, load_template
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR, auto_approver

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]
MODEL_VERSION = "credit-risk/1"


@pytest.fixture(scope="module")
def registered_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory in which the pipeline registered credit-risk/1 (never modified by a test)."""
    data_dir = tmp_path_factory.mktemp("reproduce") / "pipeline"
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        _, deliveries = runtime.upload(GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv")
        assert [d.error for d in deliveries] == [None]
        (result,) = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], on_tick=auto_approver(runtime))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    return data_dir


@pytest.fixture
def data_dir(registered_dir: Path, tmp_path: Path) -> Path:
    """This test's own copy of the registered state (job directories, logs and sockets left out)."""
    copy = tmp_path / "mlops-data"
    shutil.copytree(registered_dir, copy, ignore=shutil.ignore_patterns("run", "logs", "sagemaker", "*.sock"))
    return copy


@pytest.fixture(scope="module")
def template() -> LocalTemplate:
    return load_template(
        PROJECT_DIR / "template.yaml",
        stack_name=STACK_NAME,
        parameter_overrides={**LOCAL_IMAGES, **LOCAL_PARAMETERS},
    )


def _record(data_dir: Path) -> ModelVersion:
    return LocalModelRegistry(data_dir).get(MODEL_VERSION)


def _reproduce(data_dir: Path, template: LocalTemplate, record: ModelVersion | None = None) -> ReproductionReport:
    store = LocalObjectStore(data_dir)
    return reproduce(
        record or _record(data_dir),
        store=store,
        sagemaker=SageMakerEmulator(data_dir, store),
        artifacts_bucket=template.buckets["ArtifactsBucket"].name,
        templates=JobTemplates.from_definition(template.state_machines["TrainingPipeline"].definition),
        now=datetime.now(UTC),
        ledger=LocalAuditLedger(data_dir, load_or_create_key(data_dir)),
        actor="erin.engineer",
    )


def _flip_one_byte(data_dir: Path, sha256: str) -> None:
    blob = LocalObjectStore(data_dir).blob_path(sha256)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))


def _training_jobs(data_dir: Path) -> list[str]:
    jobs = data_dir / "sagemaker" / "training-jobs"
    return sorted(p.name for p in jobs.iterdir()) if jobs.is_dir() else []


@pytest.fixture(scope="module")
def reproduced(
    registered_dir: Path, template: LocalTemplate, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ReproductionReport]:
    """One reproduction of the untouched model, shared by the tests that only read its outcome."""
    copy = tmp_path_factory.mktemp("reproduced") / "mlops-data"
    shutil.copytree(registered_dir, copy, ignore=shutil.ignore_patterns("run", "logs", "*.sock"))
    return copy, _reproduce(copy, template)


# -- a faithful reproduction ----------------------------------------------------------------------
def test_reproduction_gives_the_registered_artifact_and_metrics(reproduced: tuple[Path, ReproductionReport]):
    data_dir, report = reproduced
    record = _record(data_dir)
    assert report.ok, [(f.name, f.expected, f.actual) for f in report.mismatches]
    fields = {f.name: f for f in report.fields}
    assert fields["model_artifact.sha256"].actual == record.model_artifact.sha256
    assert {name.removeprefix("metrics."): f.actual for name, f in fields.items() if name.startswith("metrics.")} == (
        record.metrics
    )
    assert report.training_job_name == f"{record.training_job_name}-r1"


def test_reproduction_requests_match_the_pipelines_own(reproduced: tuple[Path, ReproductionReport]):
    # The original jobs' requests were issued by the ASL; the reproduction's must have the same
    # shape and differ only where a reproduction must (its name, its input copies, its output).
    data_dir, report = reproduced
    record = _record(data_dir)
    jobs = data_dir / "sagemaker"
    for kind, original, again in (
        ("training-jobs", record.training_job_name, report.training_job_name),
        ("processing-jobs", f"{record.execution_name}-evaluate-0", report.processing_job_name),
    ):
        before = json.loads((jobs / kind / original / "request.json").read_text())
        after = json.loads((jobs / kind / str(again) / "request.json").read_text())
        assert _key_paths(after) == _key_paths(before), kind
        changed = {path for path, value in _leaves(after).items() if _leaves(before).get(path) != value}
        assert changed <= {
            "TrainingJobName",
            "ProcessingJobName",
            "InputDataConfig[0].DataSource.S3DataSource.S3Uri",
            "InputDataConfig[1].DataSource.S3DataSource.S3Uri",
            "InputDataConfig[2].DataSource.S3DataSource.S3Uri",
            "ProcessingInputs[0].S3Input.S3Uri",
            "ProcessingInputs[1].S3Input.S3Uri",
            "ProcessingInputs[2].S3Input.S3Uri",
            "ProcessingInputs[3].S3Input.S3Uri",
            "ProcessingOutputConfig.Outputs[0].S3Output.S3Uri",
            "Tags[1].Key",  # the training job's extra tag: which model version it reproduces
            "Tags[1].Value",
        }, kind
    training = json.loads((jobs / "training-jobs" / str(report.training_job_name) / "request.json").read_text())
    assert training["HyperParameters"] == record.hyperparameters
    assert training["AlgorithmSpecification"]["TrainingImage"] == record.training_image


def _key_paths(value: Any) -> set[str]:
    """Every leaf's path with list positions as ``[]``: the request's shape."""
    return {re.sub(r"\[\d+\]", "[]", path) for path in _leaves(value)}


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found |= _leaves(item, f"{prefix}.{key}" if prefix else key)
        return found
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{prefix}[{i}]").items()}
    return {prefix: value}


def test_reproduction_is_in_the_audit_ledger(reproduced: tuple[Path, ReproductionReport]):
    data_dir, _ = reproduced
    ledger = LocalAuditLedger(data_dir, load_or_create_key(data_dir))
    record = ledger.records(subject=MODEL_VERSION)[-1]
    assert (record.action, record.actor) == ("model.reproduced", "erin.engineer")
    assert record.details["ok"] is True
    assert record.details["mismatches"] == ""
    assert record.evidence["model"] == _record(data_dir).model_artifact.sha256
    assert ledger.verify().ok


def test_newer_code_and_config_do_not_change_what_is_reproduced(data_dir: Path, template: LocalTemplate):
    # Given job code that would fail and a different configuration published after registration
    # (as a later `mlops` start or `sam deploy` does), When the model is reproduced
    store = LocalObjectStore(data_dir)
    record = _record(data_dir)
    assert record.source is not None
    artifacts = record.source.ref.bucket
    store.put(artifacts, record.source.ref.key, _sabotaged(store.get(record.source.ref)))
    config = store.get(record.config.ref).replace(b"num_round:", b"num_round: 7 #", 1)
    store.put(artifacts, record.config.ref.key, config)
    report = _reproduce(data_dir, template)
    # Then the pinned versions are used and the model is identical
    assert report.ok, [(f.name, f.expected, f.actual) for f in report.mismatches]


def _sabotaged(sourcedir: bytes) -> bytes:
    """The same archive with a train.py that fails: used only if the latest code were (wrongly) taken."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(sourcedir), mode="r:gz") as original,
        tarfile.open(fileobj=out, mode="w:gz") as copy,
    ):
        for member in original.getmembers():
            data = original.extractfile(member) if member.isfile() else None
            if member.name.lstrip("./") == "train.py":
                body = b"raise SystemExit('not the pinned code')\n"
                member.size = len(body)
                copy.addfile(member, io.BytesIO(body))
            else:
                copy.addfile(member, data)
    return out.getvalue()


# -- tampered inputs ------------------------------------------------------------------------------
def test_one_changed_byte_of_the_data_fails_naming_data_and_trains_nothing(data_dir: Path, template: LocalTemplate):
    record = _record(data_dir)
    _flip_one_byte(data_dir, record.data.sha256)
    report = _reproduce(data_dir, template)
    assert not report.ok
    (data,) = report.mismatches
    assert data.name == "data.sha256"
    assert data.expected == record.data.sha256
    assert data.actual != record.data.sha256
    assert "not trained" in report.reason
    assert _training_jobs(data_dir) == []


def test_tampered_job_code_fails_naming_source(data_dir: Path, template: LocalTemplate):
    record = _record(data_dir)
    _flip_one_byte(data_dir, record.source_sha256)
    report = _reproduce(data_dir, template)
    assert [f.name for f in report.mismatches] == ["source.sha256"]
    assert _training_jobs(data_dir) == []


def test_a_recorded_hyperparameter_that_was_not_configured_fails_naming_it(data_dir: Path, template: LocalTemplate):
    record = _record(data_dir)
    edited = record.model_copy(update={"hyperparameters": {**record.hyperparameters, "eta": "0.3"}})
    report = _reproduce(data_dir, template, edited)
    assert [(f.name, f.expected) for f in report.mismatches] == [("hyperparameters.eta", "0.3")]
    assert _training_jobs(data_dir) == []


def test_a_registered_artifact_that_training_does_not_give_is_reported(data_dir: Path, template: LocalTemplate):
    record = _record(data_dir)
    claimed = record.model_copy(
        update={"model_artifact": record.model_artifact.model_copy(update={"sha256": "0" * 64})}
    )
    report = _reproduce(data_dir, template, claimed)
    assert [(f.name, f.actual) for f in report.mismatches] == [("model_artifact.sha256", record.model_artifact.sha256)]
    assert all(f.ok for f in report.fields if f.name.startswith("metrics."))


# -- the command ----------------------------------------------------------------------------------
def _mlops(data_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], catch_exceptions=False)


def test_command_exits_0_and_prints_json_for_a_reproduced_model(data_dir: Path):
    result = _mlops(data_dir, "reproduce", MODEL_VERSION, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["model_version"] == MODEL_VERSION
    assert {f["name"] for f in report["fields"]} >= {"data.sha256", "model_artifact.sha256", "metrics.auc"}


def test_command_exits_1_and_prints_the_differing_field(data_dir: Path):
    _flip_one_byte(data_dir, _record(data_dir).data.sha256)
    result = _mlops(data_dir, "reproduce", MODEL_VERSION)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("✗") and " data.sha256 " in line for line in lines)
    assert any(line.startswith("✓") and " config.sha256 " in line for line in lines)
    assert "NOT REPRODUCED: 1 field(s) differ: data.sha256;" in result.stdout


def test_command_exits_2_for_an_unknown_model_version(data_dir: Path):
    result = _mlops(data_dir, "reproduce", "credit-risk/99")
    assert result.exit_code == 2
    assert "no model version 'credit-risk/99'" in result.stderr


def test_report_is_stored_with_the_reproduced_inputs(reproduced: tuple[Path, ReproductionReport]):
    data_dir, report = reproduced
    ref = S3Ref.from_uri(report.artifacts_prefix + "report.json")
    stored = json.loads(LocalObjectStore(data_dir).get(ref))
    assert stored["ok"] is True
    assert stored["training_job_name"] == report.training_job_name
