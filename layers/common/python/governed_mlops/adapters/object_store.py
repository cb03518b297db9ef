"""Object storage: Amazon S3 in AWS, a versioned content-addressed store on disk locally.

Both implement :class:`ObjectStore`; stages pin every object they read by version id so a
run can be reproduced byte for byte.
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from governed_mlops.adapters.fileio import atomic_write, sqlite_connection
from governed_mlops.errors import ArtifactNotFoundError, DatasetNotFoundError, TransientStorageError
from governed_mlops.models import S3Ref

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


@dataclass(frozen=True)
class StoredObject:
    ref: S3Ref
    sha256: str
    size: int
    last_modified: datetime
    sequencer: str = ""
    etag: str = ""


class ObjectStore(Protocol):
    def put(self, bucket: str, key: str, data: bytes, content_type: str = ...) -> StoredObject: ...

    def get(self, ref: S3Ref) -> bytes: ...

    def latest_under(self, bucket: str, prefix: str) -> StoredObject | None: ...


class CatalogueStore(ObjectStore, Protocol):
    """A store that also lists keys and finds the current version of one exact key (the trigger's model catalogue)."""

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]: ...

    def latest_of(self, bucket: str, key: str) -> StoredObject | None: ...


_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound"}
_TRANSIENT = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}


def _translate(exc: ClientError, what: str) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in _NOT_FOUND:
        return ArtifactNotFoundError(f"{what}: not found ({code})")
    if code in _TRANSIENT:
        return TransientStorageError(f"{what}: {code}, retry later")
    return exc  # type: ignore[no-any-return]  # botocore is untyped here


class S3ObjectStore:
    """Versioned S3 buckets (the template enables versioning and SSE-KMS on every bucket)."""

    def __init__(self, client: S3Client, kms_key_id: str | None = None) -> None:
        self._s3 = client
        self._kms_key_id = kms_key_id

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        extra: dict[str, Any] = {"ContentType": content_type}
        if self._kms_key_id:
            extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self._kms_key_id}
        digest = hashlib.sha256(data).hexdigest()
        try:
            answer = self._s3.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256", **extra)
        except ClientError as exc:
            raise _translate(exc, f"put s3://{bucket}/{key}") from exc
        return StoredObject(
            ref=S3Ref(bucket=bucket, key=key, version_id=answer.get("VersionId")),
            sha256=digest,
            size=len(data),
            last_modified=datetime.now(UTC),
            etag=answer.get("ETag", "").strip('"'),
        )

    def get(self, ref: S3Ref) -> bytes:
        kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            kwargs["VersionId"] = ref.version_id
        try:
            return bytes(self._s3.get_object(**kwargs)["Body"].read())
        except ClientError as exc:
            raise _translate(exc, f"get {ref.pinned_uri}") from exc

    def latest_under(self, bucket: str, prefix: str) -> StoredObject | None:
        newest: dict[str, Any] | None = None
        try:
            for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
                for version in page.get("Versions", []):
                    if version.get("IsLatest") and (newest is None or version["LastModified"] > newest["LastModified"]):
                        newest = version
        except ClientError as exc:
            raise _translate(exc, f"list s3://{bucket}/{prefix}") from exc
        if newest is None:
            return None
        ref = S3Ref(bucket=bucket, key=newest["Key"], version_id=newest.get("VersionId"))
        return StoredObject(
            ref=ref,
            sha256=hashlib.sha256(self.get(ref)).hexdigest(),
            size=int(newest["Size"]),
            last_modified=newest["LastModified"],
            etag=str(newest.get("ETag", "")).strip('"'),
        )

    def latest_of(self, bucket: str, key: str) -> StoredObject | None:
        """The current version of exactly ``key`` (a longer key sharing the prefix does not count)."""
        current: dict[str, Any] | None = None
        try:
            for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
                for version in page.get("Versions", []):
                    if version["Key"] == key and version.get("IsLatest"):
                        current = version
        except ClientError as exc:
            raise _translate(exc, f"list s3://{bucket}/{key}") from exc
        if current is None:
            return None
        ref = S3Ref(bucket=bucket, key=key, version_id=current.get("VersionId"))
        return StoredObject(
            ref=ref,
            sha256=hashlib.sha256(self.get(ref)).hexdigest(),
            size=int(current["Size"]),
            last_modified=current["LastModified"],
            etag=str(current.get("ETag", "")).strip('"'),
        )

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` that has a current version, sorted (ListObjectsV2)."""
        keys: list[str] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except ClientError as exc:
            raise _translate(exc, f"list s3://{bucket}/{prefix}") from exc
        return sorted(keys)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, last_modified TEXT NOT NULL, sequencer TEXT NOT NULL,
    content_type TEXT NOT NULL, PRIMARY KEY (bucket, key, version_id)
);
CREATE INDEX IF NOT EXISTS objects_latest ON objects (bucket, key, sequencer);
"""

_counter = itertools.count()


class LocalObjectStore:
    """S3 semantics on disk: every put is a new version; blobs are content-addressed files.

    A blob is written (temp file + rename) before its row is committed, so a crash leaves at
    worst an unreferenced blob, never a row pointing at a torn file.
    """

    def __init__(self, root: Path) -> None:
        self._root = root / "s3"
        # Blobs and the index live beside the per-bucket mirrors, under names no bucket can take.
        self._db = self._root / "_index.db"
        with sqlite_connection(self._db) as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)

    def mirror_path(self, bucket: str, key: str) -> Path:
        """Where a person finds the latest version of ``s3://bucket/key`` on disk."""
        return self._root / bucket / key

    def blob_path(self, sha256: str) -> Path:
        return self._root / "_blobs" / sha256[:2] / sha256

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        digest = hashlib.sha256(data).hexdigest()
        blob = self.blob_path(digest)
        if not blob.exists():
            atomic_write(blob, data)
        now = datetime.now(UTC)
        # Sequencer: strictly increasing per store, like S3's per-key event sequencer.
        sequencer = f"{time.time_ns():020x}{next(_counter) % 4096:03x}"
        version_id = uuid.uuid4().hex
        with sqlite_connection(self._db) as conn:
            conn.execute(
                "INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (bucket, key, version_id, digest, len(data), now.isoformat(), sequencer, content_type),
            )
        # A readable copy of the latest version, for people (reports, plots); the blob is the truth
        # (flushed to disk above), so the copy is not flushed: it is never read back by the store.
        atomic_write(self.mirror_path(bucket, key), data, durable=False)
        return StoredObject(
            ref=S3Ref(bucket=bucket, key=key, version_id=version_id),
            sha256=digest,
            size=len(data),
            last_modified=now,
            sequencer=sequencer,
            etag=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        )

    def _row(self, ref: S3Ref) -> tuple[str, ...]:
        query = "SELECT version_id, sha256, size, last_modified, sequencer FROM objects WHERE bucket=? AND key=?"
        params: tuple[str, ...] = (ref.bucket, ref.key)
        if ref.version_id:
            query += " AND version_id=?"
            params += (ref.version_id,)
        with sqlite_connection(self._db) as conn:
            row = conn.execute(query + " ORDER BY sequencer DESC LIMIT 1", params).fetchone()
        if row is None:
            raise ArtifactNotFoundError(f"{ref.pinned_uri}: no such object in the local store")
        return tuple(str(v) for v in row)

    def stat(self, ref: S3Ref) -> StoredObject:
        version_id, sha256, size, last_modified, sequencer = self._row(ref)
        return StoredObject(
            ref=S3Ref(bucket=ref.bucket, key=ref.key, version_id=version_id),
            sha256=sha256,
            size=int(size),
            last_modified=datetime.fromisoformat(last_modified),
            sequencer=sequencer,
        )

    def get(self, ref: S3Ref) -> bytes:
        sha256 = self._row(ref)[1]
        try:
            return self.blob_path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactNotFoundError(f"{ref.pinned_uri}: blob {sha256} missing from the local store") from exc

    def latest_under(self, bucket: str, prefix: str) -> StoredObject | None:
        with sqlite_connection(self._db) as conn:
            row = conn.execute(
                "SELECT key, version_id FROM objects WHERE bucket=? AND substr(key, 1, ?)=? "
                "ORDER BY sequencer DESC LIMIT 1",
                (bucket, len(prefix), prefix),
            ).fetchone()
        if row is None:
            return None
        return self.stat(S3Ref(bucket=bucket, key=row[0], version_id=row[1]))

    def latest_of(self, bucket: str, key: str) -> StoredObject | None:
        """The newest version of exactly ``key`` (as :meth:`S3ObjectStore.latest_of`)."""
        with sqlite_connection(self._db) as conn:
            row = conn.execute(
                "SELECT version_id FROM objects WHERE bucket=? AND key=? ORDER BY sequencer DESC LIMIT 1",
                (bucket, key),
            ).fetchone()
        return None if row is None else self.stat(S3Ref(bucket=bucket, key=key, version_id=row[0]))

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix``, sorted (as :meth:`S3ObjectStore.list_keys`)."""
        return [stored.ref.key for stored in self.list_objects(bucket, prefix)]

    def list_objects(self, bucket: str, prefix: str = "") -> list[StoredObject]:
        """Latest version of every key under ``prefix`` (for the CLI and tests)."""
        with sqlite_connection(self._db) as conn:
            rows = conn.execute(
                "SELECT key, version_id, sha256, size, last_modified, sequencer FROM objects o "
                "WHERE bucket=? AND substr(key, 1, ?)=? AND sequencer = "
                "(SELECT max(sequencer) FROM objects i WHERE i.bucket=o.bucket AND i.key=o.key) ORDER BY key",
                (bucket, len(prefix), prefix),
            ).fetchall()
        return [
            StoredObject(
                ref=S3Ref(bucket=bucket, key=k, version_id=v),
                sha256=s,
                size=int(n),
                last_modified=datetime.fromisoformat(t),
                sequencer=q,
            )
            for k, v, s, n, t, q in rows
        ]


def require_dataset(found: StoredObject | None, bucket: str, prefix: str) -> StoredObject:
    """Turn 'no object under the data prefix' into the named error the trigger reports."""
    if found is None:
        raise DatasetNotFoundError(
            f"no dataset under s3://{bucket}/{prefix}: upload one first (mlops upload FILE.csv), then push again"
        )
    return found
