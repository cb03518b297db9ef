"""Trigger: an EventBridge event (push, data arrival, drift alarm) in, at most one pipeline execution out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from governed_mlops.adapters.code_repository import CodeRepository
from governed_mlops.adapters.object_store import ObjectStore, require_dataset
from governed_mlops.adapters.pipeline import Pipeline
from governed_mlops.domain import trigger as domain
from governed_mlops.domain.audit import JsonScalar
from governed_mlops.errors import ConfigError, UnsupportedEventError
from governed_mlops.models import CodeRef, PipelineRequest, S3Ref, TriggerInfo
from governed_mlops.services.audit import AuditSink
from governed_mlops.settings import TriggerSettings

#: Who a drift-triggered retraining is attributed to (the monitor, not a person).
MONITOR_PRINCIPAL = "system:model-monitor"


@dataclass(frozen=True)
class TriggerDeps:
    store: ObjectStore
    repository: CodeRepository
    pipeline: Pipeline
    audit: AuditSink


class TriggerResult(BaseModel):
    status: Literal["started", "duplicate"]
    execution_name: str
    execution_arn: str
    kind: str


def start_pipeline(raw_event: Any, settings: TriggerSettings, deps: TriggerDeps) -> TriggerResult:
    """Normalise the event into a :class:`PipelineRequest` and start it under a deterministic name."""
    event = domain.parse_event(raw_event)
    config = deps.store.latest_under(settings.artifacts_bucket, settings.config_key)
    if config is None or config.ref.key != settings.config_key:
        raise ConfigError(
            f"pipeline configuration s3://{settings.artifacts_bucket}/{settings.config_key} is missing: "
            "upload it (the local runtime does this at start-up; in AWS see README 'Deploy')"
        )
    if isinstance(event, domain.CodeCommitPushEvent):
        target = domain.push_target(event, settings.main_branch)
        data = require_dataset(
            deps.store.latest_under(settings.data_bucket, settings.data_prefix),
            settings.data_bucket,
            settings.data_prefix,
        ).ref
        code = CodeRef(repository=target.repository, branch=target.branch, commit_id=target.commit_id)
        name = domain.push_execution_name(target.repository, target.branch, target.commit_id)
        trigger = TriggerInfo(
            kind="code-push",
            event_id=target.event_id,
            event_time=target.event_time,
            principal=target.principal,
            source=event.source,
            detail_type=event.detail_type,
        )
    elif isinstance(event, domain.DriftDetectedEvent):
        # Drift: retrain the current code (as a data arrival does) on the newest data (as a push does).
        data = require_dataset(
            deps.store.latest_under(settings.data_bucket, settings.data_prefix),
            settings.data_bucket,
            settings.data_prefix,
        ).ref
        commit = deps.repository.branch_head(settings.code_repository, settings.main_branch)
        code = CodeRef(repository=settings.code_repository, branch=settings.main_branch, commit_id=commit)
        name = domain.drift_execution_name(event.detail.endpoint_name, event.detail.monitoring_run_id)
        trigger = TriggerInfo(
            kind="drift",
            event_id=event.id,
            event_time=event.time,
            principal=MONITOR_PRINCIPAL,
            source=event.source,
            detail_type=event.detail_type,
        )
    else:
        bucket, key = event.detail.bucket.name, event.detail.object.key
        if bucket != settings.data_bucket or not key.startswith(settings.data_prefix):
            raise UnsupportedEventError(
                f"s3://{bucket}/{key} is outside the watched prefix s3://{settings.data_bucket}/{settings.data_prefix}"
            )
        token = domain.data_version_token(event)
        data = S3Ref(bucket=bucket, key=key, version_id=event.detail.object.version_id)
        commit = deps.repository.branch_head(settings.code_repository, settings.main_branch)
        code = CodeRef(repository=settings.code_repository, branch=settings.main_branch, commit_id=commit)
        name = domain.data_execution_name(bucket, key, token)
        trigger = TriggerInfo(
            kind="data-arrival",
            event_id=event.id,
            event_time=event.time,
            principal=event.detail.requester,
            source=event.source,
            detail_type=event.detail_type,
        )
    request = PipelineRequest(
        execution_name=name,
        trigger=trigger,
        data=data,
        code=code,
        config=config.ref,
        artifacts_prefix=f"s3://{settings.artifacts_bucket}/runs/{name}/",
    )
    outcome = deps.pipeline.start(name, request.model_dump(mode="json"))
    if outcome.started:
        details: dict[str, JsonScalar] = {
            "kind": trigger.kind,
            "event_id": trigger.event_id,
            "commit": code.commit_id,
            "repository": code.repository,
            "data": data.pinned_uri,
        }
        if isinstance(event, domain.DriftDetectedEvent):
            details |= {
                "endpoint": event.detail.endpoint_name,
                "serving_model_version": event.detail.model_version,
                "monitoring_run_id": event.detail.monitoring_run_id,
                "drifted_features": ",".join(event.detail.drifted_features),
                "violations_report": event.detail.violations_report,
            }
        deps.audit.append(
            trigger.principal,
            "pipeline.triggered",
            name,
            details,
            {"config": config.sha256},
        )
    return TriggerResult(
        status="started" if outcome.started else "duplicate",
        execution_name=name,
        execution_arn=outcome.execution_arn,
        kind=trigger.kind,
    )
