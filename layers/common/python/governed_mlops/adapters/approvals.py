"""Approval state: the pending request and its (encrypted) task token, the signing secret, notifications.

AWS: a DynamoDB table encrypted with the stack's customer-managed KMS key, a Secrets Manager
secret and an SNS topic. Local: SQLite with the token sealed by AES-GCM under a key file, a
secret file, and an outbox directory with one JSON file per message.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from governed_mlops.adapters.fileio import atomic_write, sqlite_connection
from governed_mlops.domain import approval as rules
from governed_mlops.errors import ApprovalAlreadyDecided, ApprovalNotFound, ConfigError, TransientStorageError
from governed_mlops.models import ApprovalRecord, ApproverSignoff

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
else:
    DynamoDBClient = SecretsManagerClient = SNSClient = Any


class ApprovalStore(Protocol):
    def create(self, record: ApprovalRecord, task_token: str) -> None: ...

    def get(self, approval_id: str) -> ApprovalRecord: ...

    def task_token(self, approval_id: str) -> str: ...

    def rebind_token(self, approval_id: str, task_token: str) -> None: ...

    def decide(self, approval_id: str, status: str, decided_by: str, reason: str, at: datetime) -> ApprovalRecord: ...

    def add_approval(self, approval_id: str, signoff: ApproverSignoff) -> ApprovalRecord:
        """Record one distinct approval (:func:`rules.with_signoff`) as a conditional write.

        Of concurrent writers, each sees the record the other left or loses the condition and
        reads again, so two concurrent last approvals complete the request once.
        """
        ...

    def reopen(self, approval_id: str, withdraw: str | None) -> ApprovalRecord:
        """Pending and undecided again, without the approval of ``withdraw`` (the execution could not take it)."""
        ...

    def set_status(self, approval_id: str, status: str) -> ApprovalRecord: ...

    def list_records(self) -> list[ApprovalRecord]: ...

    def records_for_execution(self, execution_name: str) -> list[ApprovalRecord]:
        """This execution's requests, newest first (a key lookup: never a scan of every request)."""
        ...


#: The approvals table's index by execution (template.yaml, ApprovalsTable).
EXECUTION_INDEX = "ByExecution"

#: Reads-and-conditional-writes an approval gets before it gives up (each lost race means another
#: approver's write landed in between; with at most two approvers, three attempts always settle).
_CAS_ATTEMPTS = 3


def _decided(record: ApprovalRecord, status: str, decided_by: str, reason: str, at: datetime) -> ApprovalRecord:
    return record.model_copy(update={"status": status, "decided_by": decided_by, "reason": reason, "decided_at": at})


def read_or_create_secret(path: Path, size: int = 32) -> bytes:
    """A local secret file (mode 0600), created with random bytes on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(size))
    return path.read_bytes()


_SCHEMA = """CREATE TABLE IF NOT EXISTS approvals (
    approval_id TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL,
    token_nonce BLOB NOT NULL, token_sealed BLOB NOT NULL)"""


class LocalApprovalStore:
    """SQLite; the task token is sealed with AES-256-GCM (key file under secrets/, mode 0600)."""

    def __init__(self, root: Path) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415 - only the local store seals tokens itself; Lambdas importing this module do not load cryptography

        self._db = root / "approvals.db"
        self._aead = AESGCM(read_or_create_secret(root / "secrets" / "approval-token.key"))
        with sqlite_connection(self._db) as conn:
            conn.execute(_SCHEMA)

    def create(self, record: ApprovalRecord, task_token: str) -> None:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, task_token.encode(), record.approval_id.encode())
        with sqlite_connection(self._db) as conn:
            conn.execute(
                "INSERT INTO approvals VALUES (?, ?, ?, ?, ?)",
                (record.approval_id, record.status, record.model_dump_json(), nonce, sealed),
            )

    def _row(self, conn: sqlite3.Connection, approval_id: str) -> tuple[Any, ...]:
        row = conn.execute(
            "SELECT record, token_nonce, token_sealed FROM approvals WHERE approval_id=?", (approval_id,)
        ).fetchone()
        if row is None:
            raise ApprovalNotFound("no such approval request; check the link, or list them with: mlops approvals")
        return tuple(row)

    def get(self, approval_id: str) -> ApprovalRecord:
        with sqlite_connection(self._db) as conn:
            return ApprovalRecord.model_validate_json(self._row(conn, approval_id)[0])

    def task_token(self, approval_id: str) -> str:
        with sqlite_connection(self._db) as conn:
            _, nonce, sealed = self._row(conn, approval_id)
        return str(self._aead.decrypt(nonce, sealed, approval_id.encode()).decode())

    def rebind_token(self, approval_id: str, task_token: str) -> None:
        """Seal the token of a redriven waiting state to a request still pending (else ApprovalAlreadyDecided)."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, task_token.encode(), approval_id.encode())
        with sqlite_connection(self._db) as conn:
            self._row(conn, approval_id)
            changed = conn.execute(
                "UPDATE approvals SET token_nonce=?, token_sealed=? WHERE approval_id=? AND status='pending'",
                (nonce, sealed, approval_id),
            ).rowcount
        if changed != 1:
            raise ApprovalAlreadyDecided(f"approval {approval_id[:8]}… is no longer pending")

    def decide(self, approval_id: str, status: str, decided_by: str, reason: str, at: datetime) -> ApprovalRecord:
        """Compare-and-set pending -> decided: of two concurrent decisions exactly one wins."""
        with sqlite_connection(self._db) as conn:
            record = ApprovalRecord.model_validate_json(self._row(conn, approval_id)[0])
            updated = _decided(record, status, decided_by, reason, at)
            changed = conn.execute(
                "UPDATE approvals SET status=?, record=? WHERE approval_id=? AND status='pending'",
                (status, updated.model_dump_json(), approval_id),
            ).rowcount
        if changed != 1:
            raise ApprovalAlreadyDecided(f"approval {approval_id[:8]}… was already {record.status}")
        return updated

    def add_approval(self, approval_id: str, signoff: ApproverSignoff) -> ApprovalRecord:
        """One write transaction (BEGIN IMMEDIATE): read, apply the rule, write only over what was read."""
        with sqlite_connection(self._db) as conn:
            seen = self._row(conn, approval_id)[0]
            updated = rules.with_signoff(ApprovalRecord.model_validate_json(seen), signoff)
            changed = conn.execute(
                "UPDATE approvals SET status=?, record=? WHERE approval_id=? AND status='pending' AND record=?",
                (updated.status, updated.model_dump_json(), approval_id, seen),
            ).rowcount
        if changed != 1:  # not reachable while the transaction holds the write lock; kept as the invariant
            raise ApprovalAlreadyDecided(f"approval {approval_id[:8]}… changed while it was being approved")
        return updated

    def reopen(self, approval_id: str, withdraw: str | None) -> ApprovalRecord:
        with sqlite_connection(self._db) as conn:
            updated = rules.reopened(ApprovalRecord.model_validate_json(self._row(conn, approval_id)[0]), withdraw)
            conn.execute(
                "UPDATE approvals SET status=?, record=? WHERE approval_id=?",
                (updated.status, updated.model_dump_json(), approval_id),
            )
        return updated

    def set_status(self, approval_id: str, status: str) -> ApprovalRecord:
        with sqlite_connection(self._db) as conn:
            record = ApprovalRecord.model_validate_json(self._row(conn, approval_id)[0])
            updated = record.model_copy(update={"status": status})
            conn.execute(
                "UPDATE approvals SET status=?, record=? WHERE approval_id=?",
                (status, updated.model_dump_json(), approval_id),
            )
        return updated

    def list_records(self) -> list[ApprovalRecord]:
        with sqlite_connection(self._db) as conn:
            rows = conn.execute("SELECT record FROM approvals").fetchall()
        records = [ApprovalRecord.model_validate_json(r[0]) for r in rows]
        return sorted(records, key=lambda r: r.requested_at, reverse=True)

    def records_for_execution(self, execution_name: str) -> list[ApprovalRecord]:
        return [r for r in self.list_records() if r.execution_name == execution_name]


class DynamoDBApprovalStore:
    """The table is encrypted at rest with the stack's KMS key; the token is an attribute of the item.

    ``retention_days``: how long a request outlives its expiry before DynamoDB's TTL removes it (the
    audit retention period: who was asked, who decided and why stay readable as long as the audit
    ledger). A store built without it reads and decides but refuses to create requests.
    """

    def __init__(self, client: DynamoDBClient, table: str, *, retention_days: int | None = None) -> None:
        if retention_days is not None and retention_days < 1:
            raise ConfigError(f"approval retention must be at least one day, not {retention_days}")
        self._ddb = client
        self._table = table
        self._retention_days = retention_days

    def _item(self, approval_id: str) -> dict[str, Any]:
        try:
            item = self._ddb.get_item(
                TableName=self._table, Key={"approval_id": {"S": approval_id}}, ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise TransientStorageError(f"approvals table: {exc.response['Error']['Code']}") from exc
        if item is None:
            raise ApprovalNotFound("no such approval request")
        return dict(item)

    def create(self, record: ApprovalRecord, task_token: str) -> None:
        if self._retention_days is None:
            raise ConfigError("this approval store has no retention period: it cannot create requests")
        kept_until = record.expires_at + timedelta(days=self._retention_days)
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "approval_id": {"S": record.approval_id},
                "status": {"S": record.status},
                "record": {"S": record.model_dump_json()},
                # Keys of the ByExecution index: one execution's requests without a table scan.
                "execution_name": {"S": record.execution_name},
                "requested_at": {"S": record.requested_at.isoformat()},
                "task_token": {"S": task_token},
                # DynamoDB TTL removes the item the audit retention period after the request expired.
                "expires_epoch": {"N": str(int(kept_until.timestamp()))},
            },
            ConditionExpression="attribute_not_exists(approval_id)",
        )

    def get(self, approval_id: str) -> ApprovalRecord:
        return ApprovalRecord.model_validate_json(self._item(approval_id)["record"]["S"])

    def task_token(self, approval_id: str) -> str:
        return str(self._item(approval_id)["task_token"]["S"])

    def rebind_token(self, approval_id: str, task_token: str) -> None:
        """Replace the token of a request still pending (a redriven execution waits again)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"approval_id": {"S": approval_id}},
                UpdateExpression="SET task_token = :token",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":token": {"S": task_token}, ":pending": {"S": "pending"}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ApprovalAlreadyDecided(f"approval {approval_id[:8]}… is no longer pending") from exc
            raise

    def decide(self, approval_id: str, status: str, decided_by: str, reason: str, at: datetime) -> ApprovalRecord:
        record = self.get(approval_id)
        updated = _decided(record, status, decided_by, reason, at)
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"approval_id": {"S": approval_id}},
                UpdateExpression="SET #s = :new, #r = :record",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status", "#r": "record"},
                ExpressionAttributeValues={
                    ":new": {"S": status},
                    ":record": {"S": updated.model_dump_json()},
                    ":pending": {"S": "pending"},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ApprovalAlreadyDecided(f"approval {approval_id[:8]}… was already decided") from exc
            raise
        return updated

    def add_approval(self, approval_id: str, signoff: ApproverSignoff) -> ApprovalRecord:
        """Optimistic: write the new record only if the item still holds the record it was computed from."""
        for _ in range(_CAS_ATTEMPTS):
            seen = str(self._item(approval_id)["record"]["S"])
            updated = rules.with_signoff(ApprovalRecord.model_validate_json(seen), signoff)
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key={"approval_id": {"S": approval_id}},
                    UpdateExpression="SET #s = :new, #r = :record",
                    ConditionExpression="#s = :pending AND #r = :seen",
                    ExpressionAttributeNames={"#s": "status", "#r": "record"},
                    ExpressionAttributeValues={
                        ":new": {"S": updated.status},
                        ":record": {"S": updated.model_dump_json()},
                        ":pending": {"S": "pending"},
                        ":seen": {"S": seen},
                    },
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue  # another decision landed in between: read it and apply the rule again
                raise TransientStorageError(f"approvals table: {exc.response['Error']['Code']}") from exc
            return updated
        raise TransientStorageError(f"approval {approval_id[:8]}… kept changing while it was being approved; try again")

    def reopen(self, approval_id: str, withdraw: str | None) -> ApprovalRecord:
        updated = rules.reopened(self.get(approval_id), withdraw)
        self._ddb.update_item(
            TableName=self._table,
            Key={"approval_id": {"S": approval_id}},
            UpdateExpression="SET #s = :new, #r = :record",
            ExpressionAttributeNames={"#s": "status", "#r": "record"},
            ExpressionAttributeValues={":new": {"S": updated.status}, ":record": {"S": updated.model_dump_json()}},
        )
        return updated

    def set_status(self, approval_id: str, status: str) -> ApprovalRecord:
        updated = self.get(approval_id).model_copy(update={"status": status})
        self._ddb.update_item(
            TableName=self._table,
            Key={"approval_id": {"S": approval_id}},
            UpdateExpression="SET #s = :new, #r = :record",
            ExpressionAttributeNames={"#s": "status", "#r": "record"},
            ExpressionAttributeValues={":new": {"S": status}, ":record": {"S": updated.model_dump_json()}},
        )
        return updated

    def list_records(self) -> list[ApprovalRecord]:
        records: list[ApprovalRecord] = []
        for page in self._ddb.get_paginator("scan").paginate(
            TableName=self._table, ProjectionExpression="#r", ExpressionAttributeNames={"#r": "record"}
        ):
            records.extend(ApprovalRecord.model_validate_json(i["record"]["S"]) for i in page.get("Items", []))
        return sorted(records, key=lambda r: r.requested_at, reverse=True)

    def records_for_execution(self, execution_name: str) -> list[ApprovalRecord]:
        records: list[ApprovalRecord] = []
        try:
            for page in self._ddb.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=EXECUTION_INDEX,
                KeyConditionExpression="execution_name = :name",
                ExpressionAttributeValues={":name": {"S": execution_name}},
                ScanIndexForward=False,
            ):
                records.extend(ApprovalRecord.model_validate_json(i["record"]["S"]) for i in page.get("Items", []))
        except ClientError as exc:
            raise TransientStorageError(f"approvals table: {exc.response['Error']['Code']}") from exc
        return sorted(records, key=lambda r: r.requested_at, reverse=True)


class SecretsManagerSecret:
    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id
        self._value: bytes | None = None

    def get(self) -> bytes:
        if self._value is None:
            self._value = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"].encode()
        return self._value


class FileSecret:
    def __init__(self, path: Path) -> None:
        self._path = path

    def get(self) -> bytes:
        return read_or_create_secret(self._path)


class Notifier(Protocol):
    def publish(self, subject: str, message: str, attributes: dict[str, str]) -> str: ...


class SnsNotifier:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._sns = client
        self._topic = topic_arn

    def publish(self, subject: str, message: str, attributes: dict[str, str]) -> str:
        answer = self._sns.publish(
            TopicArn=self._topic,
            Subject=subject[:100],
            Message=message,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        return str(answer["MessageId"])


class LocalOutbox:
    """One JSON file per message under ``outbox/``; the CLI prints new ones to the console."""

    def __init__(self, root: Path) -> None:
        self._dir = root / "outbox"

    def publish(self, subject: str, message: str, attributes: dict[str, str]) -> str:
        message_id = secrets.token_hex(8)
        now = datetime.now(UTC)
        body = {
            "message_id": message_id,
            "time": now.isoformat(),
            "subject": subject,
            "message": message,
            "attributes": attributes,
        }
        atomic_write(
            self._dir / f"{now.strftime('%Y%m%dT%H%M%S%f')}-{message_id}.json", json.dumps(body, indent=2).encode()
        )
        return message_id


def read_outbox(root: Path) -> list[dict[str, Any]]:
    """Messages in the order they were published."""
    return [json.loads(p.read_text()) for p in sorted((root / "outbox").glob("*.json"))]


class OutboxFollower:
    """The outbox messages published since the last look, each file read once (for pollers).

    A poller that re-read the whole outbox every 20 ms spent a growing share of the process's CPU
    (and of its interpreter lock) parsing messages it had already seen; one that listed it every
    time still spent ~0.2 s of a pipeline run's CPU listing a directory that had not changed. The
    directory is listed again only when its modification time moved, or while that time is recent:
    a file added within the same clock tick as the last change leaves it as it was, so until
    :data:`_SETTLED_NS` has passed since a change, every look lists.
    """

    #: How long after a change of the outbox every look still lists it (far above any clock tick).
    _SETTLED_NS = 1_000_000_000

    def __init__(self, root: Path) -> None:
        self._dir = root / "outbox"
        self._read: set[str] = set()
        self._listed_at_mtime: int | None = None

    def new_messages(self) -> list[dict[str, Any]]:
        """Messages not returned before, in the order they were published."""
        try:
            mtime = self._dir.stat().st_mtime_ns
            if mtime == self._listed_at_mtime and time.time_ns() - mtime > self._SETTLED_NS:
                return []
            names = sorted(p.name for p in self._dir.iterdir() if p.suffix == ".json" and p.name not in self._read)
        except FileNotFoundError:
            return []
        self._listed_at_mtime = mtime
        messages = []
        for name in names:
            messages.append(json.loads((self._dir / name).read_text()))
            self._read.add(name)
        return messages
