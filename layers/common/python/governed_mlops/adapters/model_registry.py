"""Model registry: SageMaker Model Registry + a DynamoDB lineage table in AWS, SQLite locally.

Registration is idempotent per execution: a retried Register Model state returns the version
the first attempt created instead of registering a second one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from botocore.exceptions import ClientError

from governed_mlops.adapters.fileio import sqlite_connection
from governed_mlops.errors import ModelVersionNotFoundError, RegistryConflictError, TransientStorageError
from governed_mlops.models import ApprovalDecision, ModelVersion, ObjectDigest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sagemaker import SageMakerClient
else:
    DynamoDBClient = SageMakerClient = Any


class ModelRegistry(Protocol):
    def register(self, draft: ModelVersion) -> ModelVersion: ...

    def get(self, model_version: str) -> ModelVersion: ...

    def list_versions(self) -> list[ModelVersion]: ...

    def latest_approved(self, model_package_group: str) -> ModelVersion | None:
        """The newest Approved version of the group (the champion), or None when it has none."""
        ...

    def record_decision(self, model_version: str, decision: ApprovalDecision) -> ModelVersion: ...

    def attach_reports(self, model_version: str, reports: dict[str, ObjectDigest]) -> ModelVersion: ...

    def record_deployment(self, model_version: str, deployment: dict[str, str]) -> ModelVersion: ...


_STATUS = {"approved": "Approved", "rejected": "Rejected", "expired": "Rejected"}


def apply_decision(record: ModelVersion, decision: ApprovalDecision) -> ModelVersion:
    """The record after a decision; the same decision twice is a no-op, a different one a conflict."""
    if record.approval is not None:
        if record.approval.approval_id == decision.approval_id and record.approval.decision == decision.decision:
            return record
        raise RegistryConflictError(
            f"{record.model_version} was already {record.approval.decision} by {record.approval.decided_by}"
        )
    return record.model_copy(update={"approval": decision, "status": _STATUS[decision.decision]})


def with_deployment(record: ModelVersion, deployment: dict[str, str]) -> ModelVersion:
    """The record with ``deployment`` appended, replacing an earlier entry for the same execution and config."""
    key = (deployment.get("execution"), deployment.get("endpoint_config"))
    kept = [d for d in record.deployments if (d.get("execution"), d.get("endpoint_config")) != key]
    return record.model_copy(update={"deployments": [*kept, deployment]})


def _with_version(draft: ModelVersion, version: str) -> ModelVersion:
    return draft.model_copy(update={"model_version": version})


_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    model_version TEXT PRIMARY KEY, model_package_group TEXT NOT NULL, version_number INTEGER NOT NULL,
    execution_name TEXT NOT NULL UNIQUE, status TEXT NOT NULL, created_at TEXT NOT NULL, record TEXT NOT NULL,
    UNIQUE (model_package_group, version_number)
)
"""


class VersionSummary(NamedTuple):
    """What ListModelPackages tells about a version: no lineage record."""

    model_version: str
    model_package_group: str
    version_number: int
    status: str
    created_at: str


class LocalModelRegistry:
    """Versions numbered per group like SageMaker model packages (``group/1``, ``group/2``...)."""

    def __init__(self, root: Path) -> None:
        self._db = root / "registry.db"
        with sqlite_connection(self._db) as conn:
            conn.execute(_SCHEMA)

    def register(self, draft: ModelVersion) -> ModelVersion:
        with sqlite_connection(self._db) as conn:
            existing = conn.execute(
                "SELECT record FROM model_versions WHERE execution_name=?", (draft.execution_name,)
            ).fetchone()
            if existing is not None:
                return _check_same_run(ModelVersion.model_validate_json(existing[0]), draft)
            (last,) = conn.execute(
                "SELECT coalesce(max(version_number), 0) FROM model_versions WHERE model_package_group=?",
                (draft.model_package_group,),
            ).fetchone()
            record = _with_version(draft, f"{draft.model_package_group}/{last + 1}").model_copy(
                update={"model_package_arn": f"local:model-package/{draft.model_package_group}/{last + 1}"}
            )
            conn.execute(
                "INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.model_version,
                    record.model_package_group,
                    last + 1,
                    record.execution_name,
                    record.status,
                    record.created_at.isoformat(),
                    record.model_dump_json(),
                ),
            )
        return record

    def get(self, model_version: str) -> ModelVersion:
        with sqlite_connection(self._db) as conn:
            row = conn.execute("SELECT record FROM model_versions WHERE model_version=?", (model_version,)).fetchone()
        if row is None:
            raise ModelVersionNotFoundError(f"no model version {model_version!r}; list them with: mlops models")
        return ModelVersion.model_validate_json(row[0])

    def attach_reports(self, model_version: str, reports: dict[str, ObjectDigest]) -> ModelVersion:
        """Add evidence published after registration (model card, HTML report); existing names are kept."""
        with sqlite_connection(self._db) as conn:
            row = conn.execute("SELECT record FROM model_versions WHERE model_version=?", (model_version,)).fetchone()
            if row is None:
                raise ModelVersionNotFoundError(f"no model version {model_version!r}")
            current = ModelVersion.model_validate_json(row[0])
            updated = current.model_copy(update={"reports": {**reports, **current.reports}})
            conn.execute(
                "UPDATE model_versions SET record=? WHERE model_version=?", (updated.model_dump_json(), model_version)
            )
        return updated

    def record_deployment(self, model_version: str, deployment: dict[str, str]) -> ModelVersion:
        """Append one deployment outcome (idempotent per execution and endpoint config)."""
        with sqlite_connection(self._db) as conn:
            row = conn.execute("SELECT record FROM model_versions WHERE model_version=?", (model_version,)).fetchone()
            if row is None:
                raise ModelVersionNotFoundError(f"no model version {model_version!r}")
            current = ModelVersion.model_validate_json(row[0])
            updated = with_deployment(current, deployment)
            conn.execute(
                "UPDATE model_versions SET record=? WHERE model_version=?", (updated.model_dump_json(), model_version)
            )
        return updated

    def record_decision(self, model_version: str, decision: ApprovalDecision) -> ModelVersion:
        with sqlite_connection(self._db) as conn:
            row = conn.execute("SELECT record FROM model_versions WHERE model_version=?", (model_version,)).fetchone()
            if row is None:
                raise ModelVersionNotFoundError(f"no model version {model_version!r}")
            updated = apply_decision(ModelVersion.model_validate_json(row[0]), decision)
            conn.execute(
                "UPDATE model_versions SET status=?, record=? WHERE model_version=?",
                (updated.status, updated.model_dump_json(), model_version),
            )
        return updated

    def list_versions(self) -> list[ModelVersion]:
        with sqlite_connection(self._db) as conn:
            rows = conn.execute(
                "SELECT record FROM model_versions ORDER BY model_package_group, version_number"
            ).fetchall()
        return [ModelVersion.model_validate_json(r[0]) for r in rows]

    def latest_approved(self, model_package_group: str) -> ModelVersion | None:
        with sqlite_connection(self._db) as conn:
            row = conn.execute(
                "SELECT record FROM model_versions WHERE model_package_group=? AND status='Approved' "
                "ORDER BY version_number DESC LIMIT 1",
                (model_package_group,),
            ).fetchone()
        return None if row is None else ModelVersion.model_validate_json(row[0])

    def version_summaries(self) -> list[VersionSummary]:
        """Every version's group, number, status and creation time, oldest first; cheap (no record parsing)."""
        with sqlite_connection(self._db) as conn:
            rows = conn.execute(
                "SELECT model_version, model_package_group, version_number, status, created_at FROM model_versions "
                "ORDER BY model_package_group, version_number"
            ).fetchall()
        return [VersionSummary(*row) for row in rows]


def _check_same_run(existing: ModelVersion, draft: ModelVersion) -> ModelVersion:
    if existing.model_artifact.sha256 != draft.model_artifact.sha256:
        raise RegistryConflictError(
            f"execution {draft.execution_name} already registered {existing.model_version} with model "
            f"sha256 {existing.model_artifact.sha256}, not {draft.model_artifact.sha256}"
        )
    return existing


class SageMakerModelRegistry:
    """A model package per version (approval status, metrics) + the full lineage record in DynamoDB."""

    def __init__(self, sagemaker: SageMakerClient, dynamodb: DynamoDBClient, table: str) -> None:
        self._sm = sagemaker
        self._ddb = dynamodb
        self._table = table

    def register(self, draft: ModelVersion) -> ModelVersion:
        evaluation = draft.reports.get("evaluation")
        request: dict[str, Any] = {
            "ModelPackageGroupName": draft.model_package_group,
            "ModelPackageDescription": f"Trained by execution {draft.execution_name}",
            # Same token on a retry returns the same package instead of creating another version.
            "ClientToken": draft.execution_name,
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [{"Image": draft.training_image, "ModelDataUrl": draft.model_artifact.ref.uri}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "CustomerMetadataProperties": {
                "execution_name": draft.execution_name,
                "commit_id": draft.code.commit_id,
                "data_sha256": draft.data.sha256,
                "source_sha256": draft.source_sha256,
                # Which commit the job code was packed from ("release": the release step's sourcedir).
                "source_commit": draft.source_commit or "release",
                # The configuration that ran; "published" when it was not read from source_commit.
                "config_sha256": draft.config.sha256,
                "config_path": draft.config_path or "published",
            },
        }
        if evaluation is not None:
            request["ModelMetrics"] = {
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation.ref.uri}}
            }
        try:
            self._sm.create_model_package_group(ModelPackageGroupName=draft.model_package_group)
        except ClientError as exc:
            if "already exists" not in str(exc):
                raise _translate(exc) from exc
        try:
            arn = self._sm.create_model_package(**request)["ModelPackageArn"]
        except ClientError as exc:
            raise _translate(exc) from exc
        record = _with_version(draft, f"{draft.model_package_group}/{arn.rsplit('/', 1)[-1]}").model_copy(
            update={"model_package_arn": arn}
        )
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "model_version": {"S": record.model_version},
                    "execution_name": {"S": record.execution_name},
                    "record": {"S": record.model_dump_json()},
                },
                ConditionExpression="attribute_not_exists(model_version)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _translate(exc) from exc
            return _check_same_run(self.get(record.model_version), draft)
        return record

    def get(self, model_version: str) -> ModelVersion:
        try:
            item = self._ddb.get_item(
                TableName=self._table, Key={"model_version": {"S": model_version}}, ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise _translate(exc) from exc
        if item is None:
            raise ModelVersionNotFoundError(f"no model version {model_version!r} in table {self._table}")
        return ModelVersion.model_validate_json(item["record"]["S"])

    def _replace(self, current: ModelVersion, updated: ModelVersion) -> None:
        """Optimistic concurrency: only the record we read may be replaced."""
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "model_version": {"S": updated.model_version},
                    "execution_name": {"S": updated.execution_name},
                    "record": {"S": updated.model_dump_json()},
                },
                ConditionExpression="#r = :old",
                ExpressionAttributeNames={"#r": "record"},
                ExpressionAttributeValues={":old": {"S": current.model_dump_json()}},
            )
        except ClientError as exc:
            raise _translate(exc) from exc

    def attach_reports(self, model_version: str, reports: dict[str, ObjectDigest]) -> ModelVersion:
        current = self.get(model_version)
        updated = current.model_copy(update={"reports": {**reports, **current.reports}})
        self._replace(current, updated)
        return updated

    def record_deployment(self, model_version: str, deployment: dict[str, str]) -> ModelVersion:
        current = self.get(model_version)
        updated = with_deployment(current, deployment)
        self._replace(current, updated)
        return updated

    def record_decision(self, model_version: str, decision: ApprovalDecision) -> ModelVersion:
        current = self.get(model_version)
        updated = apply_decision(current, decision)
        if updated is current:
            return current
        try:
            self._sm.update_model_package(
                ModelPackageArn=current.model_package_arn,
                ModelApprovalStatus=updated.status,
                ApprovalDescription=f"{decision.decision} by {decision.decided_by}: {decision.reason}"[:1024],
            )
        except ClientError as exc:
            raise _translate(exc) from exc
        self._replace(current, updated)
        return updated

    def latest_approved(self, model_package_group: str) -> ModelVersion | None:
        """The newest Approved package of the group (as the state machine's Find Latest Approved Model
        asks for it), read with its lineage record."""
        try:
            summaries = self._sm.list_model_packages(
                ModelPackageGroupName=model_package_group,
                ModelApprovalStatus="Approved",
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=1,
            )["ModelPackageSummaryList"]
        except ClientError as exc:
            # The group is created with its first version: before that there is no champion.
            message = str(exc.response.get("Error", {}).get("Message", "")).lower()
            if "does not exist" in message or "not found" in message:
                return None
            raise _translate(exc) from exc
        if not summaries:
            return None
        number = summaries[0].get("ModelPackageVersion") or summaries[0]["ModelPackageArn"].rsplit("/", 1)[-1]
        return self.get(f"{model_package_group}/{number}")

    def list_versions(self) -> list[ModelVersion]:
        records: list[ModelVersion] = []
        for page in self._ddb.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True):
            records.extend(ModelVersion.model_validate_json(i["record"]["S"]) for i in page.get("Items", []))
        return sorted(records, key=lambda r: (r.model_package_group, int(r.model_version.rsplit("/", 1)[-1])))


def _translate(exc: ClientError) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in {"ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"}:
        return TransientStorageError(f"registry: {code}")
    return exc  # type: ignore[no-any-return]  # botocore is untyped here
