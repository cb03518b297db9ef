"""Unit tests of `mlops reproduce`'s logic: comparison, job naming, the ASL request shape, and the
reproduction flow against an in-memory store and fake SageMaker jobs (no subprocess, no socket)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from typing import Any

import pytest

from governed_mlops.config import PipelineConfig
from governed_mlops.errors import ArtifactNotFoundError, ConfigError, ReproducibilityMismatch
from governed_mlops.models import CodeRef, ModelVersion, ObjectDigest, S3Ref, TriggerInfo
from governed_mlops.services.stages import job_hyperparameters
from governed_mlops_local.services.reproduce import (
    JOB_NAME_PATTERN,
    FieldCheck,
    JobTemplates,
    ReproductionReport,
    compare_field,
    compare_fields,
    raise_for_report,
    reproduce,
    reproduction_job_name,
    reproduction_prefix,
    resolve_parameters,
    unchecked_field,
)
from tests.unit.conftest import GERMAN_CREDIT_CONFIG, REPO_ROOT

ASL = REPO_ROOT / "statemachines" / "training_pipeline.asl.json"
NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
ARTIFACTS = "artifacts-bucket"
EXECUTION = "data-0123456789abcdef01234567"
LIBRARIES = {"xgboost": "3.2.0", "python": "3.11.7"}
METRICS = {"auc": 0.8208, "ks": 0.5504761904761906, "accuracy": 0.768}
MODEL_BYTES = b"the model archive"


# -- comparison -----------------------------------------------------------------------------------
def test_equal_values_of_the_same_type_match():
    assert compare_field("metrics.auc", 0.8208, 0.8208).ok


def test_floats_are_compared_exactly():
    check = compare_field("metrics.auc", 0.8208, 0.8208 + 1e-16 * 8)
    assert not check.ok
    assert check.expected == 0.8208


def test_a_number_and_its_string_do_not_match():
    assert not compare_field("seed", 7, "7").ok


def test_mapping_comparison_reports_each_key_and_missing_keys():
    checks = compare_fields("hyperparameters", {"eta": "0.1", "max_depth": "3"}, {"max_depth": "4", "gamma": "1"})
    assert [(c.name, c.expected, c.actual, c.ok) for c in checks] == [
        ("hyperparameters.eta", "0.1", None, False),
        ("hyperparameters.gamma", None, "1", False),
        ("hyperparameters.max_depth", "3", "4", False),
    ]


def test_an_unchecked_field_is_not_ok_and_not_a_mismatch():
    report = ReproductionReport(
        model_version="g/1",
        ok=False,
        fields=[unchecked_field("metrics.auc", 0.8, "not trained"), compare_field("data.sha256", "a", "b")],
        started_at=NOW,
        artifacts_prefix="s3://b/p/",
    )
    assert [f.name for f in report.mismatches] == ["data.sha256"]
    assert [f.name for f in report.unchecked] == ["metrics.auc"]


# -- naming ---------------------------------------------------------------------------------------
def test_job_name_appends_the_attempt():
    assert reproduction_job_name(f"{EXECUTION}-train", 1) == f"{EXECUTION}-train-r1"
    assert reproduction_job_name(f"{EXECUTION}-train", 12) == f"{EXECUTION}-train-r12"


@pytest.mark.parametrize("attempt", [1, 9, 10, 999])
def test_a_long_base_is_shortened_to_sagemakers_63_characters(attempt: int):
    name = reproduction_job_name("a" * 40 + "-" * 20 + "b" * 10, attempt)
    assert len(name) <= 63
    assert name.endswith(f"-r{attempt}")
    assert JOB_NAME_PATTERN.fullmatch(name)


def test_an_invalid_base_is_refused():
    with pytest.raises(ValueError, match="not a valid SageMaker job name"):
        reproduction_job_name("bad_name", 1)


def test_attempts_start_at_one():
    with pytest.raises(ValueError, match="at least 1"):
        reproduction_job_name("job", 0)


def test_prefix_has_the_version_without_slash_and_the_time():
    assert (
        reproduction_prefix(ARTIFACTS, "credit-risk/3", NOW)
        == f"s3://{ARTIFACTS}/reproduce/credit-risk-3/20260102T030405678901Z/"
    )


# -- the ASL's Parameters -------------------------------------------------------------------------
def test_paths_context_and_format_are_resolved():
    template = {
        "Name.$": "States.Format('{}-x-{}', $$.Execution.Name, $.a.b)",
        "Literal": {"Uri.$": "$.list[1]", "Fixed": [1, {"K.$": "$"}]},
    }
    resolved = resolve_parameters(template, {"a": {"b": "B"}, "list": ["u0", "u1"]}, {"Execution": {"Name": "E"}})
    assert resolved == {
        "Name": "E-x-B",
        "Literal": {"Uri": "u1", "Fixed": [1, {"K": {"a": {"b": "B"}, "list": ["u0", "u1"]}}]},
    }


def test_a_path_the_reproduction_cannot_fill_is_an_error():
    with pytest.raises(ValueError, match=r"\$\.evaluation\.uri: not in what a reproduction knows"):
        resolve_parameters({"X.$": "$.evaluation.uri"}, {}, {})


def test_an_unsupported_intrinsic_is_an_error():
    with pytest.raises(ValueError, match="not a JSONPath"):
        resolve_parameters({"X.$": "States.UUID()"}, {}, {})


def test_templates_need_both_sagemaker_states():
    with pytest.raises(ConfigError, match="Evaluate Model"):
        JobTemplates.from_definition(
            {
                "States": {
                    "Train Model": {"Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync", "Parameters": {}}
                }
            }
        )


def test_templates_refuse_a_field_a_reproduction_cannot_fill():
    definition = json.loads(ASL.read_text())
    definition["States"]["Train Model"]["Parameters"]["Environment"] = {"GATES.$": "$.gates.report"}
    with pytest.raises(ConfigError, match=r"'Train Model': \$\.gates\.report"):
        JobTemplates.from_definition(definition)


def _key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path (list items as ``[]``); an ASL ``key.$`` is a leaf named ``key``."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{prefix}.{key.removesuffix('.$')}" if prefix else key.removesuffix(".$")
            paths.add(name)
            if not key.endswith(".$"):
                paths |= _key_paths(item, name)
    elif isinstance(value, list):
        for item in value:
            paths |= _key_paths(item, f"{prefix}[]")
    return paths


def _request_paths(request: dict[str, Any], asl_parameters: dict[str, Any]) -> set[str]:
    """The request's key paths, not descending below what the ASL fills from a path (e.g. HyperParameters)."""
    leaves = {p.removesuffix(".$") for p in _paths_of_dollar_keys(asl_parameters)}
    return {p for p in _key_paths(request) if not any(p.startswith((leaf + ".", leaf + "[")) for leaf in leaves)}


def _paths_of_dollar_keys(value: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else key
            found |= {name} if key.endswith(".$") else _paths_of_dollar_keys(item, name)
    elif isinstance(value, list):
        for item in value:
            found |= _paths_of_dollar_keys(item, f"{prefix}[]")
    return found


# -- the reproduction against fakes ---------------------------------------------------------------
class MemoryStore:
    """S3 semantics in memory: versions per key, ``get`` by version id or latest."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], list[tuple[str, bytes]]] = {}

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "") -> Any:
        from governed_mlops.adapters.object_store import StoredObject

        versions = self.objects.setdefault((bucket, key), [])
        versions.append((f"v{len(versions) + 1}", data))
        return StoredObject(
            ref=S3Ref(bucket=bucket, key=key, version_id=versions[-1][0]),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            last_modified=NOW,
        )

    def get(self, ref: S3Ref) -> bytes:
        versions = self.objects.get((ref.bucket, ref.key), [])
        for version_id, data in reversed(versions):
            if ref.version_id in (None, version_id):
                return data
        raise ArtifactNotFoundError(f"{ref.pinned_uri}: no such object")

    def latest_under(self, bucket: str, prefix: str) -> Any:
        return None

    def stored_keys(self) -> list[str]:
        return sorted(key for _, key in self.objects)


class NameInUse(Exception):
    error_type = "SageMaker.ResourceInUse"


class JobFailed(Exception):
    error_type = "SageMakerJobFailed"


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FakeJobs:
    """Describe*Job-shaped answers; writes what the real jobs would (model, output, evaluation.json)."""

    def __init__(self, store: MemoryStore, *, model: bytes = MODEL_BYTES, metrics: dict[str, float] | None = None):
        self.store = store
        self.model = model
        self.metrics = METRICS if metrics is None else metrics
        self.taken: set[str] = set()
        self.training: list[dict[str, Any]] = []
        self.processing: list[dict[str, Any]] = []
        self.fail_training = False

    def _claim(self, name: str) -> None:
        if name in self.taken:
            raise NameInUse(f"{name} already exists")
        self.taken.add(name)

    def create_training_job_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["TrainingJobName"]
        self._claim(name)
        self.training.append(request)
        if self.fail_training:
            raise JobFailed("AlgorithmError: boom")
        output = S3Ref.from_uri(f"{request['OutputDataConfig']['S3OutputPath']}/{name}/output/model.tar.gz")
        self.store.put(output.bucket, output.key, self.model)
        metrics = json.dumps({"library_versions": LIBRARIES}).encode()
        self.store.put(
            output.bucket,
            output.key.replace("model.tar.gz", "output.tar.gz"),
            _tar_gz({"training_metrics.json": metrics}),
        )
        return {
            "TrainingJobName": name,
            "ModelArtifacts": {"S3ModelArtifacts": output.uri},
            "OutputDataConfig": request["OutputDataConfig"],
        }

    def create_processing_job_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        self._claim(request["ProcessingJobName"])
        self.processing.append(request)
        uri = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        document = {"binary_classification_metrics": {k: {"value": v} for k, v in self.metrics.items()}}
        ref = S3Ref.from_uri(uri + "/evaluation.json")
        self.store.put(ref.bucket, ref.key, json.dumps(document).encode())
        return {
            "ProcessingJobName": request["ProcessingJobName"],
            "ProcessingOutputConfig": request["ProcessingOutputConfig"],
        }


def _digest(stored: Any) -> ObjectDigest:
    return ObjectDigest(ref=stored.ref, sha256=stored.sha256, size=stored.size)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def record(store: MemoryStore, german_credit_bytes: bytes, german_credit_config: PipelineConfig) -> ModelVersion:
    """A registered model whose pinned inputs are in ``store``."""
    data = store.put("data-bucket", "datasets/credit-risk/german_credit.csv", german_credit_bytes)
    config = store.put(ARTIFACTS, "config/pipeline.yaml", GERMAN_CREDIT_CONFIG.read_bytes())
    source = store.put(ARTIFACTS, "code/sourcedir.tar.gz", b"job code v1")
    model = store.put(ARTIFACTS, f"training-jobs/{EXECUTION}-train/output/model.tar.gz", MODEL_BYTES)
    return ModelVersion(
        model_version="credit-risk/1",
        model_package_group="credit-risk",
        status="Approved",
        created_at=NOW,
        execution_name=EXECUTION,
        trigger=TriggerInfo(
            kind="data-arrival",
            event_id="e",
            event_time=NOW,
            principal="p",
            source="aws.s3",
            detail_type="Object Created",
        ),
        data=_digest(data),
        code=CodeRef(repository="r", branch="main", commit_id="0123456"),
        config=_digest(config),
        model_artifact=_digest(model),
        training_job_name=f"{EXECUTION}-train-0",
        training_image="registered-image:1",
        source_sha256=source.sha256,
        source=_digest(source),
        hyperparameters=job_hyperparameters(german_credit_config),
        seed=german_credit_config.training.seed,
        library_versions=LIBRARIES,
        metrics=METRICS,
        reports={},
    )


@pytest.fixture
def templates() -> JobTemplates:
    return JobTemplates.from_definition(ASL.read_text())


class Ledger:
    def __init__(self) -> None:
        self.appended: list[tuple[Any, ...]] = []

    def append(self, *args: Any) -> None:
        self.appended.append(args)


def _reproduce(record: ModelVersion, store: MemoryStore, jobs: FakeJobs, templates: JobTemplates, **kw: Any):
    return reproduce(
        record, store=store, sagemaker=jobs, artifacts_bucket=ARTIFACTS, templates=templates, now=NOW, **kw
    )


def test_identical_outputs_reproduce(record: ModelVersion, store: MemoryStore, templates: JobTemplates):
    report = _reproduce(record, store, FakeJobs(store), templates)
    assert report.ok, report.mismatches
    assert report.reason == ""
    assert {f.name for f in report.fields} >= {
        "data.sha256",
        "config.sha256",
        "source.sha256",
        "seed",
        "model_artifact.sha256",
        "metrics.auc",
        "library_versions.xgboost",
    }
    assert report.training_job_name == f"{EXECUTION}-train-0-r1"
    assert report.processing_job_name == f"{EXECUTION}-evaluate-0-r1"


def test_requests_have_the_asl_states_shape(record: ModelVersion, store: MemoryStore, templates: JobTemplates):
    jobs = FakeJobs(store)
    _reproduce(record, store, jobs, templates)
    asl = json.loads(ASL.read_text())["States"]
    (training,), (evaluation,) = jobs.training, jobs.processing
    for request, state in ((training, "Train Model"), (evaluation, "Evaluate Model")):
        parameters = asl[state]["Parameters"]
        assert _request_paths(request, parameters) == _key_paths(parameters), state


def test_requests_use_the_recorded_image_hyperparameters_and_the_pinned_code(
    record: ModelVersion, store: MemoryStore, templates: JobTemplates
):
    jobs = FakeJobs(store)
    report = _reproduce(record, store, jobs, templates)
    (training,) = jobs.training
    assert training["AlgorithmSpecification"]["TrainingImage"] == "registered-image:1"
    assert training["HyperParameters"] == record.hyperparameters
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in training["InputDataConfig"]}
    assert set(channels) == {"train", "config", "code"}
    assert all(uri.startswith(report.artifacts_prefix) for uri in channels.values())
    code = S3Ref.from_uri(channels["code"])
    assert store.get(code) == b"job code v1"
    assert {"Key": "reproduces", "Value": "credit-risk/1"} in training["Tags"]


def test_recomputed_inputs_and_report_are_written_under_the_prefix(
    record: ModelVersion, store: MemoryStore, templates: JobTemplates
):
    _reproduce(record, store, FakeJobs(store), templates)
    base = "reproduce/credit-risk-1/20260102T030405678901Z/"
    assert {k for k in store.stored_keys() if k.startswith(base)} >= {
        base + "prepared/train/train.csv",
        base + "prepared/test/test.csv",
        base + "prepared/config/job_config.json",
        base + "code/sourcedir.tar.gz",
        base + "report.json",
    }
    job_config = json.loads(store.get(S3Ref(bucket=ARTIFACTS, key=base + "prepared/config/job_config.json")))
    assert job_config["seed"] == record.seed


def test_a_different_artifact_and_metric_are_reported_with_their_values(
    record: ModelVersion, store: MemoryStore, templates: JobTemplates
):
    jobs = FakeJobs(store, model=b"another model", metrics={**METRICS, "auc": 0.8209})
    report = _reproduce(record, store, jobs, templates)
    assert not report.ok
    mismatches = {f.name: (f.expected, f.actual) for f in report.mismatches}
    assert mismatches == {
        "model_artifact.sha256": (record.model_artifact.sha256, hashlib.sha256(b"another model").hexdigest()),
        "metrics.auc": (0.8208, 0.8209),
    }


def test_a_changed_input_trains_nothing_and_reports_every_field(
    record: ModelVersion, store: MemoryStore, templates: JobTemplates
):
    store.objects[("data-bucket", "datasets/credit-risk/german_credit.csv")][0] = ("v1", b"tampered")
    jobs = FakeJobs(store)
    report = _reproduce(record, store, jobs, templates)
    assert not report.ok
    assert [f.name for f in report.mismatches] == ["data.sha256"]
    assert "not trained" in report.reason
    assert "data.sha256" in report.reason
    assert jobs.training == jobs.processing == []
    assert report.training_job_name is None
    unchecked = {f.name for f in report.unchecked}
    assert {"model_artifact.sha256", "metrics.auc", "library_versions.xgboost"} <= unchecked


def test_a_missing_input_is_a_difference(record: ModelVersion, store: MemoryStore, templates: JobTemplates):
    del store.objects[(ARTIFACTS, "code/sourcedir.tar.gz")]
    report = _reproduce(record, store, FakeJobs(store), templates)
    (source,) = report.mismatches
    assert source.name == "source.sha256"
    assert str(source.actual).startswith("missing:")


def test_a_hyperparameter_the_pinned_config_does_not_give_is_refused(
    record: ModelVersion, store: MemoryStore, templates: JobTemplates
):
    edited = record.model_copy(update={"hyperparameters": {**record.hyperparameters, "max_depth": "9"}})
    jobs = FakeJobs(store)
    report = _reproduce(edited, store, jobs, templates)
    assert [(f.name, f.expected, f.actual) for f in report.mismatches] == [("hyperparameters.max_depth", "9", "3")]
    assert jobs.training == []


def test_a_taken_job_name_moves_to_the_next_attempt(record: ModelVersion, store: MemoryStore, templates: JobTemplates):
    jobs = FakeJobs(store)
    jobs.taken |= {f"{EXECUTION}-train-0-r1", f"{EXECUTION}-train-0-r2", f"{EXECUTION}-evaluate-0-r1"}
    report = _reproduce(record, store, jobs, templates)
    assert report.ok
    assert report.training_job_name == f"{EXECUTION}-train-0-r3"
    assert report.processing_job_name == f"{EXECUTION}-evaluate-0-r2"


def test_a_failed_training_job_is_a_failed_reproduction(
    record: ModelVersion, store: MemoryStore, templates: JobTemplates
):
    jobs = FakeJobs(store)
    jobs.fail_training = True
    report = _reproduce(record, store, jobs, templates)
    assert not report.ok
    assert "training job failed: JobFailed: AlgorithmError: boom" in report.reason
    assert "model_artifact.sha256" in {f.name for f in report.unchecked}


def test_the_audit_record_names_the_differing_fields(record: ModelVersion, store: MemoryStore, templates: JobTemplates):
    ledger = Ledger()
    _reproduce(record, store, FakeJobs(store, model=b"x"), templates, ledger=ledger, actor="erin")
    ((actor, action, subject, details, evidence),) = ledger.appended
    assert (actor, action, subject) == ("erin", "model.reproduced", "credit-risk/1")
    assert details["ok"] is False
    assert details["mismatches"] == "model_artifact.sha256"
    assert evidence["model"] == hashlib.sha256(b"x").hexdigest()
    assert len(evidence["report"]) == 64


def test_field_checks_are_json_with_float_values():
    check = FieldCheck(name="metrics.auc", expected=0.8208, actual=0.8208, ok=True)
    assert json.loads(check.model_dump_json())["expected"] == 0.8208


def test_raise_for_report_names_the_differing_field(record: ModelVersion, store: MemoryStore, templates: JobTemplates):
    report = _reproduce(record, store, FakeJobs(store, metrics={**METRICS, "ks": 0.5}), templates)
    with pytest.raises(ReproducibilityMismatch, match=r"metrics\.ks: expected 0\.5504761904761906, got 0\.5"):
        raise_for_report(report)


def test_raise_for_report_is_silent_for_a_reproduction(
    record: ModelVersion, store: MemoryStore, templates: JobTemplates
):
    raise_for_report(_reproduce(record, store, FakeJobs(store), templates))
