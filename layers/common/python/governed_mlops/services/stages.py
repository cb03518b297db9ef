"""The pipeline's Lambda stages: validate, prepare, gate, register.

Each function takes parsed input and injected adapters and returns the payload for the next
state; each report is written before a failing stage raises, so a failed execution always
leaves the evidence that explains it.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from typing import Any

from governed_mlops.adapters.code_repository import SourceRepository
from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import ObjectStore, StoredObject
from governed_mlops.adapters.pipeline import DefinitionThatRan
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.bias_gates import check_bias, raise_for_breaches
from governed_mlops.domain.gates import evaluate_gates, read_metrics
from governed_mlops.domain.sourcedir import content_addressed_key, pack_sourcedir
from governed_mlops.domain.split import split_dataset
from governed_mlops.domain.validation import missing_limit, raise_for_report, validate_dataset
from governed_mlops.errors import (
    ArtifactNotFoundError,
    CommitNotFoundError,
    ConfigError,
    DataValidationError,
    QualityGateFailed,
)
from governed_mlops.models import (
    ModelVersion,
    ObjectDigest,
    PipelineRequest,
    PreparedData,
    S3Ref,
    StageEvent,
    StageResult,
)
from governed_mlops.reports.evidence_html import render_evidence_html
from governed_mlops.reports.images import is_figure_key
from governed_mlops.reports.model_card import CardNarrative, build_model_card
from governed_mlops.settings import PrepareSettings

JSON = "application/json"
#: Where SageMaker places the ``code`` channel's ``sourcedir.tar.gz`` inside the training container.
CODE_IN_CONTAINER = "/opt/ml/input/data/code/sourcedir.tar.gz"


def _digest(stored: StoredObject) -> ObjectDigest:
    return ObjectDigest(ref=stored.ref, sha256=stored.sha256, size=stored.size)


def _artifact_key(request: PipelineRequest, name: str) -> tuple[str, str]:
    prefix = S3Ref.from_uri(request.artifacts_prefix.rstrip("/") + "/x")
    return prefix.bucket, prefix.key[:-1] + name


def _put_json(store: ObjectStore, request: PipelineRequest, name: str, body: object) -> StoredObject:
    bucket, key = _artifact_key(request, name)
    return store.put(bucket, key, json_document(body), JSON)


def load_config(store: ObjectStore, ref: S3Ref) -> tuple[PipelineConfig, ObjectDigest]:
    data = store.get(ref)
    digest = ObjectDigest(ref=ref, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return parse_config(data, source=ref.pinned_uri), digest


def validate_data(event: StageEvent, store: ObjectStore) -> StageResult:
    """Validate the pinned dataset against the configuration; DataValidationError lists every problem."""
    request = event.request
    config, _ = load_config(store, request.config)
    data = store.get(request.data)
    digest = ObjectDigest(ref=request.data, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    report = validate_dataset(data, config, digest)
    stored = _put_json(store, request, "validation/report.json", report.model_dump(mode="json"))
    try:
        raise_for_report(report)
    except DataValidationError as exc:
        raise DataValidationError(f"{exc} (report: {stored.ref.pinned_uri})") from exc
    return StageResult(
        report=stored.ref,
        report_sha256=stored.sha256,
        summary={"rows": report.rows, "columns": len(report.columns), "data_sha256": digest.sha256},
    )


def job_config_document(config: PipelineConfig) -> dict[str, object]:
    """The ``job_config.json`` the training and evaluation jobs read from their ``config`` channel.

    ``missing`` gives every feature its missing-value policy and the share of rows allowed to miss it
    (the limit validation applied); training stores both, with any imputed value, in the feature spec.
    ``decisions`` (only when ``model.decisions`` is configured) names the served model's two outcomes.
    """
    document: dict[str, object] = {
        "target": config.dataset.target,
        "positive_label": config.dataset.positive_label,
        "numeric_features": config.dataset.numeric_features,
        "categorical_features": config.dataset.categorical_features,
        "seed": config.training.seed,
        "decision_threshold": config.gates.decision_threshold,
        "missing": {
            feature: {"policy": config.dataset.missing_policy(feature), "max_fraction": missing_limit(config, feature)}
            for feature in config.dataset.features
        },
    }
    if config.model.decisions is not None:
        document["decisions"] = config.model.decisions.model_dump()
    return document


def job_hyperparameters(config: PipelineConfig) -> dict[str, str]:
    """The training job's HyperParameters: the configured ones as strings, plus script mode's two."""
    hyperparameters = {k: str(v) for k, v in sorted(config.training.hyperparameters.items())}
    # Network isolation: the container cannot fetch its code, so the code is a channel and the
    # submit directory is where SageMaker puts that channel (what the SageMaker SDK does too).
    return hyperparameters | {"sagemaker_program": "train.py", "sagemaker_submit_directory": CODE_IN_CONTAINER}


def json_document(body: object) -> bytes:
    """How every JSON document the stages write is serialised (sorted keys, 2-space indent)."""
    return json.dumps(body, indent=2, sort_keys=True, default=str).encode()


def job_code(
    request: PipelineRequest,
    store: ObjectStore,
    settings: PrepareSettings,
    sources: SourceRepository,
) -> tuple[S3Ref, str | None]:
    """The job code a run trains with, pinned, and the commit it was packed from (None: the release's).

    A run whose configuration the Trigger read from its commit (``request.config_path``: every run in
    AWS, and a push through the local git hook) trains exactly that commit: its files are read from the
    repository (never a checkout), packed by :func:`~governed_mlops.domain.sourcedir.pack_sourcedir`
    and stored under ``source/<sha256>/sourcedir.tar.gz`` in the artifacts bucket (the bucket's KMS key
    encrypts it); the commit's configuration file must hash as ``request.config`` (what the stages
    load) does, so code and configuration come from one commit. Other runs use the newest version of the
    release step's sourcedir.
    """
    if request.config_path is not None or request.trigger.kind == "code-push":
        if request.code.repository != settings.code_repository:
            raise ConfigError(
                f"the run names repository {request.code.repository!r}, but this stack packs job code only from "
                f"{settings.code_repository!r} (its CodeRepositoryName); push to that repository"
            )
        tree = sources.source_tree(request.code.repository, request.code.commit_id)
        if tree is None and request.config_path is not None:
            raise CommitNotFoundError(
                f"the run's configuration was read from commit {request.code.commit_id} of "
                f"{request.code.repository}, which no repository here holds any more: start the run again"
            )
        if tree is not None:
            if request.config_path is not None:
                _check_commit_config(request, tree.read(request.config_path), store.get(request.config))
            packed = pack_sourcedir(tree)
            stored = store.put(
                settings.artifacts_bucket, content_addressed_key(packed.sha256), packed.data, "application/gzip"
            )
            if stored.sha256 != packed.sha256:
                raise ArtifactNotFoundError(f"{stored.ref.pinned_uri} does not hold the bytes just packed")
            return stored.ref, request.code.commit_id
    source = S3Ref.from_uri(settings.training_source_uri)
    pinned = store.latest_under(source.bucket, source.key)
    if pinned is None or pinned.ref.key != source.key:
        raise ArtifactNotFoundError(
            f"job code {settings.training_source_uri} is missing: publish the sourcedir first (mlops package-jobs)"
        )
    return pinned.ref, None


def _check_commit_config(request: PipelineRequest, committed: bytes, pinned: bytes) -> None:
    digest, config_sha256 = hashlib.sha256(committed).hexdigest(), hashlib.sha256(pinned).hexdigest()
    if digest != config_sha256:
        raise ConfigError(
            f"{request.config.pinned_uri} has sha256 {config_sha256}, but {request.config_path} of commit "
            f"{request.code.commit_id[:12]} has {digest}: the run's configuration is not its commit's; "
            "start the run again from its event"
        )


def prepare_data(
    event: StageEvent, store: ObjectStore, settings: PrepareSettings, sources: SourceRepository
) -> PreparedData:
    """Split deterministically, write the training job's channels (train, test, config) and pin the job code."""
    request = event.request
    config, _ = load_config(store, request.config)
    split = split_dataset(store.get(request.data), config)
    bucket, train_key = _artifact_key(request, "prepared/train/train.csv")
    train = store.put(bucket, train_key, split.train_csv, "text/csv")
    _, test_key = _artifact_key(request, "prepared/test/test.csv")
    test = store.put(bucket, test_key, split.test_csv, "text/csv")
    job_config = _put_json(store, request, "prepared/config/job_config.json", job_config_document(config))
    source, source_commit = job_code(request, store, settings, sources)
    if config.bias is None:
        raise ConfigError(
            f"{request.config.pinned_uri}: the pipeline checks bias before and after training; "
            "add a bias section to the configuration: facets and thresholds, or `facets: []` with a "
            "`not_assessed_reason` when the data holds no protected attribute"
        )
    _put_json(
        store,
        request,
        "prepared/config/bias_config.json",
        config.bias.job_document(
            label=config.dataset.target,
            positive_label=config.dataset.positive_label,
            decision_threshold=config.gates.decision_threshold,
        ),
    )
    hyperparameters = job_hyperparameters(config)
    return PreparedData(
        train=train.ref,
        test=test.ref,
        job_config=job_config.ref,
        source=source,
        source_commit=source_commit,
        channels={
            "train": train.ref.uri,
            "test": test.ref.uri,
            # A prefix: the jobs read job_config.json and bias_config.json from the same channel.
            "config": job_config.ref.uri.rsplit("/", 1)[0] + "/",
            "code": source.uri,
        },
        hyperparameters=hyperparameters,
        train_rows=split.train_rows,
        test_rows=split.test_rows,
    )


def check_quality_gates(event: StageEvent, store: ObjectStore) -> StageResult:
    """Compare the evaluation job's hold-out metrics with the configured gates."""
    request = event.request
    if not event.evaluation_uri:
        raise ArtifactNotFoundError("no evaluation output in the stage input (evaluation_uri)")
    config, _ = load_config(store, request.config)
    evaluation_ref = S3Ref.from_uri(event.evaluation_uri.rstrip("/") + "/evaluation.json")
    metrics = read_metrics(json.loads(store.get(evaluation_ref)))
    outcome = evaluate_gates(metrics, config.gates)
    stored = _put_json(store, request, "gates/report.json", outcome.model_dump(mode="json"))
    if not outcome.passed:
        failures = "; ".join(f"{c.metric}={c.value:.4f} below minimum {c.limit:.4f}" for c in outcome.failed)
        raise QualityGateFailed(f"{len(outcome.failed)} quality gate(s) failed: {failures} (report: {stored.ref.uri})")
    return StageResult(
        report=stored.ref,
        report_sha256=stored.sha256,
        summary={k: round(v, 6) for k, v in metrics.items()},
    )


def check_bias_gates(event: StageEvent, store: ObjectStore) -> StageResult:
    """Clarify metrics of one stage (pre- or post-training) against the configured limits."""
    request = event.request
    uri = event.bias_pre_uri if event.bias_stage == "pre" else event.bias_post_uri
    if not uri or event.bias_stage is None:
        raise ArtifactNotFoundError("no bias report in the stage input (bias_stage and its report URI)")
    config, _ = load_config(store, request.config)
    if config.bias is None:
        raise ConfigError("the configuration has no bias section")
    report = json.loads(store.get(S3Ref.from_uri(uri.rstrip("/") + "/analysis.json")))
    breaches = check_bias(report, config.bias.thresholds)
    stored = _put_json(
        store,
        request,
        f"gates/bias_{event.bias_stage}.json",
        {"stage": event.bias_stage, "breaches": [b.model_dump(mode="json") for b in breaches]},
    )
    raise_for_breaches(breaches)
    values: dict[str, float | int | str | bool | None] = {}
    for section in (v for k, v in report.items() if k.endswith("bias_metrics") and isinstance(v, dict)):
        for facet, entries in section.get("facets", {}).items():
            for entry in entries:
                for metric in entry.get("metrics", []):
                    if isinstance(metric.get("value"), int | float):
                        values[f"{facet}.{metric['name']}"] = float(metric["value"])
    return StageResult(report=stored.ref, report_sha256=stored.sha256, summary=values)


def _read_member(tar_bytes: bytes, name: str) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.lstrip("./") == name:
                extracted = archive.extractfile(member)
                return extracted.read() if extracted else None
    return None


def _stat(store: ObjectStore, ref: S3Ref) -> ObjectDigest:
    data = store.get(ref)
    return ObjectDigest(ref=ref, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _check_code_pairs_with_commit(request: PipelineRequest, prepared: PreparedData) -> None:
    """Refuse, before anything is read or registered, a lineage that would pair code and commit wrongly.

    Raises:
        ConfigError: the job code was packed from another commit than the run's, or the configuration
            came from the run's commit while the job code is the release's.
    """
    if prepared.source_commit not in {None, request.code.commit_id}:
        raise ConfigError(
            f"the job code was packed from commit {prepared.source_commit}, but the run is for commit "
            f"{request.code.commit_id}: the lineage would pair the wrong code with the commit"
        )
    if request.config_path is not None and prepared.source_commit is None:
        raise ConfigError(
            f"the configuration was read from {request.config_path} of commit {request.code.commit_id}, but the job "
            "code is the release's: the lineage would pair the commit's configuration with other code"
        )


def register_model(
    event: StageEvent,
    store: ObjectStore,
    registry: ModelRegistry,
    *,
    definition: DefinitionThatRan | None,
) -> ModelVersion:
    """Register the model version in its model's package group with its full lineage (idempotent per execution)."""
    request, training = event.request, event.training
    if training is None or event.validation is None or event.gates is None or event.evaluation_uri is None:
        raise ArtifactNotFoundError("register needs validation, training, evaluation and gate results")
    if event.prepared is None:
        raise ArtifactNotFoundError("register needs the prepared data (pinned job code)")
    _check_code_pairs_with_commit(request, event.prepared)
    config, config_digest = load_config(store, request.config)
    model_ref = S3Ref.from_uri(training.model_artifact)
    model_bytes = store.get(model_ref)
    output_ref = S3Ref.from_uri(
        training.output_path.rstrip("/") + f"/{training.training_job_name}/output/output.tar.gz"
    )
    training_metrics: dict[str, object] = {}
    try:
        member = _read_member(store.get(output_ref), "training_metrics.json")
        training_metrics = json.loads(member) if member else {}
    except ArtifactNotFoundError:
        training_metrics = {}
    source = _stat(store, event.prepared.source)
    evaluation_ref = S3Ref.from_uri(event.evaluation_uri.rstrip("/") + "/evaluation.json")
    metrics = read_metrics(json.loads(store.get(evaluation_ref)))
    versions = training_metrics.get("library_versions", {})
    draft = ModelVersion(
        model_version="pending",
        model_package_group=request.model.model_package_group,
        status="PendingManualApproval",
        created_at=datetime.now(UTC),
        execution_name=event.execution_name,
        trigger=request.trigger,
        data=_stat(store, request.data),
        code=request.code,
        config=config_digest,
        model_artifact=ObjectDigest(
            ref=model_ref, sha256=hashlib.sha256(model_bytes).hexdigest(), size=len(model_bytes)
        ),
        training_job_name=training.training_job_name,
        training_image=training.training_image,
        source_sha256=source.sha256,
        source=source,
        source_commit=event.prepared.source_commit,
        config_path=request.config_path,
        definition_sha256=definition.sha256 if definition else None,
        state_machine_version_arn=definition.version_arn if definition else None,
        hyperparameters=training.hyperparameters,
        seed=config.training.seed,
        library_versions={str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else {},
        metrics=metrics,
        reports={
            "validation": _stat(store, event.validation.report),
            "evaluation": _stat(store, evaluation_ref),
            "gates": _stat(store, event.gates.report),
            **_job_reports(store, event),
            **_champion_report(store, event),
        },
    )
    record = registry.register(draft)
    if "model_card" in record.reports:  # a retried registration already published its evidence
        return record
    evidence = _publish_evidence(store, request, record, config, training_metrics)
    return registry.attach_reports(record.model_version, evidence)


#: Report name -> (StageEvent field with the job's output prefix, file in that prefix).
_JOB_REPORTS = {
    "bias_pre": ("bias_pre_uri", "analysis.json"),
    "bias_pre_plot": ("bias_pre_uri", "pre_training_bias.svg"),
    "bias_post": ("bias_post_uri", "analysis.json"),
    "bias_post_plot": ("bias_post_uri", "post_training_bias.svg"),
    "explainability": ("explain_uri", "explainability.json"),
    "shap_plot": ("explain_uri", "shap_summary.svg"),
}


def _job_reports(store: ObjectStore, event: StageEvent) -> dict[str, ObjectDigest]:
    found: dict[str, ObjectDigest] = {}
    for name, (field, file_name) in _JOB_REPORTS.items():
        prefix = getattr(event, field)
        if prefix:
            found[name] = _stat(store, S3Ref.from_uri(prefix.rstrip("/") + "/" + file_name))
    return found


def _champion_report(store: ObjectStore, event: StageEvent) -> dict[str, ObjectDigest]:
    """``champion_comparison``: the champion gate's (or, not comparable, Compare with Champion's) report."""
    comparison = event.champion.comparison if event.champion is not None else None
    return {"champion_comparison": _stat(store, comparison.report)} if comparison is not None else {}


def _report_json(store: ObjectStore, record: ModelVersion, name: str) -> dict[str, Any] | None:
    digest = record.reports.get(name)
    return dict(json.loads(store.get(digest.ref))) if digest else None


def _publish_evidence(
    store: ObjectStore,
    request: PipelineRequest,
    record: ModelVersion,
    config: PipelineConfig,
    training_metrics: dict[str, object],
) -> dict[str, ObjectDigest]:
    """The SageMaker Model Card (JSON) and a self-contained HTML evidence report for model-risk review."""
    bias = {
        section: value
        for name in ("bias_pre", "bias_post")
        if (report := _report_json(store, record, name))
        for section, value in report.items()
        if section.endswith("bias_metrics")
    }
    evaluation = _report_json(store, record, "evaluation") or {}
    explainability = _report_json(store, record, "explainability")
    gates = _report_json(store, record, "gates")
    stated = config.model.card
    narrative = {
        "purpose_of_model": stated.purpose,
        "business_problem": stated.business_problem,
        "explanations_for_risk_rating": stated.risk_explanation,
        "model_owner": stated.owner,
        "line_of_business": stated.line_of_business,
    }
    decisions = config.model.decisions
    card = build_model_card(
        record,
        intended_uses=stated.intended_uses
        or f"Decisions on {config.dataset.name} cases from P({config.dataset.target} = "
        f"{config.dataset.positive_label!r}); every version is approved by people before it serves.",
        evaluation=evaluation,
        bias=bias or None,
        explainability=explainability,
        gates=gates,
        training_metrics=training_metrics,
        model=request.model,
        narrative=CardNarrative(**{name: text for name, text in narrative.items() if text is not None}),
        decisions=None if decisions is None else (decisions.favourable, decisions.unfavourable),
    )
    images = {name: store.get(d.ref) for name, d in record.reports.items() if is_figure_key(d.ref.key)}
    champion = _report_json(store, record, "champion_comparison")
    html = render_evidence_html(
        record, card, evaluation, bias or None, explainability, images, gates=gates, champion=champion
    )
    version_path = record.model_version.replace("/", "-")
    card_stored = _put_json(store, request, f"evidence/{version_path}/model_card.json", card)
    bucket, key = _artifact_key(request, f"evidence/{version_path}/evidence_report.html")
    html_stored = store.put(bucket, key, html.encode(), "text/html; charset=utf-8")
    return {"model_card": _digest(card_stored), "evidence_report": _digest(html_stored)}
