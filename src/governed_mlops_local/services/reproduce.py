"""Reproduce a registered model version from its lineage record alone.

The registry record pins everything that produced the model: the dataset (bucket, key, version id,
sha256), the pipeline configuration (same), the job code ``sourcedir.tar.gz`` (same), the
hyperparameters, the seed and the training image. :func:`reproduce`

1. fetches the pinned data, configuration and job code and checks each sha256 against the record
   (and the recorded hyperparameters and seed against the pinned configuration); if any input
   differs it trains nothing and says why, but still reports every field;
2. recomputes the split and ``job_config.json`` exactly as the Prepare Data stage does and writes
   them, with a copy of the pinned job code, under ``s3://<artifacts>/reproduce/<version>/<time>/``
   (a SageMaker channel takes an S3 prefix, never a version id, so pinned bytes get their own key);
3. issues a ``CreateTrainingJob`` request built from the ASL's own "Train Model" Parameters (the
   JSONPath fields filled from the record), named ``<original job name>-r<N>``;
4. compares the new ``model.tar.gz`` sha256 with the registered one;
5. runs the "Evaluate Model" processing job the same way on the recomputed test split and compares
   every metric by exact float equality;
6. writes the report next to the inputs and appends ``model.reproduced`` to the audit ledger.

Before any of that, a version whose job code was packed from its commit (``source_commit``: every run
in AWS, a push through the local git hook) has the commit packed again (from CodeCommit with
``--aws``, from the git hook's repository locally) through the same packer, and its configuration
file (``config_path``) hashed; :func:`check_source_commit` raises :class:`SourceMismatchError` and
nothing is retrained when either digest is not the lineage's (``source_sha256``, ``config.sha256``).

Locally the jobs run in :class:`governed_mlops_local.sagemaker.SageMakerEmulator`. In AWS the
same requests would go to SageMaker through boto3: ``create_training_job(**request)`` then the
``training_job_completed_or_stopped`` waiter and ``describe_training_job`` (and likewise
``create_processing_job`` / ``processing_job_completed_or_stopped`` / ``describe_processing_job``),
with the pinned inputs read from S3 by version id and the copies written to the artifacts bucket
(its versioning and KMS settings apply). That adapter (an object with ``create_training_job_sync``
and ``create_processing_job_sync`` returning the Describe*Job shapes) is not implemented yet;
:class:`SageMakerJobs` is the interface it would implement.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from governed_mlops.adapters.audit_ledger import AuditLedger
from governed_mlops.adapters.code_repository import SourceRepository
from governed_mlops.adapters.object_store import ObjectStore
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.audit import JsonScalar
from governed_mlops.domain.gates import read_metrics
from governed_mlops.domain.sourcedir import pack_sourcedir
from governed_mlops.domain.split import split_dataset
from governed_mlops.errors import (
    ArtifactNotFoundError,
    CommitNotFoundError,
    ConfigError,
    ReproducibilityMismatch,
    ResourceLimitExceeded,
    SourceMismatchError,
)
from governed_mlops.models import ModelVersion, S3Ref
from governed_mlops.services.stages import job_config_document, job_hyperparameters, json_document

_SHA256_HEX_LENGTH = 64

__all__ = [
    "REPRODUCED_ACTION",
    "FieldCheck",
    "JobTemplates",
    "ReproductionReport",
    "SageMakerJobs",
    "check_source_commit",
    "compare_field",
    "compare_fields",
    "raise_for_report",
    "reproduce",
    "reproduction_job_name",
    "reproduction_prefix",
    "resolve_parameters",
    "unchecked_field",
]

REPRODUCED_ACTION = "model.reproduced"
TRAIN_STATE = "Train Model"
#: Step Functions redrives an execution at most 1,000 times.
_MAX_REDRIVES = 1000
EVALUATE_STATE = "Evaluate Model"
TRAINING_RESOURCE = "arn:aws:states:::sagemaker:createTrainingJob.sync"
PROCESSING_RESOURCE = "arn:aws:states:::sagemaker:createProcessingJob.sync"
#: SageMaker's pattern for training and processing job names.
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_MAX_JOB_NAME = 63
#: How many ``-r<N>`` names are tried before giving up (each refused name is one failed create).
_MAX_ATTEMPTS = 100
_FORMAT = re.compile(r"^States\.Format\('((?:[^'\\]|\\.)*)'\s*,(.*)\)$", re.DOTALL)
_PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")
Scalar = str | float | int | None


# -- report ---------------------------------------------------------------------------------------
class FieldCheck(BaseModel):
    """One compared field: what the registry recorded, what the reproduction found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    expected: Scalar
    actual: Scalar
    ok: bool
    #: False when the field could not be compared (e.g. nothing was trained because an input differed).
    checked: bool = True


class ReproductionReport(BaseModel):
    """The field-by-field outcome; ``ok`` only if every field was compared and is identical."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_version: str
    ok: bool
    fields: list[FieldCheck]
    reason: str = ""
    started_at: datetime
    artifacts_prefix: str
    training_job_name: str | None = None
    processing_job_name: str | None = None

    @property
    def mismatches(self) -> list[FieldCheck]:
        """Fields that were compared and differ."""
        return [f for f in self.fields if f.checked and not f.ok]

    @property
    def unchecked(self) -> list[FieldCheck]:
        return [f for f in self.fields if not f.checked]


def raise_for_report(report: ReproductionReport) -> None:
    """For callers that want an exception: ReproducibilityMismatch naming each differing field."""
    if report.ok:
        return
    differing = "; ".join(f"{f.name}: expected {f.expected!r}, got {f.actual!r}" for f in report.mismatches)
    raise ReproducibilityMismatch(
        f"{report.model_version} was not reproduced: {differing or 'nothing differed'}"
        + (f" ({report.reason})" if report.reason else "")
    )


def compare_field(name: str, expected: Scalar, actual: Scalar) -> FieldCheck:
    """Exact comparison (floats too: a reproduction is identical or it is not)."""
    same = type(expected) is type(actual) and expected == actual
    return FieldCheck(name=name, expected=expected, actual=actual, ok=same)


def compare_fields(prefix: str, expected: Mapping[str, Scalar], actual: Mapping[str, Scalar]) -> list[FieldCheck]:
    """One check per key of either mapping (a key missing on one side is a difference), sorted."""
    return [
        compare_field(f"{prefix}.{key}", expected.get(key), actual.get(key)) for key in sorted({*expected, *actual})
    ]


def unchecked_field(name: str, expected: Scalar, why: str) -> FieldCheck:
    """A field that could not be compared; it counts against ``ok``."""
    return FieldCheck(name=name, expected=expected, actual=why, ok=False, checked=False)


def check_source_commit(record: ModelVersion, sources: SourceRepository | None) -> str | None:
    """Pack the lineage's commit again and return its sha256 (None: the version used the release's code).

    Raises:
        SourceMismatchError: the record's ``source_commit`` is not its ``code.commit_id``, the
            commit's job code does not have the record's ``source_sha256``, or (``config_path`` set) the
            commit's configuration file does not have the record's ``config.sha256``.
        CommitNotFoundError: the repository does not have the commit (or there is none to read).
    """
    if record.source_commit is None:
        if record.config_path is not None:
            raise SourceMismatchError(
                f"{record.model_version}: the configuration was read from {record.config_path} of commit "
                f"{record.code.commit_id}, but the lineage names no source commit; "
                "the record was altered: not reproduced"
            )
        return None
    if record.source_commit != record.code.commit_id:
        raise SourceMismatchError(
            f"{record.model_version}: the job code was packed from commit {record.source_commit}, but the lineage "
            f"names commit {record.code.commit_id}; the record was altered: not reproduced"
        )
    tree = None if sources is None else sources.source_tree(record.code.repository, record.source_commit)
    if tree is None:
        raise CommitNotFoundError(
            f"{record.model_version} was trained from commit {record.source_commit} of {record.code.repository}, "
            "and no repository holding it is reachable here (locally: the one `mlops git-hook install` made)"
        )
    packed = pack_sourcedir(tree)
    if packed.sha256 != record.source_sha256:
        raise SourceMismatchError(
            f"{record.model_version}: commit {record.source_commit[:12]} of {record.code.repository} packs to job "
            f"code sha256 {packed.sha256}, but the lineage records {record.source_sha256}: the commit and the "
            "source digest disagree, so the record does not say what was trained; not reproduced"
        )
    if record.config_path is not None:
        committed = hashlib.sha256(tree.read(record.config_path)).hexdigest()
        if committed != record.config.sha256:
            raise SourceMismatchError(
                f"{record.model_version}: {record.config_path} of commit {record.source_commit[:12]} has sha256 "
                f"{committed}, but the lineage records configuration {record.config.sha256}: the commit and the "
                "configuration digest disagree, so the record does not say what was trained; not reproduced"
            )
    return packed.sha256


# -- naming ---------------------------------------------------------------------------------------
def reproduction_job_name(base: str, attempt: int) -> str:
    """``<base>-r<attempt>``, the base shortened so the name fits SageMaker's 63 characters."""
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    suffix = f"-r{attempt}"
    name = base[: _MAX_JOB_NAME - len(suffix)].rstrip("-") + suffix
    if not JOB_NAME_PATTERN.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid SageMaker job name (from base {base!r})")
    return name


def reproduction_prefix(bucket: str, model_version: str, now: datetime) -> str:
    """``s3://<bucket>/reproduce/<group>-<n>/<UTC time>/`` (the time to the microsecond keeps tries apart)."""
    return f"s3://{bucket}/reproduce/{model_version.replace('/', '-')}/{now:%Y%m%dT%H%M%S%fZ}/"


# -- the ASL's Parameters -------------------------------------------------------------------------
def _path(expression: str, state_input: Any, context: Any) -> Any:
    if expression.startswith("$$."):
        value, rest = context, expression[3:]
    elif expression.startswith("$."):
        value, rest = state_input, expression[2:]
    elif expression == "$":
        return state_input
    else:
        raise ValueError(f"not a JSONPath: {expression!r}")
    try:
        for part in _PATH_PART.findall(rest):
            value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"{expression}: not in what a reproduction knows about the original run") from exc
    return value


def _intrinsic(expression: str, state_input: Any, context: Any) -> Any:
    match = _FORMAT.fullmatch(expression.strip())
    if match is None:
        return _path(expression.strip(), state_input, context)
    template, arguments = match.group(1), [a.strip() for a in match.group(2).split(",")]
    pieces = template.split("{}")
    if len(pieces) != len(arguments) + 1:
        raise ValueError(f"{expression}: {len(pieces) - 1} placeholder(s) for {len(arguments)} argument(s)")
    values = [str(_path(a, state_input, context)) for a in arguments]
    return pieces[0] + "".join(v + p for v, p in zip(values, pieces[1:], strict=True))


def resolve_parameters(template: Any, state_input: Any, context: Any) -> Any:
    """The ASL ``Parameters`` with every ``"key.$"`` replaced by ``"key"`` and its evaluated path.

    Supports what the pipeline's SageMaker states use: ``$.path``, ``$$.Context.path`` (with ``[n]``
    indexes) and ``States.Format('...{}...', path, ...)``; anything else is a ValueError, so a new
    construct in the ASL is noticed rather than copied through as text.
    """
    if isinstance(template, Mapping):
        resolved: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise ValueError(f"{key}: a .$ field needs a path or intrinsic, got {value!r}")
                resolved[key[:-2]] = _intrinsic(value, state_input, context)
            else:
                resolved[key] = resolve_parameters(value, state_input, context)
        return resolved
    if isinstance(template, list):
        return [resolve_parameters(item, state_input, context) for item in template]
    return template


def _state_input(
    prefix: str, channels: Mapping[str, str], hyperparameters: Mapping[str, str], model_artifact: str | None = None
) -> dict[str, Any]:
    """The parts of the pipeline's state that the SageMaker states read, rebuilt for a reproduction."""
    state: dict[str, Any] = {
        "request": {"artifacts_prefix": prefix},
        "prepared": {"channels": dict(channels), "hyperparameters": dict(hyperparameters)},
    }
    if model_artifact is not None:
        state["training"] = {"model_artifact": model_artifact}
    return state


def _context(execution_name: str, redrive_count: int = 0) -> dict[str, Any]:
    """The context object (``$$``) of the original run, so job names derive as they did in it."""
    return {"Execution": {"Name": execution_name, "RedriveCount": redrive_count}}


def _run_context(templates: JobTemplates, state_input: Any, record: ModelVersion) -> dict[str, Any]:
    """The original run's context: the redrive attempt whose training job name is the recorded one."""
    for attempt in range(_MAX_REDRIVES + 1):
        context = _context(record.execution_name, attempt)
        if resolve_parameters(templates.training, state_input, context).get("TrainingJobName") == (
            record.training_job_name
        ):
            return context
    return _context(record.execution_name)


@dataclass(frozen=True)
class JobTemplates:
    """The Parameters of the ASL's "Train Model" and "Evaluate Model" states (substitutions applied)."""

    training: Mapping[str, Any]
    evaluation: Mapping[str, Any]

    @classmethod
    def from_definition(cls, definition: str | Mapping[str, Any]) -> JobTemplates:
        """Read both states from a state machine definition (the deployed one, or the template's)."""
        document = json.loads(definition) if isinstance(definition, str) else definition
        states = document.get("States", {})

        def parameters(name: str, resource: str) -> Mapping[str, Any]:
            state = states.get(name)
            if not isinstance(state, Mapping) or state.get("Resource") != resource:
                raise ConfigError(f"the state machine has no state {name!r} with Resource {resource}")
            params = state.get("Parameters")
            if not isinstance(params, Mapping):
                raise ConfigError(f"state {name!r} has no Parameters")
            # Fail before any work if the ASL reads a field a reproduction cannot fill.
            dry_channels = {c: f"s3://bucket/{c}" for c in ("train", "test", "config", "code")}
            dry_input = _state_input("s3://bucket/prefix/", dry_channels, {}, "s3://bucket/model.tar.gz")
            try:
                resolve_parameters(params, dry_input, _context("execution"))
            except ValueError as exc:
                raise ConfigError(f"state {name!r}: {exc}") from exc
            return params

        return cls(
            training=parameters(TRAIN_STATE, TRAINING_RESOURCE),
            evaluation=parameters(EVALUATE_STATE, PROCESSING_RESOURCE),
        )


class SageMakerJobs(Protocol):
    """Runs a job to completion and returns its Describe*Job (the ``.sync`` integrations' result)."""

    def create_training_job_sync(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def create_processing_job_sync(self, request: dict[str, Any]) -> dict[str, Any]: ...


# -- the reproduction -----------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch_pinned(name: str, store: ObjectStore, ref: S3Ref, expected: str) -> tuple[bytes | None, FieldCheck]:
    try:
        data = store.get(ref)
    except ArtifactNotFoundError as exc:
        return None, compare_field(name, expected, f"missing: {exc}")
    return data, compare_field(name, expected, _sha256(data))


def _name_in_use(exc: Exception) -> bool:
    """SageMaker's answer to a job name that exists: ResourceInUse (boto3 ClientError or the emulator)."""
    code = getattr(exc, "error_type", None)
    if code is None:
        response = getattr(exc, "response", None)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code).rsplit(".", 1)[-1] == "ResourceInUse"


def _run_unique(
    create: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any], name_key: str, base: str
) -> tuple[dict[str, Any], str]:
    """Create the job under the first free ``<base>-r<N>``: job names are unique per account and region."""
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        name = reproduction_job_name(base, attempt)
        try:
            return create({**request, name_key: name}), name
        except Exception as exc:
            if not _name_in_use(exc):
                raise
    raise ResourceLimitExceeded(f"no free job name: {base}-r1 .. -r{_MAX_ATTEMPTS} are all taken")


def _library_versions(store: ObjectStore, output_uri: str) -> dict[str, Scalar]:
    """``library_versions`` from the training job's ``output.tar.gz`` (``training_metrics.json``)."""
    with tarfile.open(fileobj=io.BytesIO(store.get(S3Ref.from_uri(output_uri))), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.lstrip("./") == "training_metrics.json":
                extracted = archive.extractfile(member)
                document = json.loads(extracted.read()) if extracted else {}
                versions = document.get("library_versions", {})
                return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else {}
    return {}


@dataclass
class _Run:
    """What one reproduction has found so far."""

    record: ModelVersion
    prefix: str
    now: datetime
    fields: list[FieldCheck]
    reason: str = ""
    training_job_name: str | None = None
    processing_job_name: str | None = None

    def skip_outputs(self, why: str, *, model: bool = True, libraries: bool = True, metrics: bool = True) -> None:
        record = self.record
        if model:
            self.fields.append(unchecked_field("model_artifact.sha256", record.model_artifact.sha256, why))
        if libraries:
            self.fields += [
                unchecked_field(f"library_versions.{k}", v, why) for k, v in sorted(record.library_versions.items())
            ]
        if metrics:
            self.fields += [unchecked_field(f"metrics.{k}", v, why) for k, v in sorted(record.metrics.items())]

    def report(self) -> ReproductionReport:
        return ReproductionReport(
            model_version=self.record.model_version,
            ok=bool(self.fields) and all(f.ok for f in self.fields) and not self.reason,
            fields=self.fields,
            reason=self.reason,
            started_at=self.now,
            artifacts_prefix=self.prefix,
            training_job_name=self.training_job_name,
            processing_job_name=self.processing_job_name,
        )


def _check_inputs(run: _Run, store: ObjectStore) -> tuple[bytes, bytes, PipelineConfig] | None:
    """Fetch and check the pinned inputs; ``None`` (with ``run.reason`` set) if any differs."""
    record = run.record
    data, data_check = _fetch_pinned("data.sha256", store, record.data.ref, record.data.sha256)
    config_bytes, config_check = _fetch_pinned("config.sha256", store, record.config.ref, record.config.sha256)
    if record.source is None:
        source, source_check = None, compare_field("source.sha256", record.source_sha256, "not recorded (no pin)")
    else:
        source, source_check = _fetch_pinned("source.sha256", store, record.source.ref, record.source_sha256)
    run.fields += [data_check, config_check, source_check]
    config: PipelineConfig | None = None
    if config_check.ok and config_bytes is not None:
        try:
            config = parse_config(config_bytes, source=record.config.ref.pinned_uri)
        except ConfigError as exc:
            run.fields.append(compare_field("config.parse", "a valid configuration", str(exc)))
    if config is None:
        why = "config differs: not derived"
        run.fields += [
            unchecked_field(f"hyperparameters.{k}", v, why) for k, v in sorted(record.hyperparameters.items())
        ]
        run.fields.append(unchecked_field("seed", record.seed, why))
    else:
        # The record's hyperparameters and seed must be what the pinned configuration gives.
        run.fields += compare_fields("hyperparameters", record.hyperparameters, job_hyperparameters(config))
        run.fields.append(compare_field("seed", record.seed, config.training.seed))
    differing = [f.name for f in run.fields if not f.ok]
    if differing or data is None or source is None or config is None:
        run.reason = f"not trained: the pinned inputs do not match the lineage record ({', '.join(differing)})"
        run.skip_outputs("not trained")
        return None
    return data, source, config


def _put(store: ObjectStore, prefix: str, name: str, data: bytes, content_type: str) -> str:
    ref = S3Ref.from_uri(prefix + name)
    return store.put(ref.bucket, ref.key, data, content_type).ref.uri


def _train_and_evaluate(
    run: _Run,
    inputs: tuple[bytes, bytes, PipelineConfig],
    *,
    store: ObjectStore,
    sagemaker: SageMakerJobs,
    templates: JobTemplates,
) -> None:
    record, prefix = run.record, run.prefix
    data, source, config = inputs
    split = split_dataset(data, config)
    job_config = json_document(job_config_document(config))
    _put(store, prefix, "prepared/config/job_config.json", job_config, "application/json")
    channels = {
        "train": _put(store, prefix, "prepared/train/train.csv", split.train_csv, "text/csv"),
        "test": _put(store, prefix, "prepared/test/test.csv", split.test_csv, "text/csv"),
        # A prefix, as the pipeline's config channel: the jobs read job_config.json from it.
        "config": f"{prefix}prepared/config/",
        "code": _put(store, prefix, "code/sourcedir.tar.gz", source, "application/x-tar"),
    }
    state_input = _state_input(prefix, channels, record.hyperparameters)
    context = _run_context(templates, state_input, record)

    training = resolve_parameters(templates.training, state_input, context)
    training["AlgorithmSpecification"]["TrainingImage"] = record.training_image
    # One more tag, same shape: the job says which model version it reproduces.
    training["Tags"] = [*training.get("Tags", []), {"Key": "reproduces", "Value": record.model_version}]
    try:
        described, run.training_job_name = _run_unique(
            sagemaker.create_training_job_sync, training, "TrainingJobName", record.training_job_name
        )
    # Whatever stops the job (a failed script, SageMaker refusing it) means "not reproduced"; the
    # report and the audit record must say so instead of the command dying without a trace.
    except Exception as exc:  # noqa: BLE001
        run.reason = f"training job failed: {type(exc).__name__}: {exc}"[:2000]
        run.skip_outputs("training failed")
        return
    model_uri = described["ModelArtifacts"]["S3ModelArtifacts"]
    run.fields.append(
        compare_field(
            "model_artifact.sha256", record.model_artifact.sha256, _sha256(store.get(S3Ref.from_uri(model_uri)))
        )
    )
    output_uri = (
        f"{described['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{run.training_job_name}/output/output.tar.gz"
    )
    run.fields += compare_fields("library_versions", record.library_versions, _library_versions(store, output_uri))

    state_input = _state_input(prefix, channels, record.hyperparameters, model_uri)
    evaluation = resolve_parameters(templates.evaluation, state_input, context)
    base = str(evaluation["ProcessingJobName"])
    try:
        described, run.processing_job_name = _run_unique(
            sagemaker.create_processing_job_sync, evaluation, "ProcessingJobName", base
        )
    except Exception as exc:  # noqa: BLE001  (as for training)
        run.reason = f"evaluation job failed: {type(exc).__name__}: {exc}"[:2000]
        run.skip_outputs("evaluation failed", model=False, libraries=False)
        return
    # As the ASL's ResultSelector: the first output is the evaluation.
    evaluation_uri = described["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    document = json.loads(store.get(S3Ref.from_uri(evaluation_uri.rstrip("/") + "/evaluation.json")))
    metrics: dict[str, Scalar] = dict(read_metrics(document))
    run.fields += compare_fields("metrics", dict(record.metrics), metrics)


def reproduce(  # noqa: PLR0913 - keyword-only: the record, then each store, service and clock the caller injects
    record: ModelVersion,
    *,
    store: ObjectStore,
    sagemaker: SageMakerJobs,
    artifacts_bucket: str,
    templates: JobTemplates,
    now: datetime,
    ledger: AuditLedger | None = None,
    actor: str = "local-user",
    sources: SourceRepository | None = None,
) -> ReproductionReport:
    """Retrain and re-evaluate ``record`` from its pinned inputs and compare field by field.

    Writes the recomputed inputs and ``report.json`` under :func:`reproduction_prefix` and, when a
    ledger is given, appends ``model.reproduced`` (actor, ok, the differing fields). Never raises
    for a difference in what was produced: a changed input, a failed job or a different artefact is
    in the report. A lineage whose commit and source sha256 disagree is refused first
    (:func:`check_source_commit` raises), since it does not say what was trained.
    """
    check_source_commit(record, sources)
    run = _Run(
        record=record, prefix=reproduction_prefix(artifacts_bucket, record.model_version, now), now=now, fields=[]
    )
    inputs = _check_inputs(run, store)
    if inputs is not None:
        _train_and_evaluate(run, inputs, store=store, sagemaker=sagemaker, templates=templates)
    report = run.report()
    stored = S3Ref.from_uri(run.prefix + "report.json")
    report_sha = store.put(stored.bucket, stored.key, json_document(report.model_dump(mode="json")), "application/json")
    if ledger is not None:
        details: dict[str, JsonScalar] = {
            "ok": report.ok,
            "mismatches": ",".join(f.name for f in report.mismatches),
            "unchecked": len(report.unchecked),
            "reason": report.reason,
            "training_job": report.training_job_name or "",
            "processing_job": report.processing_job_name or "",
            "report": stored.uri,
        }
        evidence = {"report": report_sha.sha256}
        produced = next((f for f in report.fields if f.name == "model_artifact.sha256" and f.checked), None)
        if produced is not None and isinstance(produced.actual, str) and len(produced.actual) == _SHA256_HEX_LENGTH:
            evidence["model"] = produced.actual
        ledger.append(actor, REPRODUCED_ACTION, record.model_version, details, evidence)
    return report
