"""Turn EventBridge events into pipeline requests with deterministic execution names.

Pure: no I/O. The service layer resolves the other half of a request (the current dataset
for a push, the current commit for a data arrival, both for a drift alarm) through adapters.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    S3EventNotificationEventBridgeModel,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from governed_mlops.errors import InvalidEventError, UnsupportedEventError


class CodeCommitReferenceDetail(BaseModel):
    """``detail`` of a CodeCommit "Repository State Change" event (referenceCreated/Updated)."""

    model_config = ConfigDict(extra="allow")

    event: str
    repository_name: str = Field(alias="repositoryName", min_length=1, max_length=100)
    reference_type: str = Field(alias="referenceType")
    reference_name: str = Field(alias="referenceName", min_length=1)
    commit_id: str = Field(alias="commitId", pattern=r"^[0-9a-f]{40}$")
    #: The branch's previous head; empty or absent for a new branch.
    old_commit_id: str = Field(default="", alias="oldCommitId", pattern=r"^([0-9a-f]{40})?$")
    caller_user_arn: str = Field(alias="callerUserArn", min_length=1)


class CodeCommitPushEvent(EventBridgeModel):
    source: Literal["aws.codecommit"]
    detail_type: Literal["CodeCommit Repository State Change"] = Field(alias="detail-type")
    detail: CodeCommitReferenceDetail


class DataArrivalEvent(S3EventNotificationEventBridgeModel):
    source: Literal["aws.s3"]
    detail_type: Literal["Object Created"] = Field(alias="detail-type")


UPLOAD_CALLS = frozenset({"PutObject", "CompleteMultipartUpload", "CopyObject"})


class S3ApiCallDetail(BaseModel):
    """``detail`` of an S3 data event CloudTrail delivers to EventBridge (the call that wrote an object)."""

    model_config = ConfigDict(extra="allow")

    event_source: Literal["s3.amazonaws.com"] = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    event_id: str = Field(alias="eventID", min_length=1)
    event_time: datetime = Field(alias="eventTime")
    user_identity: dict[str, Any] = Field(alias="userIdentity")
    request_parameters: dict[str, Any] = Field(alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(default=None, alias="responseElements")
    error_code: str | None = Field(default=None, alias="errorCode")


class UploadCallEvent(EventBridgeModel):
    """Who uploaded a dataset: CloudTrail's record of the PutObject behind an ``Object Created``."""

    source: Literal["aws.s3"]
    detail_type: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    detail: S3ApiCallDetail


class UploadCall(BaseModel):
    """The object an upload call wrote (bucket, key, version) and the identity that signed it."""

    bucket: str
    key: str
    version_id: str
    identity: dict[str, Any]
    event_id: str
    event_time: datetime


def upload_call(event: UploadCallEvent) -> UploadCall:
    detail = event.detail
    if detail.event_name not in UPLOAD_CALLS:
        raise UnsupportedEventError(f"S3 call {detail.event_name} writes no object (expected {sorted(UPLOAD_CALLS)})")
    if detail.error_code:
        raise UnsupportedEventError(f"{detail.event_name} failed ({detail.error_code}): it uploaded nothing")
    bucket, key = detail.request_parameters.get("bucketName"), detail.request_parameters.get("key")
    version = (detail.response_elements or {}).get("x-amz-version-id")
    if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
        raise InvalidEventError(f"{detail.event_name} event without requestParameters.bucketName and .key")
    if not (isinstance(version, str) and version):
        raise InvalidEventError(
            f"{detail.event_name} of s3://{bucket}/{key} has no responseElements.x-amz-version-id "
            "(the data bucket must be versioned)"
        )
    return UploadCall(
        bucket=bucket,
        key=key,
        version_id=version,
        identity=detail.user_identity,
        event_id=detail.event_id,
        event_time=detail.event_time,
    )


def upload_evidence_key(bucket: str, key: str, version_id: str) -> str:
    """Where the audit bucket keeps who wrote ``s3://bucket/key?versionId=version_id``."""
    return f"uploads/{_short_hash(bucket, key, version_id)}.json"


DRIFT_SOURCE = "governed-mlops.monitoring"
DRIFT_DETAIL_TYPE = "Model Drift Detected"


class DriftDetectedDetail(BaseModel):
    """``detail`` of the custom event the model monitor puts on the bus when captured traffic drifts."""

    model_config = ConfigDict(extra="allow")

    endpoint_name: str = Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
    model_version: str = Field(min_length=1, max_length=200)
    violations_report: str = Field(pattern=r"^s3://[^/]+/.+", max_length=1024)
    drifted_features: list[str]
    monitoring_run_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")


class DriftDetectedEvent(EventBridgeModel):
    source: Literal["governed-mlops.monitoring"]
    detail_type: Literal["Model Drift Detected"] = Field(alias="detail-type")
    detail: DriftDetectedDetail


PipelineEvent = CodeCommitPushEvent | DataArrivalEvent | DriftDetectedEvent | UploadCallEvent

_KINDS: dict[tuple[str, str], type[PipelineEvent]] = {
    ("aws.codecommit", "CodeCommit Repository State Change"): CodeCommitPushEvent,
    ("aws.s3", "Object Created"): DataArrivalEvent,
    ("aws.s3", "AWS API Call via CloudTrail"): UploadCallEvent,
    (DRIFT_SOURCE, DRIFT_DETAIL_TYPE): DriftDetectedEvent,
}


def parse_event(raw: Any) -> PipelineEvent:
    """Parse a raw EventBridge event; a known kind with a bad shape is InvalidEventError."""
    if not isinstance(raw, dict):
        raise InvalidEventError(f"an EventBridge event is a JSON object, got {type(raw).__name__}")
    kind = (raw.get("source"), raw.get("detail-type"))
    # A list or object under source / detail-type is not a kind we know (and not hashable).
    hashable = all(isinstance(part, str) for part in kind)
    model = _KINDS.get(kind) if hashable else None  # type: ignore[arg-type]
    if model is None:
        raise UnsupportedEventError(
            f"events with source={kind[0]!r} and detail-type={kind[1]!r} do not start the pipeline; "
            "expected a CodeCommit push, an S3 Object Created, its CloudTrail upload call or a Model Drift "
            "Detected event"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise InvalidEventError(f"malformed {kind[1]} event: {problems}") from exc


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def push_execution_name(repository: str, branch: str, commit_id: str, model: str) -> str:
    """``push-<commit[:16]>-<8 hex>``: one execution per (repository, branch, commit, model)."""
    return f"push-{commit_id[:16]}-{_short_hash(repository, branch, commit_id, model)[:8]}"


def models_for_push(changed: list[str] | None, models: list[str], models_dir: str = "models/") -> list[str]:
    """Which models a push retrains: those whose project changed, or all if shared code changed.

    ``changed`` is None when the commit range is unknown (a new branch, a force push to an unknown
    commit): then every model retrains, as for a change of shared code. A path under
    ``models/<other>/`` of a model that is not published changes nothing.
    """
    if changed is None:
        return sorted(models)
    chosen: set[str] = set()
    for path in changed:
        if not path.startswith(models_dir):
            return sorted(models)
        name = path[len(models_dir) :].split("/", 1)[0]
        if name in models:
            chosen.add(name)
    return sorted(chosen)


def data_execution_name(bucket: str, key: str, version_or_sequencer: str) -> str:
    """``data-<24 hex>`` of bucket, key and version id (or sequencer on unversioned buckets)."""
    return f"data-{_short_hash(bucket, key, version_or_sequencer)[:24]}"


def drift_execution_name(endpoint_name: str, monitoring_run_id: str) -> str:
    """``drift-<24 hex>`` of endpoint and monitoring run: one retraining per drift finding."""
    return f"drift-{_short_hash(endpoint_name, monitoring_run_id)[:24]}"


class PushTarget(BaseModel):
    """What a push event says, after checking it is for the watched branch."""

    repository: str
    branch: str
    commit_id: str
    old_commit_id: str
    principal: str
    event_id: str
    event_time: datetime


def push_target(event: CodeCommitPushEvent, main_branch: str) -> PushTarget:
    detail = event.detail
    if detail.reference_type != "branch" or detail.reference_name != main_branch:
        raise UnsupportedEventError(
            f"push to {detail.reference_type} {detail.reference_name!r} ignored: only {main_branch!r} "
            "triggers the pipeline (check the rule's event pattern)"
        )
    if detail.event not in {"referenceCreated", "referenceUpdated"}:
        raise UnsupportedEventError(f"CodeCommit event {detail.event!r} does not carry a new commit")
    return PushTarget(
        repository=detail.repository_name,
        branch=detail.reference_name,
        commit_id=detail.commit_id,
        old_commit_id=detail.old_commit_id,
        principal=detail.caller_user_arn,
        event_id=event.id,
        event_time=event.time,
    )


def data_version_token(event: DataArrivalEvent) -> str:
    obj = event.detail.object
    token = obj.version_id or obj.sequencer
    if not token:
        raise InvalidEventError("Object Created event has neither version-id nor sequencer")
    return token
