"""Trigger: an EventBridge event (push, data arrival, drift alarm) in, one pipeline execution per model out.

A data arrival under ``datasets/<model>/`` runs that model; a drift finding on endpoint X retrains the
model serving X; a push runs the models whose project changed in the commit (all of them when code
outside ``models/`` changed).

Every run is for one commit (a push's, or the main branch head for data arrivals and drift), and its
configuration is that commit's ``models/<name>/config.yaml``: read from the repository, validated here,
stored content-addressed and pinned in the request, so every stage uses exactly the commit's file and
the model spec (endpoint, registry group) comes from the same bytes. Locally a commit has files only
in the repository ``mlops git-hook install`` made; otherwise the run gets its model's published
configuration, pinned by version (``request.config_path`` None).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from governed_mlops import model_projects
from governed_mlops.adapters.code_repository import CodeRepository, SourceRepository
from governed_mlops.adapters.object_store import CatalogueStore, StoredObject, require_dataset
from governed_mlops.adapters.pipeline import Pipeline
from governed_mlops.config import parse_config
from governed_mlops.domain import trigger as domain
from governed_mlops.domain.audit import JsonScalar
from governed_mlops.domain.sourcedir import SourceTree
from governed_mlops.errors import (
    ArtifactNotFoundError,
    ConfigError,
    DatasetNotFoundError,
    UnknownModelError,
    UnsupportedEventError,
)
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
    #: A commit's files: CodeCommit in AWS, the git hook's repositories locally.
    sources: SourceRepository
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
    """One model's configuration as a run would use it: parsed, with the model spec resolved from it."""

    spec: ModelSpec
    sha256: str
    #: The published configuration (pinned by version); None for one read from the run's commit.
    published: StoredObject | None = None
    #: The commit's ``models/<name>/config.yaml`` bytes, stored content-addressed when a run is planned.
    committed: bytes | None = None


def _project(settings: TriggerSettings, deps: TriggerDeps, name: str) -> _Project:
    """One model's published configuration, parsed (a broken file fails here, not in a stage)."""
    key = model_projects.config_key(settings.models_prefix, model_projects.check_name(name))
    found = deps.store.latest_of(settings.artifacts_bucket, key)
    if found is None:
        known = ", ".join(_published(settings, deps)) or "none"
        raise UnknownModelError(
            f"model {name!r} has no published configuration s3://{settings.artifacts_bucket}/{key} "
            f"(published models: {known}); add models/{name}/config.yaml and publish it "
            "(locally the runtime publishes every project at start-up and before each upload; "
            "in AWS see README 'Deploy')"
        )
    source = f"s3://{settings.artifacts_bucket}/{key}"
    spec = model_projects.model_spec(name, parse_config(deps.store.get(found.ref), source=source))
    return _Project(spec=spec, sha256=found.sha256, published=found)


def _published(settings: TriggerSettings, deps: TriggerDeps) -> list[str]:
    names = (
        model_projects.model_of_config_key(settings.models_prefix, key)
        for key in deps.store.list_keys(settings.artifacts_bucket, settings.models_prefix)
    )
    return sorted({name for name in names if name is not None})


@dataclass(frozen=True)
class _Catalogue:
    """Every model project the run could be for: those whose configuration parses, and why the others do not."""

    projects: dict[str, _Project]
    broken: dict[str, ConfigError]
    #: The commit the configurations were read from; None: the published ones.
    commit: str | None = None

    @property
    def names(self) -> list[str]:
        return sorted({*self.projects, *self.broken})

    def require(self, name: str) -> _Project:
        if name in self.broken:
            raise self.broken[name]
        return self.projects[name]


def _catalogue(settings: TriggerSettings, deps: TriggerDeps, tree: SourceTree | None, code: CodeRef) -> _Catalogue:
    """The configurations that run: the commit's when there is a tree for it, else the published ones.

    Two valid projects claiming one endpoint or registry group is a ConfigError. A model whose
    configuration is broken is set aside with its error: it cannot run, and it must not stop the
    other models' runs (its own data arrival or push reports the error).
    """
    if tree is not None:
        return _commit_catalogue(tree, code)
    names = _published(settings, deps)
    if not names:
        raise ConfigError(
            f"no model configuration is published under s3://{settings.artifacts_bucket}/{settings.models_prefix}: "
            "publish models/<name>/config.yaml (the local runtime does this at start-up and before each upload; "
            "in AWS see README 'Deploy')"
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


def _commit_catalogue(tree: SourceTree, code: CodeRef) -> _Catalogue:
    """Every ``models/<name>/config.yaml`` of the run's commit, parsed: what the run uses, with no publish step."""
    projects: dict[str, _Project] = {}
    broken: dict[str, ConfigError] = {}
    for name in model_projects.commit_projects(tree):
        path = model_projects.repository_config_path(name)
        text = tree.read(path)
        try:
            config = parse_config(text, source=f"{path} at commit {code.commit_id[:12]}")
            spec = model_projects.model_spec(name, config)
        except ConfigError as exc:
            broken[name] = exc
            continue
        projects[name] = _Project(spec=spec, sha256=hashlib.sha256(text).hexdigest(), committed=text)
    if not projects and not broken:
        raise ConfigError(
            f"commit {code.commit_id} of {code.repository} has no model project ({model_projects.MODELS_DIR}/<name>/"
            f"{model_projects.CONFIG_FILE}): the run's configuration comes from its commit; commit the project"
        )
    model_projects.endpoint_owners({name: project.spec for name, project in projects.items()})
    return _Catalogue(projects, broken, commit=code.commit_id)


def _commit_tree(settings: TriggerSettings, deps: TriggerDeps, code: CodeRef, *, pushed: bool) -> SourceTree | None:
    """The files of the run's commit; None: the run uses the published configuration and the release's job code.

    A pushed commit is required; a data arrival's or drift run's branch head is not, and the source
    adapter decides what a missing one means (CodeCommit holds every commit; locally the head need
    not have been pushed to the hook's repository).
    """
    if code.repository != settings.code_repository:
        return None  # Prepare Data refuses the run, naming the stack's repository
    return deps.sources.source_tree(code.repository, code.commit_id, required=pushed)


def _newest_data(settings: TriggerSettings, deps: TriggerDeps, model: str) -> StoredObject:
    prefix = f"{settings.data_prefix}{model}/"
    return require_dataset(deps.store.latest_under(settings.data_bucket, prefix), settings.data_bucket, prefix)


def _main_head(settings: TriggerSettings, deps: TriggerDeps) -> CodeRef:
    commit = deps.repository.branch_head(settings.code_repository, settings.main_branch)
    return CodeRef(repository=settings.code_repository, branch=settings.main_branch, commit_id=commit)


_Plan = tuple[list[tuple[PipelineRequest, str]], list[Skipped]]


def start_pipeline(raw_event: Any, settings: TriggerSettings, deps: TriggerDeps) -> TriggerResult:
    """Normalise the event into one :class:`PipelineRequest` per model and start each under a deterministic name."""
    event = domain.parse_event(raw_event)
    if isinstance(event, domain.UploadCallEvent):
        return _record_upload(event, settings, deps)
    if isinstance(event, domain.CodeCommitPushEvent):
        planned, skipped = _plan_push(event, settings, deps)
    elif isinstance(event, domain.DriftDetectedEvent):
        planned, skipped = _plan_drift(event, settings, deps)
    else:
        planned, skipped = _plan_data_arrival(event, settings, deps)
    runs = [_start(deps, event, request, config_sha256) for request, config_sha256 in planned]
    kind = planned[0][0].trigger.kind if planned else "code-push"
    return TriggerResult(kind=kind, runs=runs, skipped=skipped)


def _plan_push(event: domain.CodeCommitPushEvent, settings: TriggerSettings, deps: TriggerDeps) -> _Plan:
    """The models whose project the commit changed (all of them when code outside ``models/`` changed)."""
    target = domain.push_target(event, settings.main_branch)
    code = CodeRef(repository=target.repository, branch=target.branch, commit_id=target.commit_id)
    tree = _commit_tree(settings, deps, code, pushed=True)
    catalogue = _catalogue(settings, deps, tree, code)
    changed = (
        deps.repository.changed_paths(target.repository, target.old_commit_id, target.commit_id)
        if target.old_commit_id
        else None
    )
    # A published model the commit no longer has is chosen too, to say why it does not run.
    candidates = sorted({*catalogue.names, *(_published(settings, deps) if tree is not None else [])})
    chosen = domain.models_for_push(changed, candidates, f"{model_projects.MODELS_DIR}/")
    trigger = TriggerInfo(
        kind="code-push",
        event_id=target.event_id,
        event_time=target.event_time,
        principal=target.principal,
        source=event.source,
        detail_type=event.detail_type,
    )
    planned: list[tuple[PipelineRequest, str]] = []
    skipped: list[Skipped] = []
    missing: list[DatasetNotFoundError] = []
    for name in chosen:
        if name in catalogue.broken:
            skipped.append(Skipped(model=name, reason=f"ConfigError: {catalogue.broken[name]}"))
            continue
        if name not in catalogue.projects:
            skipped.append(Skipped(model=name, reason=_not_in_commit(name, code)))
            continue
        try:
            data = _newest_data(settings, deps, name).ref
        except DatasetNotFoundError as exc:
            missing.append(exc)
            skipped.append(Skipped(model=name, reason=str(exc)))
            continue
        execution = domain.push_execution_name(target.repository, target.branch, target.commit_id, name)
        planned.append(_request(settings, deps, execution, trigger, catalogue.projects[name], data, code))
    if missing and not planned:
        raise missing[0]
    return planned, skipped


def _not_in_commit(name: str, code: CodeRef) -> str:
    return (
        f"UnknownModelError: {model_projects.repository_config_path(name)} is not in commit {code.commit_id[:12]} "
        f"of {code.repository}: the project was deleted (or never committed), so nothing of it runs; "
        "remove its published configuration if the model is retired"
    )


def _plan_drift(event: domain.DriftDetectedEvent, settings: TriggerSettings, deps: TriggerDeps) -> _Plan:
    """Drift: retrain the model serving the endpoint, with the main branch head on its newest data."""
    code = _main_head(settings, deps)
    catalogue = _catalogue(settings, deps, _commit_tree(settings, deps, code, pushed=False), code)
    owner = next((p for p in catalogue.projects.values() if p.spec.endpoint_name == event.detail.endpoint_name), None)
    if owner is None:
        where = f"commit {catalogue.commit[:12]}" if catalogue.commit else "the published configurations"
        raise UnknownModelError(
            f"drift on endpoint {event.detail.endpoint_name!r}, which no valid model project of {where} serves "
            f"(models: {', '.join(catalogue.projects) or 'none'}); nothing to retrain"
        )
    data = _newest_data(settings, deps, owner.spec.name).ref
    execution = domain.drift_execution_name(event.detail.endpoint_name, event.detail.monitoring_run_id)
    trigger = TriggerInfo(
        kind="drift",
        event_id=event.id,
        event_time=event.time,
        principal=MONITOR_PRINCIPAL,
        source=event.source,
        detail_type=event.detail_type,
    )
    return [_request(settings, deps, execution, trigger, owner, data, code)], []


def _plan_data_arrival(event: domain.DataArrivalEvent, settings: TriggerSettings, deps: TriggerDeps) -> _Plan:
    """A dataset under ``<data prefix><model>/``: that model, on that object version, at the main branch head."""
    bucket, key = event.detail.bucket.name, event.detail.object.key
    if bucket != settings.data_bucket or not key.startswith(settings.data_prefix):
        raise UnsupportedEventError(
            f"s3://{bucket}/{key} is outside the watched prefix s3://{settings.data_bucket}/{settings.data_prefix}"
        )
    try:
        name = model_projects.model_of_data_key(settings.data_prefix, key)
    except UnknownModelError as exc:
        raise UnknownModelError(f"{exc} (published models: {', '.join(_published(settings, deps)) or 'none'})") from exc
    code = _main_head(settings, deps)
    tree = _commit_tree(settings, deps, code, pushed=False)
    catalogue = _catalogue(settings, deps, tree, code)
    if name not in catalogue.names:
        if tree is None:
            _project(settings, deps, name)  # raises UnknownModelError naming the published models
        raise UnknownModelError(
            f"{_not_in_commit(name, code).removeprefix('UnknownModelError: ')} "
            f"(its models: {', '.join(catalogue.names)}); "
            f"data under {settings.data_prefix}{name}/ has no model to train"
        )
    project = catalogue.require(name)
    token = domain.data_version_token(event)
    data = S3Ref(bucket=bucket, key=key, version_id=event.detail.object.version_id)
    execution = domain.data_execution_name(bucket, key, token)
    trigger = TriggerInfo(
        kind="data-arrival",
        event_id=event.id,
        event_time=event.time,
        principal=event.detail.requester,
        source=event.source,
        detail_type=event.detail_type,
    )
    return [_request(settings, deps, execution, trigger, project, data, code)], []


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
    deps: TriggerDeps,
    name: str,
    trigger: TriggerInfo,
    project: _Project,
    data: S3Ref,
    code: CodeRef,
) -> tuple[PipelineRequest, str]:
    config, config_path = _pin_config(settings, deps, project)
    request = PipelineRequest(
        execution_name=name,
        trigger=trigger,
        model=project.spec,
        data=data,
        code=code,
        config=config,
        config_path=config_path,
        artifacts_prefix=f"s3://{settings.artifacts_bucket}/runs/{name}/",
    )
    return request, project.sha256


def _pin_config(settings: TriggerSettings, deps: TriggerDeps, project: _Project) -> tuple[S3Ref, str | None]:
    """The configuration every stage loads (``request.config``) and the commit's path it came from.

    A commit's file is stored under ``config/<sha256>/config.yaml`` in the artifacts bucket (its KMS
    key encrypts it), so the pinned object holds exactly the bytes the commit holds.
    """
    if project.published is not None:
        return project.published.ref, None
    assert project.committed is not None  # a project is either published or read from a commit
    key = model_projects.commit_config_key(project.sha256)
    stored = deps.store.put(settings.artifacts_bucket, key, project.committed, "application/yaml")
    if stored.sha256 != project.sha256:
        raise ArtifactNotFoundError(f"{stored.ref.pinned_uri} does not hold the configuration just stored")
    return stored.ref, model_projects.repository_config_path(project.spec.name)


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
            "config_source": request.config_path or "published",
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
