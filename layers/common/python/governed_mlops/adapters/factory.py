"""Build adapters from settings: boto3 clients in AWS, on-disk stores under the local runtime.

This is the one place where "local" and "aws" differ for the handlers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from governed_mlops.adapters.approvals import (
    ApprovalStore,
    DynamoDBApprovalStore,
    FileSecret,
    LocalApprovalStore,
    LocalOutbox,
    Notifier,
    SecretsManagerSecret,
    SnsNotifier,
)
from governed_mlops.adapters.audit_ledger import AUDIT_PREFIX, AuditLedger, LocalAuditLedger, load_or_create_key
from governed_mlops.adapters.audit_ledger_s3 import S3AuditLedger
from governed_mlops.adapters.code_repository import (
    CodeCommitRepository,
    CodeRepository,
    LocalCodeCommit,
    LocalGitRepository,
    SourceRepository,
)
from governed_mlops.adapters.model_registry import LocalModelRegistry, ModelRegistry, SageMakerModelRegistry
from governed_mlops.adapters.object_store import CatalogueStore, LocalObjectStore, S3ObjectStore
from governed_mlops.settings import AuditLedgerSettings, FunctionSettings


def _local_root(settings: FunctionSettings) -> Path:
    assert settings.mlops_local_root is not None  # guaranteed by FunctionSettings validation
    return settings.mlops_local_root


def client(service: str, settings: FunctionSettings) -> Any:
    """A boto3 client in the function's region (locally these reach moto inside the runtime)."""
    return boto3.client(service, region_name=settings.aws_region)


def object_store(settings: FunctionSettings) -> CatalogueStore:
    if settings.mlops_backend == "local":
        return LocalObjectStore(_local_root(settings))
    return S3ObjectStore(client("s3", settings))


def model_registry(settings: FunctionSettings, table: str) -> ModelRegistry:
    if settings.mlops_backend == "local":
        return LocalModelRegistry(_local_root(settings))
    return SageMakerModelRegistry(client("sagemaker", settings), client("dynamodb", settings), table)


def code_repository(settings: FunctionSettings, local_path: Path | None = None) -> CodeRepository:
    if settings.mlops_backend == "local":
        return LocalGitRepository(local_path or Path.cwd())
    return CodeCommitRepository(client("codecommit", settings))


def source_repository(settings: FunctionSettings) -> SourceRepository:
    """Where a pushed commit's files are read: CodeCommit in AWS, the git hook's repositories locally."""
    if settings.mlops_backend == "local":
        return LocalCodeCommit(_local_root(settings))
    return CodeCommitRepository(client("codecommit", settings))


def approval_store(settings: FunctionSettings, table: str, *, retention_days: int) -> ApprovalStore:
    if settings.mlops_backend == "local":
        return LocalApprovalStore(_local_root(settings))  # a local request file is never deleted
    return DynamoDBApprovalStore(client("dynamodb", settings), table, retention_days=retention_days)


def signing_secret(settings: FunctionSettings, secret_id: str) -> FileSecret | SecretsManagerSecret:
    if settings.mlops_backend == "local":
        return FileSecret(_local_root(settings) / "secrets" / "approval-signing.key")
    return SecretsManagerSecret(client("secretsmanager", settings), secret_id)


def notifier(settings: FunctionSettings, topic_arn: str) -> Notifier:
    if settings.mlops_backend == "local":
        return LocalOutbox(_local_root(settings))
    return SnsNotifier(client("sns", settings), topic_arn)


def audit_ledger(settings: AuditLedgerSettings) -> AuditLedger:
    """The append-only, hash-chained audit ledger (a JSONL file locally; S3 Object Lock + KMS in AWS)."""
    if settings.mlops_backend == "local":
        root = _local_root(settings)
        return LocalAuditLedger(root, load_or_create_key(root))
    # Both are guaranteed by AuditLedgerSettings validation when the backend is "aws".
    assert settings.audit_bucket is not None
    assert settings.audit_mac_key_id is not None
    return S3AuditLedger(
        client("s3", settings), settings.audit_bucket, AUDIT_PREFIX, client("kms", settings), settings.audit_mac_key_id
    )
