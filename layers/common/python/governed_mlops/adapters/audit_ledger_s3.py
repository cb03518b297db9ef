"""The audit ledger in AWS: write-once S3 objects, digests signed by a KMS HMAC key.

Layout and the rules both ledgers follow: :mod:`governed_mlops.adapters.audit_ledger`.

- each record is one object ``<prefix>/records/<sequence:012d>.json`` and each digest one object
  ``<prefix>/digests/<digest_sequence:012d>.json``, written with ``IfNoneMatch="*"``: S3 refuses the
  put if the key exists, so no writer overwrites a record and two concurrent writers cannot both take
  the same sequence number (the loser re-reads the tail and retries);
- the chain head is ``<prefix>/head.json``, replaced with ``IfMatch=<its ETag>`` (created with
  ``IfNoneMatch="*"``) and only ever moved forward; together with the Object Lock digest object it
  names, it is the anchor ``verify`` checks the ledger's tail against;
- the bucket has versioning and Object Lock in compliance mode with a default retention, so no one,
  the root user included, can delete or overwrite a version before it expires; its bucket policy
  denies ``s3:DeleteObject*``, puts of records and digests without the ``s3:if-none-match`` condition
  key, and puts of the head without ``s3:if-match`` or ``s3:if-none-match``;
- digests are signed with KMS ``GenerateMac`` (an ``HMAC_256`` key, ``HMAC_SHA_256``) and checked with
  ``VerifyMac``: the key never leaves KMS. Every function that appends may also seal (at the cadence,
  at an execution's end, at an approval decision), so each is granted ``kms:GenerateMac`` and none
  ``kms:VerifyMac``: checking signatures is the auditor's (``S3AuditLedger.verify``).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from governed_mlops.adapters.audit_ledger_guards import (
    all_readable,
    head_or_raise,
    new_draft,
    readable_one,
    sealed_end_or_raise,
    segment_or_raise,
)
from governed_mlops.domain.audit import (
    AnchorReading,
    AuditAnchor,
    AuditDigest,
    AuditRecord,
    JsonScalar,
    Unreadable,
    chain,
    parse_entry,
    sign_digest,
)
from governed_mlops.domain.audit_verification import VerificationResult, verify
from governed_mlops.errors import AuditLedgerCorrupt, TransientStorageError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
else:
    KMSClient = Any
    S3Client = Any

__all__ = ["KmsMacSigner", "S3AuditLedger"]

_CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_ABSENT = {"NoSuchKey", "404"}
_TRANSIENT = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}
_KEY_NUMBER = re.compile(r"/(\d{12})\.json$")
_MAX_ATTEMPTS = 10


class _Conflict(Exception):
    """Another writer created the object first."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class KmsMacSigner:
    """Digest signatures from a KMS HMAC key: ``GenerateMac`` to sign, ``VerifyMac`` to check."""

    ALGORITHM = "HMAC_SHA_256"

    def __init__(self, kms_client: KMSClient, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def sign(self, message: bytes) -> str:
        answer = self._kms.generate_mac(KeyId=self._key_id, Message=message, MacAlgorithm=self.ALGORITHM)
        return bytes(answer["Mac"]).hex()

    def check(self, message: bytes, signature: str) -> bool:
        try:
            mac = bytes.fromhex(signature)
        except ValueError:
            return False
        try:
            answer = self._kms.verify_mac(KeyId=self._key_id, Message=message, MacAlgorithm=self.ALGORITHM, Mac=mac)
        except ClientError as exc:
            if _code(exc) == "KMSInvalidMacException":
                return False
            raise
        return bool(answer.get("MacValid", False))


class S3AuditLedger:
    """Records and digests as write-once objects in an Object Lock bucket (see the module docstring)."""

    def __init__(
        self,
        s3_client: S3Client,
        bucket: str,
        prefix: str,
        kms_client: KMSClient,
        key_id: str,
        *,
        digest_every: int = 50,
    ) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._signer = KmsMacSigner(kms_client, key_id)
        self.digest_every = digest_every
        # The newest record and digest this instance has seen: listings start after them.
        self._tail: AuditRecord | None = None
        self._digest_tail: AuditDigest | None = None
        self._head_key = f"{self._prefix}/head.json"

    def _key(self, kind: str, number: int) -> str:
        return f"{self._prefix}/{kind}/{number:012d}.json"

    def _put_new(self, key: str, body: bytes) -> None:
        self._put(key, body, {"IfNoneMatch": "*"})

    def _put(self, key: str, body: bytes, condition: dict[str, str]) -> None:
        """A conditional put (``IfNoneMatch`` / ``IfMatch``): :class:`_Conflict` if S3 refuses it."""
        request: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": body,
            "ContentType": "application/json",
            # Object Lock buckets refuse puts without an integrity checksum.
            "ChecksumAlgorithm": "SHA256",
            **condition,
        }
        try:
            self._s3.put_object(**request)
        except ClientError as exc:
            code = _code(exc)
            # If-Match on an object that is gone answers NoSuchKey: it changed since it was read.
            if code in _CONFLICT or ("IfMatch" in condition and code in _ABSENT):
                raise _Conflict(key) from exc
            if code in _TRANSIENT:
                raise TransientStorageError(f"put s3://{self._bucket}/{key}: {code}, retry later") from exc
            raise

    def _keys(self, kind: str, start_after: str = "") -> list[str]:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": f"{self._prefix}/{kind}/"}
        if start_after:
            kwargs["StartAfter"] = start_after
        keys: list[str] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(**kwargs):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except ClientError as exc:
            if _code(exc) in _TRANSIENT:
                raise TransientStorageError(f"list s3://{self._bucket}/{self._prefix}/{kind}/: retry later") from exc
            raise
        return sorted(keys)  # zero-padded numbers: key order is sequence order

    def _entry(self, key: str, model: type[Any], position: int) -> Any:
        if not _KEY_NUMBER.search(key):
            return Unreadable(position, f"unexpected object s3://{self._bucket}/{key}")
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in _TRANSIENT:
                raise TransientStorageError(f"get s3://{self._bucket}/{key}: retry later") from exc
            raise
        return parse_entry(bytes(body), model, position)

    def _entries(self, kind: str, model: type[Any], first_position: int = 1, start_after: str = "") -> list[Any]:
        keys = self._keys(kind, start_after)
        return [self._entry(key, model, position) for position, key in enumerate(keys, start=first_position)]

    def _last(self, kind: str, model: type[Any], start_after: str = "") -> Any:
        keys = self._keys(kind, start_after)
        if not keys:
            return None
        return readable_one(self._entry(keys[-1], model, 0), f"s3://{self._bucket}/{keys[-1]}")

    def _last_record(self) -> AuditRecord | None:
        start = self._key("records", self._tail.sequence) if self._tail else ""
        newest: AuditRecord | None = self._last("records", AuditRecord, start)
        if newest is not None:
            self._tail = newest
        return self._tail

    def _last_digest(self) -> AuditDigest | None:
        start = self._key("digests", self._digest_tail.digest_sequence) if self._digest_tail else ""
        newest: AuditDigest | None = self._last("digests", AuditDigest, start)
        if newest is not None:
            self._digest_tail = newest
        return self._digest_tail

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, JsonScalar] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> AuditRecord:
        draft = new_draft(actor, action, subject, details, evidence)
        for attempt in range(_MAX_ATTEMPTS):
            record = chain(self._last_record(), draft)
            try:
                self._put_new(self._key("records", record.sequence), record.to_line())
            except _Conflict:
                time.sleep(min(0.05 * 2**attempt, 1.0) * secrets.SystemRandom().random())
                continue
            self._tail = record
            break
        else:
            raise TransientStorageError(f"audit append: sequence contended {_MAX_ATTEMPTS} times, retry later")
        last_digest = self._last_digest()
        if record.sequence - (last_digest.last_sequence if last_digest else 0) >= self.digest_every:
            self.write_digest()
        return record

    def write_digest(self) -> AuditDigest:
        """Sign a digest of every record not yet covered (or return the latest if none are new).

        Either way ``head.json`` names the returned digest (or a later one) afterwards. Raises
        :class:`AuditLedgerCorrupt`, writing nothing, if the ledger no longer ends where the head or
        the latest digest says it was sealed.
        """
        for _ in range(_MAX_ATTEMPTS):
            # The head before the listings: a seal landing in between only puts the listings ahead of it.
            anchor, _ = self._head()
            previous = self._last_digest()
            last_record = self._last_record()
            if last_record is None:
                raise AuditLedgerCorrupt("nothing to digest: the audit ledger is empty")
            head_or_raise(anchor, previous)
            if previous is not None and previous.last_sequence >= last_record.sequence:
                sealed_end_or_raise(previous, last_record)
                self._advance_head(previous)
                return previous
            first = previous.last_sequence + 1 if previous else 1
            start = self._key("records", first - 1) if first > 1 else ""
            segment = self._entries("records", AuditRecord, first, start)[: last_record.sequence - first + 1]
            segment_or_raise(segment, previous, last_record)
            digest = sign_digest(previous, last_record, self._signer)
            try:
                self._put_new(self._key("digests", digest.digest_sequence), digest.to_line())
            except _Conflict:
                continue  # another writer sealed this range first; look again
            self._digest_tail = digest
            self._advance_head(digest)
            return digest
        raise TransientStorageError(f"audit digest: contended {_MAX_ATTEMPTS} times, retry later")

    def seal(self) -> AuditDigest:
        """Cover every record so far with a signed digest and anchor it (end of execution, decision)."""
        return self.write_digest()

    def _head(self) -> tuple[AnchorReading, str | None]:
        """The chain head in ``head.json`` and its ETag (``None``, ``None`` if nothing was anchored yet)."""
        where = f"s3://{self._bucket}/{self._head_key}"
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=self._head_key)
        except ClientError as exc:
            code = _code(exc)
            if code in _ABSENT:
                return AnchorReading(where, None), None
            if code in _TRANSIENT:
                raise TransientStorageError(f"get {where}: {code}, retry later") from exc
            raise
        return AnchorReading.parse(where, bytes(answer["Body"].read())), answer["ETag"]

    def _advance_head(self, digest: AuditDigest) -> None:
        """Move ``head.json`` forward to ``digest``; never back (a concurrent seal may be ahead)."""
        for _ in range(_MAX_ATTEMPTS):
            anchor, etag = self._head()
            head = anchor.head
            if isinstance(head, Unreadable):
                raise AuditLedgerCorrupt(f"the chain head anchor {anchor.where} is unreadable: {head.reason}")
            if head is not None and head.digest_sequence >= digest.digest_sequence:
                return
            try:
                self._put(
                    self._head_key,
                    AuditAnchor.of(digest).to_bytes(),
                    {"IfMatch": etag} if etag else {"IfNoneMatch": "*"},
                )
            except _Conflict:
                continue  # another writer moved it in between: look again
            return
        raise TransientStorageError(f"audit head: contended {_MAX_ATTEMPTS} times, retry later")

    def records(self, subject: str | None = None) -> list[AuditRecord]:
        found: list[AuditRecord] = all_readable(self._entries("records", AuditRecord), "ledger")
        return [r for r in found if subject is None or r.subject == subject]

    def digests(self) -> list[AuditDigest]:
        return all_readable(self._entries("digests", AuditDigest), "digest")

    def verify(self) -> VerificationResult:
        """Check every record and digest object, and that the ledger still reaches ``head.json``.

        What ``mlops audit verify`` calls for the deployed ledger: it needs ``s3:ListBucket`` and
        ``s3:GetObject`` on the prefix and ``kms:VerifyMac`` on the MAC key.
        """
        # Head, digests, records: the reverse of the order writers write them, so an append or seal
        # that lands meanwhile only adds what the earlier reads do not vouch for yet.
        anchor, _ = self._head()
        digests = self._entries("digests", AuditDigest)
        records = self._entries("records", AuditRecord)
        return verify(records, digests, self._signer, max_uncovered=self.digest_every, anchor=anchor)
