"""Trigger: an EventBridge event (push, data arrival, drift alarm) in, one pipeline execution per model out.

A data arrival under ``datasets/<model>/`` runs that model; a drift finding on endpoint X retrains the
model serving X; a push runs the models whose project changed in the commit (all of them when code
outside ``models/`` changed). Each run gets its model's published configuration, pinned by version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from governed_mlops import model_projects
from governed_mlops.adapters.code_repository import CodeRepository
from governed_mlops.adapters.object_store import CatalogueStore, StoredObject, require_dataset
from governed_mlops.adapters.pipeline import Pipeline
from governed_mlops.config import parse_config
from governed_mlops.domain import trigger as domain
from governed_mlops.domain.audit import JsonScalar
from governed_mlops.errors import ConfigError, DatasetNotFoundError, UnknownModelError, UnsupportedEventError
from governed_mlops.models import CodeRef, ModelSpec, PipelineRequest, S3Ref, TriggerInfo
from governed_mlops.services.audit import AuditSink
from governed_mlops.services.uploads import record_upload
from governed_mlops.settings import TriggerSettings

#: Who a drift-triggered retraining is attributed to (the monitor, not a person).
MONITOR_PRINCIPAL = "system:model-monitor"


@dataclass(frozen=True)
class TriggerDeps:
    store: CatalogueStore
    repository: CodeRepository
    pipeline: Pipeline
    audit: AuditSink


class Run(BaseModel):
    model: str
    status: Literal["started", "duplicate"]
    execution_name: str
    execution_arn: str


class Skipped(BaseModel):
    model: str
    reason: str


class TriggerResult(BaseModel):
    kind: str
    runs: list[Run]
    #: Models a push would retrain that have no dataset yet (nothing to train on).
    skipped: list[Skipped] = []
    #: An upload's CloudTrail event starts nothing: it records who uploaded (``s3://...?versionId=``).
    recorded_upload: str | None = None


@dataclass(frozen=True)
class _Project:
    spec: ModelSpec
    config: StoredObject


def _project(settings: TriggerSettings, deps: TriggerDeps, name: str) -> _Project:
    """One model's published configuration, parsed (a broken file fails here, not in a stage)."""
    key = model_projects.config_key(settings.models_prefix, model_projects.check_name(name))
    found = deps.store.latest_of(settings.artifacts_bucket, key)
    if found is None:
        known = ", ".join(_published(settings, deps)) or "none"
        raise UnknownModelError(
            f"model {name!r} has no published configuration s3://{settings.artifacts_bucket}/{key} "
            f"(published models: {known}); add models/{name}/config.yaml and publish it "
            "(locally the runtime publishes every project at start-up; in AWS see README 'Deploy')"
        )
    source = f"s3://{settings.artifacts_bucket}/{key}"
    spec = model_projects.model_spec(name, parse_config(deps.store.get(found.ref), source=source))
    return _Project(spec=spec, config=found)


def _published(settings: TriggerSettings, deps: TriggerDeps) -> list[str]:
    names = (
        model_projects.model_of_config_key(settings.models_prefix, key)
        for key in deps.store.list_keys(settings.artifacts_bucket, settings.models_prefix)
    )
    return sorted({name for name in names if name is not None})


@dataclass(frozen=True)
class _Catalogue:
    """Every published model: those whose configuration parses, and why the others do not."""

    projects: dict[str, _Project]
    broken: dict[str, ConfigError]

    def require(self, name: str) -> _Project:
        if name in self.broken:
            raise self.broken[name]
        return self.projects[name]


def _catalogue(settings: TriggerSettings, deps: TriggerDeps) -> _Catalogue:
    """Every published project; two valid ones claiming one endpoint or registry group is a ConfigError.

    A model whose configuration is broken is set aside with its error: it cannot run, and it must
    not stop the other models' runs (its own data arrival or push reports the error).
    """
    names = _published(settings, deps)
    if not names:
        raise ConfigError(
            f"no model configuration is published under s3://{settings.artifacts_bucket}/{settings.models_prefix}: "
            "publish models/<name>/config.yaml (the local runtime does this at start-up; in AWS see README 'Deploy')"
        )
    projects: dict[str, _Project] = {}
    broken: dict[str, ConfigError] = {}
    for name in names:
        try:
            projects[name] = _project(settings, deps, name)
        except ConfigError as exc:
            broken[name] = exc
    model_projects.endpoint_owners({name: project.spec for name, project in projects.items()})
    return _Catalogue(projects, broken)


def _newest_data(settings: TriggerSettings, deps: TriggerDeps, model: str) -> StoredObject:
    prefix = f"{settings.data_prefix}{model}/"
    return require_dataset(deps.store.latest_under(settings.data_bucket, prefix), settings.data_bucket, prefix)


def start_pipeline(raw_event: Any, settings: TriggerSettings, deps: TriggerDeps) -> TriggerResult:  # noqa: PLR0915 - not yet restructured (issue 17): one event kind after another, each a few statements
    """Normalise the event into one :class:`PipelineRequest` per model and start each under a deterministic name."""
    event = domain.parse_event(raw_event)
    if isinstance(event, domain.UploadCallEvent):
        return _record_upload(event, settings, deps)
    planned: list[tuple[PipelineRequest, str]] = []
    skipped: list[Skipped] = []
    if isinstance(event, domain.CodeCommitPushEvent):
        target = domain.push_target(event, settings.main_branch)
        catalogue = _catalogue(settings, deps)
        changed = (
            deps.repository.changed_paths(target.repository, target.old_commit_id, target.commit_id)
            if target.old_commit_id
            else None
        )
        published = [*catalogue.projects, *catalogue.broken]
        chosen = domain.models_for_push(changed, published, f"{model_projects.MODELS_DIR}/")
        trigger = TriggerInfo(
            kind="code-push",
            event_id=target.event_id,
            event_time=target.event_time,
            principal=target.principal,
            source=event.source,
            detail_type=event.detail_type,
        )
        code = CodeRef(repository=target.repository, branch=target.branch, commit_id=target.commit_id)
        missing: list[DatasetNotFoundError] = []
        for name in chosen:
            if name in catalogue.broken:
                skipped.append(Skipped(model=name, reason=f"ConfigError: {catalogue.broken[name]}"))
                continue
            try:
                data = _newest_data(settings, deps, name).ref
            except DatasetNotFoundError as exc:
                missing.append(exc)
                skipped.append(Skipped(model=name, reason=str(exc)))
                continue
            execution = domain.push_execution_name(target.repository, target.branch, target.commit_id, name)
            planned.append(_request(settings, execution, trigger, catalogue.projects[name], data, code))
        if missing and not planned:
            raise missing[0]
    elif isinstance(event, domain.DriftDetectedEvent):
        # Drift: retrain the model serving the endpoint, with the current code on its newest data.
        catalogue = _catalogue(settings, deps)
        owner = next(
            (p for p in catalogue.projects.values() if p.spec.endpoint_name == event.detail.endpoint_name), None
        )
        if owner is None:
            raise UnknownModelError(
                f"drift on endpoint {event.detail.endpoint_name!r}, which no valid model project serves "
                f"(models: {', '.join(catalogue.projects) or 'none'}); nothing to retrain"
            )
        data = _newest_data(settings, deps, owner.spec.name).ref
        commit = deps.repository.branch_head(settings.code_repository, settings.main_branch)
        code = CodeRef(repository=settings.code_repository, branch=settings.main_branch, commit_id=commit)
        execution = domain.drift_execution_name(event.detail.endpoint_name, event.detail.monitoring_run_id)
        trigger = TriggerInfo(
            kind="drift",
            event_id=event.id,
            event_time=event.time,
            principal=MONITOR_PRINCIPAL,
            source=event.source,
            detail_type=event.detail_type,
        )
        planned.append(_request(settings, execution, trigger, owner, data, code))
    else:
        bucket, key = event.detail.bucket.name, event.detail.object.key
        if bucket != settings.data_bucket or not key.startswith(settings.data_prefix):
            raise UnsupportedEventError(
                f"s3://{bucket}/{key} is outside the watched prefix s3://{settings.data_bucket}/{settings.data_prefix}"
            )
        try:
            name = model_projects.model_of_data_key(settings.data_prefix, key)
        except UnknownModelError as exc:
            raise UnknownModelError(
                f"{exc} (published models: {', '.join(_published(settings, deps)) or 'none'})"
            ) from exc
        catalogue = _catalogue(settings, deps)
        if name not in catalogue.projects and name not in catalogue.broken:
            _project(settings, deps, name)  # raises UnknownModelError naming the published models
        project = catalogue.require(name)
        token = domain.data_version_token(event)
        data = S3Ref(bucket=bucket, key=key, version_id=event.detail.object.version_id)
        commit = deps.repository.branch_head(settings.code_repository, settings.main_branch)
        code = CodeRef(repository=settings.code_repository, branch=settings.main_branch, commit_id=commit)
        execution = domain.data_execution_name(bucket, key, token)
        trigger = TriggerInfo(
            kind="data-arrival",
            event_id=event.id,
            event_time=event.time,
            principal=event.detail.requester,
            source=event.source,
            detail_type=event.detail_type,
        )
        planned.append(_request(settings, execution, trigger, project, data, code))
    runs = [_start(deps, event, request, config_sha256) for request, config_sha256 in planned]
    kind = planned[0][0].trigger.kind if planned else "code-push"
    return TriggerResult(kind=kind, runs=runs, skipped=skipped)


def _record_upload(event: domain.UploadCallEvent, settings: TriggerSettings, deps: TriggerDeps) -> TriggerResult:
    call = domain.upload_call(event)
    if call.bucket != settings.data_bucket or not call.key.startswith(settings.data_prefix):
        raise UnsupportedEventError(
            f"upload of s3://{call.bucket}/{call.key} is outside the watched prefix "
            f"s3://{settings.data_bucket}/{settings.data_prefix} (check the rule's event pattern)"
        )
    if not settings.audit_bucket:
        raise ConfigError("recording who uploaded a dataset needs AUDIT_BUCKET (the audit ledger's bucket)")
    evidence = record_upload(
        call,
        trusted_roles=settings.source_identity_roles,
        objects=deps.store,
        audit_bucket=settings.audit_bucket,
        audit=deps.audit,
    )
    pinned = S3Ref(bucket=evidence.bucket, key=evidence.key, version_id=evidence.version_id).pinned_uri
    return TriggerResult(kind="data-upload-call", runs=[], recorded_upload=pinned)


def _request(
    settings: TriggerSettings,
    name: str,
    trigger: TriggerInfo,
    project: _Project,
    data: S3Ref,
    code: CodeRef,
) -> tuple[PipelineRequest, str]:
    request = PipelineRequest(
        execution_name=name,
        trigger=trigger,
        model=project.spec,
        data=data,
        code=code,
        config=project.config.ref,
        artifacts_prefix=f"s3://{settings.artifacts_bucket}/runs/{name}/",
    )
    return request, project.config.sha256


def _start(deps: TriggerDeps, event: domain.PipelineEvent, request: PipelineRequest, config_sha256: str) -> Run:
    name, trigger = request.execution_name, request.trigger
    outcome = deps.pipeline.start(name, request.model_dump(mode="json"))
    if outcome.started:
        details: dict[str, JsonScalar] = {
            "kind": trigger.kind,
            "model": request.model.name,
            "event_id": trigger.event_id,
            "commit": request.code.commit_id,
            "repository": request.code.repository,
            "data": request.data.pinned_uri,
        }
        if isinstance(event, domain.DriftDetectedEvent):
            details |= {
                "endpoint": event.detail.endpoint_name,
                "serving_model_version": event.detail.model_version,
                "monitoring_run_id": event.detail.monitoring_run_id,
                "drifted_features": ",".join(event.detail.drifted_features),
                "violations_report": event.detail.violations_report,
            }
        deps.audit.append(trigger.principal, "pipeline.triggered", name, details, {"config": config_sha256})
    return Run(
        model=request.model.name,
        status="started" if outcome.started else "duplicate",
        execution_name=name,
        execution_arn=outcome.execution_arn,
    )
