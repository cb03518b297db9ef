"""Pydantic models for what crosses a boundary: events in, stage payloads, records out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field

from governed_mlops.errors import InvalidEventError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class S3Ref(_Model):
    """A pinned object: bucket, key and (on versioned buckets) the version id."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def pinned_uri(self) -> str:
        suffix = f"?versionId={quote(self.version_id)}" if self.version_id else ""
        return f"{self.uri}{suffix}"

    @classmethod
    def from_uri(cls, uri: str) -> S3Ref:
        """Parse ``s3://bucket/key[?versionId=V]``."""
        if not uri.startswith("s3://"):
            raise InvalidEventError(f"not an s3:// URI: {uri!r}")
        rest, _, query = uri[5:].partition("?versionId=")
        bucket, _, key = rest.partition("/")
        if not bucket or not key:
            raise InvalidEventError(f"s3 URI needs a bucket and a key: {uri!r}")
        return cls(bucket=bucket, key=key, version_id=unquote(query) if query else None)


class CodeRef(_Model):
    repository: str
    branch: str
    commit_id: str = Field(pattern=r"^[0-9a-f]{7,64}$")


class TriggerInfo(_Model):
    kind: Literal["code-push", "data-arrival", "drift", "manual"]
    event_id: str
    event_time: datetime
    principal: str = Field(description="Who caused the event: the pusher's ARN / name, or the uploader.")
    source: str
    detail_type: str


class ModelSpec(_Model):
    """Which model a run is for, resolved from its project's config by the trigger.

    The state machine takes the endpoint, registry group and approval policy from here, so one stack
    serves many models without two runs of different models touching each other's resources.
    """

    name: str = Field(pattern=r"^[a-z0-9](-?[a-z0-9]){0,40}$")
    endpoint_name: str = Field(pattern=r"^[a-z0-9](-?[a-z0-9]){0,40}$")
    model_package_group: str = Field(pattern=r"^[a-z0-9](-?[a-z0-9]){0,40}$")
    approvers_group: str
    risk_tier: Literal["high", "medium", "low"]
    #: Distinct approvers needed (2 high, 1 medium, 0 low: approved automatically, still gated).
    approvals_required: int = Field(ge=0, le=2)
    #: The canary alarms of this model's endpoint.
    max_latency_us: int = Field(gt=0, description="p99 model latency limit in microseconds (CloudWatch's unit).")
    min_positive_rate: float
    max_positive_rate: float


class PipelineRequest(_Model):
    """The execution input: everything a run needs, pinned, so the run can be reproduced."""

    execution_name: str = Field(pattern=r"^[A-Za-z0-9-]{1,40}$")
    trigger: TriggerInfo
    model: ModelSpec
    data: S3Ref
    code: CodeRef
    config: S3Ref
    artifacts_prefix: str = Field(pattern=r"^s3://[^/]+/.+/$")
    #: The repository path ``config`` was read from at ``code.commit_id`` (``models/<name>/config.yaml``): the
    #: run is the commit's, configuration and job code. None: the published configuration and the release's
    #: job code (locally, a run no ``mlops git-hook install`` repository holds the commit of).
    config_path: str | None = Field(default=None, pattern=r"^models/[a-z0-9-]+/config\.yaml$")


class ObjectDigest(_Model):
    ref: S3Ref
    sha256: str
    size: int


class ValidationIssue(_Model):
    check: str
    column: str | None = None
    message: str


class ValidationReport(_Model):
    dataset: ObjectDigest
    config_sha256: str
    passed: bool
    rows: int
    columns: list[str]
    issues: list[ValidationIssue]
    statistics: dict[str, dict[str, float | int | str | None]] = Field(default_factory=dict)


class StageResult(_Model):
    """What a stage hands to the next: a summary plus where its report is."""

    report: S3Ref
    report_sha256: str
    summary: dict[str, float | int | str | bool | None] = Field(default_factory=dict)


class PreparedData(_Model):
    train: S3Ref
    test: S3Ref
    job_config: S3Ref
    source: S3Ref = Field(description="The job code (sourcedir.tar.gz), pinned by version.")
    #: The commit the job code was packed from (``source/<sha256>/sourcedir.tar.gz``: every run in AWS, a push
    #: through the local git hook); None when the run uses the release step's sourcedir (locally, a run whose
    #: commit no ``mlops git-hook install`` repository holds).
    source_commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    channels: dict[str, str] = Field(description="Channel name -> S3 URI, as the SageMaker jobs take them.")
    hyperparameters: dict[str, str]
    train_rows: int
    test_rows: int


class ChampionOutcome(_Model):
    """What Compare with Champion found (and, after Check Champion Gate, the comparison's report).

    ``FirstVersion``: the group has no approved version. ``NoChange``: data, job code and configuration
    have the champion's sha256 (the run ends). ``Challenge``: the run trains a challenger that is scored
    against the champion. ``Incomparable``: the champion predicts another target or label, or needs
    features the challenger's data lacks (``comparison`` says why).
    """

    outcome: Literal["FirstVersion", "NoChange", "Challenge", "Incomparable"]
    model_package_group: str
    reason: str
    #: The champion's model version and artifact (None for FirstVersion).
    champion: str | None = None
    champion_artifact: str | None = None
    comparison: StageResult | None = None


class ApproverSignoff(_Model):
    """One person's approval of a request that needs more than one (part of ApprovalRecord/ApprovalDecision)."""

    approver: str
    approved_at: datetime
    reason: str = ""


class ApprovalDecision(_Model):
    """Who decided about a model version, when, and why (part of its lineage).

    ``approvers`` lists every person whose approval counted (two for a high-risk model); ``decided_by``
    names them all. Records written before risk tiers have no tier, policy or approvers list.
    """

    approval_id: str
    decision: Literal["approved", "rejected", "expired"]
    decided_by: str
    decided_at: datetime
    reason: str = ""
    evidence_sha256: dict[str, str] = Field(default_factory=dict)
    approvers: list[ApproverSignoff] = Field(default_factory=list)
    risk_tier: Literal["high", "medium", "low"] | None = None
    #: Distinct approvals the policy required (0: approved automatically for a low-risk model).
    approvals_required: int | None = Field(default=None, ge=0, le=2)
    #: The approval policy applied, in words.
    policy: str = ""


class ApprovalRecord(_Model):
    """A pending or decided approval. The task token is held encrypted by the store, never here."""

    approval_id: str
    execution_name: str
    execution_arn: str
    model_version: str
    triggered_by: str
    trigger_kind: str
    requested_at: datetime
    expires_at: datetime
    status: Literal["pending", "approved", "rejected", "expired"]
    evidence: dict[str, str] = Field(default_factory=dict, description="name -> sha256 of what the approver saw")
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    #: The model and its approval policy (None on requests made before risk tiers: one approver from
    #: the stack's approvers group).
    model_name: str | None = None
    risk_tier: Literal["high", "medium", "low"] | None = None
    approvers_group: str | None = None
    #: Distinct approvers needed before the execution resumes; ``approvals`` are those received so far.
    approvals_required: int = Field(default=1, ge=1, le=2)
    approvals: list[ApproverSignoff] = Field(default_factory=list)
    #: The person who caused the run, resolved from the trigger principal (None: none could be, and
    #: the policy asked for two approvers); ``originator_evidence`` says how, or why not. Both None
    #: on requests made before originators were resolved.
    originator: str | None = None
    originator_evidence: str | None = None


class ModelVersion(_Model):
    """One registered model version and everything that produced it (its lineage)."""

    model_version: str
    model_package_group: str
    model_package_arn: str | None = None
    status: Literal["PendingManualApproval", "Approved", "Rejected"]
    created_at: datetime
    execution_name: str
    trigger: TriggerInfo
    data: ObjectDigest
    code: CodeRef
    config: ObjectDigest
    model_artifact: ObjectDigest
    training_job_name: str
    training_image: str
    source_sha256: str
    source: ObjectDigest | None = None
    #: The commit ``source_sha256`` was packed from (equal to ``code.commit_id``): ``mlops reproduce``
    #: packs it again and refuses when the digests differ. None: the release step's sourcedir was used.
    source_commit: str | None = None
    #: The file of ``source_commit`` the run's configuration was read from: ``config.sha256`` is the digest of
    #: that file's bytes at that commit, so the commit binds both digests (``mlops reproduce`` checks both).
    #: None: the published configuration was used (and ``source_commit`` is None too).
    config_path: str | None = None
    definition_sha256: str | None = None
    #: The published state machine version the execution ran (its alias's target), when started through one.
    state_machine_version_arn: str | None = None
    hyperparameters: dict[str, str]
    seed: int
    library_versions: dict[str, str]
    metrics: dict[str, float]
    reports: dict[str, ObjectDigest]
    approval: ApprovalDecision | None = None
    deployments: list[dict[str, str]] = Field(default_factory=list)


class TrainingOutput(_Model):
    """Selected from DescribeTrainingJob by the ASL's ResultSelector."""

    training_job_name: str
    model_artifact: str
    training_image: str
    hyperparameters: dict[str, str]
    output_path: str


class StageEvent(_Model):
    """Payload every stage Lambda receives (built by the ASL's ``Parameters``)."""

    execution_name: str
    execution_arn: str = ""
    state_machine_arn: str = ""
    request: PipelineRequest
    validation: StageResult | None = None
    prepared: PreparedData | None = None
    training: TrainingOutput | None = None
    evaluation_uri: str | None = None
    gates: StageResult | None = None
    bias_pre_uri: str | None = None
    bias_post_uri: str | None = None
    explain_uri: str | None = None
    bias_stage: Literal["pre", "post"] | None = None
    #: Compare with Champion ("identify") or Check Champion Gate ("gate"): one function, two states.
    champion_stage: Literal["identify", "gate"] | None = None
    champion: ChampionOutcome | None = None
    champion_evaluation_uri: str | None = None


class RegistrationOutput(_Model):
    """Register Model's result."""

    model_version: str
    status: Literal["PendingManualApproval", "Approved", "Rejected"]


class ApprovalRequested(_Model):
    """Request Approval's own return value; the state's result is the decision sent with the token."""

    approval_id: str
    expires_at: str


class OutcomeOutput(_Model):
    """Record Approval / Automatic Approval / Rejection / Approval Expired's result."""

    model_version: str
    status: str
    decision: Literal["approved", "rejected", "expired"]
    #: One line the Fail states "Model Rejected" / "Approval Expired" use as the execution's cause.
    cause: str


class DeploymentOutput(_Model):
    """Verify Deployment / Record Superseded Deployment's result (also kept in the model's lineage)."""

    endpoint: str
    endpoint_config: str
    serving_config: str
    status: str
    time: str
    execution: str
    reason: str | None = None
    superseded_by: str | None = None


class MonitoringScheduleInput(_Model):
    """The schedule's ``Input`` to Start Monitoring: optionally the endpoints to monitor (default: every one)."""

    endpoints: list[str] | None = Field(default=None, min_length=1)


class ProcessingJobStateChange(BaseModel):
    """EventBridge's ``SageMaker Processing Job State Change`` event (``detail`` is DescribeProcessingJob's shape)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Processing Job State Change"] = Field(alias="detail-type")
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(min_length=1)
    detail: dict[str, Any]
