"""Per-function settings, read from the environment once at cold start.

A missing or malformed variable fails the cold start loudly with the variable's name; nothing
falls back to a plausible default. Only handlers call :meth:`FunctionSettings.from_environ`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from governed_mlops.errors import ConfigError


class FunctionSettings(BaseModel):
    """Fields every function has; ``from_environ`` maps ``field_name`` to ``FIELD_NAME``."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_min_length=1)

    #: ``aws`` in the deployed template; the local runtime sets ``local`` and a data directory.
    mlops_backend: Literal["aws", "local"]
    mlops_local_root: Path | None = None
    aws_region: str
    #: The template's Globals give every function the artifacts bucket, so every function declares it.
    artifacts_bucket: str

    @model_validator(mode="after")
    def _local_needs_root(self) -> Self:
        if self.mlops_backend == "local" and (self.mlops_local_root is None or str(self.mlops_local_root) in {"", "."}):
            raise ValueError("MLOPS_LOCAL_ROOT is required when MLOPS_BACKEND=local")
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        values = {name: environ[name.upper()] for name in cls.model_fields if name.upper() in environ}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']).upper() or cls.__name__}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"{cls.__name__} from environment: {problems}") from exc


class AuditLedgerSettings(FunctionSettings):
    """For functions that write the audit ledger: its bucket and MAC key in AWS (none locally).

    Locally the ledger lives under ``MLOPS_LOCAL_ROOT``; in AWS both variables are required, so a
    function the template forgot fails its cold start naming them, not its first audit record.
    """

    audit_bucket: str | None = None
    audit_mac_key_id: str | None = None

    @model_validator(mode="after")
    def _aws_needs_ledger(self) -> Self:
        variables = {"AUDIT_BUCKET": self.audit_bucket, "AUDIT_MAC_KEY_ID": self.audit_mac_key_id}
        missing = [name for name, value in variables.items() if value is None]
        if self.mlops_backend == "aws" and missing:
            verb = "is" if len(missing) == 1 else "are"
            raise ValueError(f"{' and '.join(missing)} {verb} required when MLOPS_BACKEND=aws")
        return self


class TriggerSettings(AuditLedgerSettings):
    state_machine_arn: str
    data_bucket: str
    data_prefix: str
    #: Model projects' configurations are published at ``<models_prefix><model>/config.yaml``.
    models_prefix: str
    main_branch: str
    code_repository: str
    #: Comma-separated ARNs of the roles whose trust policy requires sts:SourceIdentity to be the
    #: engineer's identity-provider user name (template parameter SourceIdentityRoleArns; may be empty).
    trusted_source_identity_roles: str = Field(default="", min_length=0)
    #: Local runtime only: the working repository whose HEAD is "the main branch head".
    local_git_dir: Path | None = None

    @property
    def source_identity_roles(self) -> frozenset[str]:
        return frozenset(arn.strip() for arn in self.trusted_source_identity_roles.split(",") if arn.strip())


class StageSettings(FunctionSettings):
    """Stages that read and write artifacts (validate, prepare, gates): the bucket every function has."""


class PrepareSettings(StageSettings):
    #: The release step's ``sourcedir.tar.gz`` (SageMaker script mode's submit directory) for runs
    #: that are not a push; a push's job code is packed from its commit instead.
    training_source_uri: str
    #: The one CodeCommit repository whose commits this function may pack (its policy names only it).
    code_repository: str


class RegisterSettings(StageSettings):
    registry_table: str


class ChampionSettings(StageSettings, AuditLedgerSettings):
    """Compare with Champion and Check Champion Gate: the champion's lineage, artifacts, and the audit
    ledger (an identical retrain is recorded there as ``pipeline.no_change``)."""

    registry_table: str


class ApprovalSettings(StageSettings, AuditLedgerSettings):
    """Request Approval, the Approval API and Record Approval Outcome share these."""

    approvals_table: str
    #: Days a request is kept after it expired (the stack's AuditRetentionDays), then DynamoDB's TTL removes it.
    approval_retention_days: int = Field(ge=1)
    registry_table: str
    signing_secret_id: str
    approval_topic_arn: str
    approver_group: str


class RequestApprovalSettings(ApprovalSettings):
    """Request Approval sends the signed links, so it alone knows the approval API's address."""

    approval_api_url: str


class VerifySettings(AuditLedgerSettings):
    registry_table: str


class MonitorSettings(AuditLedgerSettings):
    alert_topic_arn: str
    #: ``{name}`` / ``{arn}`` are filled in: the console in AWS, the local history page locally.
    history_url_template: str


class ApproverAuthorizerSettings(FunctionSettings):
    """The approval API's Lambda authorizer: which pool, which app client (by name), which group."""

    approver_user_pool_id: str
    #: The approval login app client's ``ClientName``; its id is looked up (see adapters.user_pool).
    approval_client_name: str
    approver_group: str


class ApprovalLoginSettings(ApproverAuthorizerSettings):
    """The sign-in routes (/auth/login, /auth/callback, /auth/logout): the pool's domain and the session length."""

    #: ``https://<prefix>.auth.<region>.amazoncognito.com``: the managed login and its token endpoint.
    login_domain_url: str
    #: Max-Age of the session cookie; the template sets it to the ID token's validity.
    session_seconds: int = Field(gt=0, le=86400)


class MonitoringScheduleSettings(StageSettings):
    """Start Monitoring: the registry, the job code, and how the monitor's processing job runs."""

    registry_table: str
    #: ``sourcedir.tar.gz`` of the job scripts (the newest version is the job's code).
    training_source_uri: str
    sagemaker_role_arn: str
    processing_image: str
    processing_instance_type: str
    kms_key_arn: str
    sagemaker_security_group_id: str
    #: Comma-separated private subnet ids the job runs in.
    subnet_ids: str


class MonitoringResultSettings(AuditLedgerSettings):
    """Monitoring Result: the alert topic and the audit ledger (events go to the default bus)."""

    alert_topic_arn: str
