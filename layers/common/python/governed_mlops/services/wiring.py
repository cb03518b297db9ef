"""Each function's dependencies, typed, built from its settings (the approval functions': approval_deps).

Every ``functions/<name>/app.py`` reads its settings once at cold start and builds one dependencies
object lazily on first use (``@cache def dependencies()``) with one of these builders; tests build
the same objects with fakes instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governed_mlops.adapters import factory
from governed_mlops.adapters.approvals import Notifier
from governed_mlops.adapters.code_repository import SourceRepository
from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import ObjectStore
from governed_mlops.adapters.pipeline import StepFunctionsPipeline
from governed_mlops.adapters.user_pool import CognitoUserPool
from governed_mlops.services.approver_session import SessionDeps
from governed_mlops.services.audit import AuditSink
from governed_mlops.services.monitoring import ResultDeps
from governed_mlops.services.monitoring_schedule import JobSettings, ScheduleDeps
from governed_mlops.services.trigger import TriggerDeps
from governed_mlops.settings import (
    ApprovalLoginSettings,
    ApproverAuthorizerSettings,
    ChampionSettings,
    MonitoringResultSettings,
    MonitoringScheduleSettings,
    MonitorSettings,
    PrepareSettings,
    RegisterSettings,
    StageSettings,
    TriggerSettings,
    VerifySettings,
)


@dataclass(frozen=True)
class StageDeps:
    """Validate Data, Prepare Data, Check Quality Gates, Check Bias Gates: the object store only."""

    store: ObjectStore


@dataclass(frozen=True)
class PrepareDeps:
    """Prepare Data: the object store and the code repository a push's job code is packed from."""

    store: ObjectStore
    sources: SourceRepository


@dataclass(frozen=True)
class ChampionDeps:
    """Compare with Champion / Check Champion Gate: artifacts, the champion's lineage, the audit ledger."""

    store: ObjectStore
    registry: ModelRegistry
    audit: AuditSink


@dataclass(frozen=True)
class RegisterDeps:
    """Register Model: artifacts, the registry, and Step Functions (the definition's sha256 for lineage)."""

    store: ObjectStore
    registry: ModelRegistry
    sfn: Any


@dataclass(frozen=True)
class VerifyDeps:
    registry: ModelRegistry
    audit: AuditSink


@dataclass(frozen=True)
class MonitorDeps:
    """Execution Monitor: the execution's history (Step Functions), the alert topic, the audit ledger."""

    sfn: Any
    notifier: Notifier
    audit: AuditSink


def stage(settings: StageSettings) -> StageDeps:
    return StageDeps(store=factory.object_store(settings))


def prepare(settings: PrepareSettings) -> PrepareDeps:
    return PrepareDeps(store=factory.object_store(settings), sources=factory.source_repository(settings))


def champion(settings: ChampionSettings) -> ChampionDeps:
    return ChampionDeps(
        store=factory.object_store(settings),
        registry=factory.model_registry(settings, settings.registry_table),
        audit=factory.audit_ledger(settings),
    )


def register(settings: RegisterSettings) -> RegisterDeps:
    return RegisterDeps(
        store=factory.object_store(settings),
        registry=factory.model_registry(settings, settings.registry_table),
        sfn=factory.client("stepfunctions", settings),
    )


def verify(settings: VerifySettings) -> VerifyDeps:
    return VerifyDeps(
        registry=factory.model_registry(settings, settings.registry_table), audit=factory.audit_ledger(settings)
    )


def monitor(settings: MonitorSettings) -> MonitorDeps:
    return MonitorDeps(
        sfn=factory.client("stepfunctions", settings),
        notifier=factory.notifier(settings, settings.alert_topic_arn),
        audit=factory.audit_ledger(settings),
    )


def trigger(settings: TriggerSettings) -> TriggerDeps:
    return TriggerDeps(
        store=factory.object_store(settings),
        repository=factory.code_repository(settings, settings.local_git_dir),
        sources=factory.source_repository(settings),
        pipeline=StepFunctionsPipeline(factory.client("stepfunctions", settings), settings.state_machine_arn),
        audit=factory.audit_ledger(settings),
    )


def approver_authorizer(settings: ApproverAuthorizerSettings) -> SessionDeps:
    """The approval API's authorizer: the pool's keys and the approval client's id (looked up by name)."""
    pool = CognitoUserPool(
        factory.client("cognito-idp", settings),
        region=settings.aws_region,
        user_pool_id=settings.approver_user_pool_id,
        client_name=settings.approval_client_name,
    )
    return SessionDeps(user_pool=pool, approver_group=settings.approver_group)


def approval_login(settings: ApprovalLoginSettings) -> SessionDeps:
    """The sign-in routes: the authorizer's checks plus the pool's domain (managed login, token endpoint)."""
    pool = CognitoUserPool(
        factory.client("cognito-idp", settings),
        region=settings.aws_region,
        user_pool_id=settings.approver_user_pool_id,
        client_name=settings.approval_client_name,
        domain_url=settings.login_domain_url,
    )
    return SessionDeps(user_pool=pool, approver_group=settings.approver_group, session_seconds=settings.session_seconds)


def monitoring_schedule(settings: MonitoringScheduleSettings) -> ScheduleDeps:
    return ScheduleDeps(
        sagemaker=factory.client("sagemaker", settings),
        store=factory.object_store(settings),
        registry=factory.model_registry(settings, settings.registry_table),
    )


def monitoring_job(settings: MonitoringScheduleSettings) -> JobSettings:
    """How the monitor's processing job runs (the template's values for the training pipeline's jobs)."""
    return JobSettings(
        artifacts_bucket=settings.artifacts_bucket,
        training_source_uri=settings.training_source_uri,
        role_arn=settings.sagemaker_role_arn,
        image_uri=settings.processing_image,
        instance_type=settings.processing_instance_type,
        kms_key_arn=settings.kms_key_arn,
        security_group_id=settings.sagemaker_security_group_id,
        subnets=tuple(s.strip() for s in settings.subnet_ids.split(",") if s.strip()),
    )


def monitoring_result(settings: MonitoringResultSettings) -> ResultDeps:
    return ResultDeps(
        store=factory.object_store(settings),
        notifier=factory.notifier(settings, settings.alert_topic_arn),
        audit=factory.audit_ledger(settings),
        events=factory.client("events", settings),
    )
