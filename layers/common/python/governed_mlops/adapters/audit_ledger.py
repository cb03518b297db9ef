"""The audit ledger's storage: an append-only JSONL file locally, write-once S3 objects in AWS.

Both implement :class:`AuditLedger`; the hashing, signing and verification rules are in
:mod:`governed_mlops.domain.audit`.

Local (``LocalAuditLedger``), under the data directory::

    audit/ledger.jsonl     one record per line, canonical JSON, newline-terminated
    audit/digests.jsonl    one signed digest per line, same format
    audit/ledger.lock      flock()ed around "read the last record, append the next one"
    audit-anchor/head.json the chain head (last digest, the record it sealed), replaced by rename
    secrets/audit-hmac.key 32 random bytes, mode 0600: the HMAC key the digests are signed with

An append is one ``os.write`` of the whole line on an ``O_APPEND`` descriptor followed by
``fsync``: after a crash the file ends with the whole line or, at worst, a torn fragment without
its newline. A torn last line is never skipped: :func:`governed_mlops.domain.audit_verification.verify` reports
it, appends refuse to chain onto it, and :meth:`LocalAuditLedger.remove_torn_tail` moves it aside
and records that it did so.

Every digest is followed by a new chain head (:class:`governed_mlops.domain.audit.AuditAnchor`),
written outside the ledger's files; ``verify`` checks the ledger still ends at or after it, so cutting
or rewriting the sealed tail (the last record, the last digest, or both) is detected. Before signing,
a writer checks that the ledger's newest digest continues the head, so it never seals over a cut.
``seal()`` is what the use cases call at the end of an execution and at an approval decision.

AWS (``S3AuditLedger``):

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

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from governed_mlops.domain.audit import (
    GENESIS_HASH,
    AnchorReading,
    AuditAnchor,
    AuditDigest,
    AuditDraft,
    AuditRecord,
    HmacSigner,
    JsonScalar,
    Unreadable,
    chain,
    parse_entry,
    parse_jsonl,
    sign_digest,
    utc_now,
)
from governed_mlops.domain.audit_verification import VerificationResult, check_segment, head_gap, verify
from governed_mlops.errors import AuditLedgerCorrupt, TransientStorageError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
else:
    KMSClient = Any
    S3Client = Any

__all__ = [
    "ANCHOR_FILE",
    "AUDIT_PREFIX",
    "KEY_FILE",
    "AuditLedger",
    "KmsMacSigner",
    "LocalAuditLedger",
    "S3AuditLedger",
    "load_key",
    "load_or_create_key",
]

KEY_FILE = Path("secrets") / "audit-hmac.key"
#: The local chain head: beside the ledger's directory, not in it.
ANCHOR_FILE = Path("audit-anchor") / "head.json"
#: Where the deployed ledger lives in the audit bucket (the template grants exactly ``ledger/*``).
AUDIT_PREFIX = "ledger"
_KEY_BYTES = 32


class AuditLedger(Protocol):
    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, JsonScalar] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> AuditRecord: ...

    def records(self, subject: str | None = None) -> list[AuditRecord]: ...

    def digests(self) -> list[AuditDigest]: ...

    def write_digest(self) -> AuditDigest: ...

    def seal(self) -> AuditDigest: ...

    def verify(self) -> VerificationResult: ...


def _draft(
    actor: str, action: str, subject: str, details: dict[str, JsonScalar] | None, evidence: dict[str, str] | None
) -> AuditDraft:
    return AuditDraft(actor=actor, action=action, subject=subject, details=details or {}, evidence=evidence or {})


def _readable(entries: list[Any], what: str) -> list[Any]:
    for entry in entries:
        if isinstance(entry, Unreadable):
            raise AuditLedgerCorrupt(
                f"{what} entry {entry.position} is unreadable: {entry.reason} (run `mlops audit verify`)"
            )
    return entries


def _one(entry: Any, where: str) -> Any:
    """A single entry that must be readable (the one the next append or digest builds on)."""
    if isinstance(entry, Unreadable):
        raise AuditLedgerCorrupt(f"{where} is unreadable: {entry.reason} (run `mlops audit verify`)")
    return entry


def _segment_or_raise(segment: list[AuditRecord | Unreadable], previous: AuditDigest | None, last: AuditRecord) -> None:
    """Refuse to sign records that do not chain onto what the previous digest signed.

    ``segment``: the stored records from the first one not yet covered up to ``last``.
    """
    first = previous.last_sequence + 1 if previous else 1
    failure = check_segment(segment, first, previous.last_record_hash if previous else GENESIS_HASH)
    if failure is None and len(segment) != last.sequence - first + 1:
        failure = (first, f"records #{first}..#{last.sequence} are not all present")
    if failure is not None:
        raise AuditLedgerCorrupt(f"not signing a digest: ledger FAILED at record #{failure[0]}: {failure[1]}")


def _head_or_raise(anchor: AnchorReading, latest: AuditDigest | None) -> AuditAnchor | None:
    """The anchored head, if the ledger's newest digest continues it; else refuse to seal anything."""
    head = anchor.head
    if isinstance(head, Unreadable):
        raise AuditLedgerCorrupt(
            f"not signing a digest: the chain head anchor {anchor.where} is unreadable: {head.reason} "
            f"(run `mlops audit verify`)"
        )
    problem = head_gap(head, latest, anchor.where)
    if problem is not None:
        raise AuditLedgerCorrupt(f"not signing a digest: {problem} (run `mlops audit verify`)")
    return head


def _sealed_end_or_raise(latest: AuditDigest, last_record: AuditRecord) -> None:
    """With nothing new to seal, the ledger must end exactly at the record ``latest`` sealed."""
    if (last_record.sequence, last_record.record_hash) != (latest.last_sequence, latest.last_record_hash):
        raise AuditLedgerCorrupt(
            f"not signing a digest: the ledger ends at record #{last_record.sequence} "
            f"({last_record.record_hash[:12]}…) but digest #{latest.digest_sequence} sealed record "
            f"#{latest.last_sequence} ({latest.last_record_hash[:12]}…) (run `mlops audit verify`)"
        )


# -- local ----------------------------------------------------------------------------------------
def load_key(root: Path) -> bytes | None:
    """The local audit HMAC key, or ``None`` if it was never created."""
    try:
        return (root / KEY_FILE).read_bytes()
    except FileNotFoundError:
        return None


def load_or_create_key(root: Path) -> bytes:
    """The local audit HMAC key; created once (32 random bytes, mode 0600) if missing.

    Creation is atomic across processes: the key is written to a private temporary file that is
    then hard-linked into place, so a concurrent caller sees no key or the whole key.
    """
    path = root / KEY_FILE
    existing = load_key(root)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


def _write_line(path: Path, line: bytes) -> None:
    """Append one whole line with a single write on an O_APPEND descriptor, then fsync."""
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):  # a short write (disk full): leave it torn, verify will say so
            raise AuditLedgerCorrupt(f"short write to {path}: {written} of {len(line)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # make the new directory entry durable too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read_anchor(path: Path) -> AnchorReading:
    try:
        data: bytes | None = path.read_bytes()
    except FileNotFoundError:
        data = None
    return AnchorReading.parse(str(path), data)


def _write_anchor(path: Path, head: AuditAnchor) -> None:
    """Replace the head atomically: a private temporary file, fsync, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            body = head.to_bytes()
            if os.write(fd, body) != len(body):
                raise AuditLedgerCorrupt(f"short write to {tmp}")
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _last_line(path: Path) -> bytes | None:
    """The last complete line of a file without reading all of it; raises on a torn tail."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return None
        handle.seek(size - 1)
        if handle.read(1) != b"\n":
            raise AuditLedgerCorrupt(
                f"{path} ends with a torn line (an append was interrupted); nothing more can be chained onto it "
                f"until it is removed: run `mlops audit verify`, then LocalAuditLedger.remove_torn_tail()"
            )
        chunk, start = b"", size - 1
        while True:
            step = min(start, 65536)
            start -= step
            handle.seek(start)
            chunk = handle.read(step) + chunk
            newline = chunk.rfind(b"\n")
            if newline >= 0 or start == 0:
                return chunk[newline + 1 :]


class LocalAuditLedger:
    """The ledger as two append-only JSONL files under ``root/audit`` (see the module docstring).

    Safe across threads and processes: every append holds an exclusive ``flock`` on
    ``audit/ledger.lock`` while it reads the last record and writes the next one.
    """

    def __init__(self, root: Path, key: bytes, digest_every: int = 50) -> None:
        if digest_every < 1:
            raise ValueError("digest_every must be at least 1")
        self._dir = root / "audit"
        self.ledger_path = self._dir / "ledger.jsonl"
        self.digests_path = self._dir / "digests.jsonl"
        self.anchor_path = root / ANCHOR_FILE
        self._lock_path = self._dir / "ledger.lock"
        self._signer = HmacSigner(key)
        self.digest_every = digest_every

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._dir.mkdir(parents=True, exist_ok=True)
        # A fresh open file description per call: flock then also excludes other threads.
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _last_record(self) -> AuditRecord | None:
        line = _last_line(self.ledger_path)
        return None if line is None else _one(parse_entry(line, AuditRecord, 0), f"the last line of {self.ledger_path}")

    def _last_digest(self) -> AuditDigest | None:
        line = _last_line(self.digests_path)
        return (
            None if line is None else _one(parse_entry(line, AuditDigest, 0), f"the last line of {self.digests_path}")
        )

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, JsonScalar] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> AuditRecord:
        """Record one action; writes a digest too when ``digest_every`` records are uncovered.

        Raises :class:`AuditLedgerCorrupt` before writing if either file ends with a torn line, and
        after writing (the record stays) if the digest it triggers would sign a tampered segment.
        """
        draft = _draft(actor, action, subject, details, evidence)
        with self._locked():
            last_digest = self._last_digest()
            record = chain(self._last_record(), draft)
            _write_line(self.ledger_path, record.to_line())
            # ">=": a digest skipped by a crash is written by the next append.
            if record.sequence - (last_digest.last_sequence if last_digest else 0) >= self.digest_every:
                self._write_digest_locked(last_digest, record)
        return record

    def write_digest(self) -> AuditDigest:
        """Sign a digest of every record not yet covered (returns the latest digest if none are new).

        Either way the chain head anchor names the returned digest afterwards. Raises
        :class:`AuditLedgerCorrupt`, writing nothing, if the ledger no longer ends where the anchor
        or the latest digest says it was sealed.
        """
        with self._locked():
            last_record, last_digest = self._last_record(), self._last_digest()
            if last_record is None:
                raise AuditLedgerCorrupt("nothing to digest: the audit ledger is empty")
            if last_digest is not None and last_digest.last_sequence >= last_record.sequence:
                _sealed_end_or_raise(last_digest, last_record)
                head = _head_or_raise(self._anchor(), last_digest)
                if head is None or head.digest_sequence < last_digest.digest_sequence:
                    _write_anchor(self.anchor_path, AuditAnchor.of(last_digest))  # after an interrupted seal
                return last_digest
            return self._write_digest_locked(last_digest, last_record)

    def seal(self) -> AuditDigest:
        """Cover every record so far with a signed digest and anchor it (end of execution, decision)."""
        return self.write_digest()

    def _write_digest_locked(self, previous: AuditDigest | None, last_record: AuditRecord) -> AuditDigest:
        _head_or_raise(self._anchor(), previous)
        first = previous.last_sequence + 1 if previous else 1
        _segment_or_raise(self._record_entries()[first - 1 : last_record.sequence], previous, last_record)
        digest = sign_digest(previous, last_record, self._signer)
        # Digest first, then the head: a crash in between leaves the head one digest behind, which
        # verify accepts and the next seal repairs; the reverse order would name a missing digest.
        _write_line(self.digests_path, digest.to_line())
        _write_anchor(self.anchor_path, AuditAnchor.of(digest))
        return digest

    def _anchor(self) -> AnchorReading:
        return _read_anchor(self.anchor_path)

    def _record_entries(self) -> list[AuditRecord | Unreadable]:
        return _read_entries(self.ledger_path, AuditRecord)

    def _digest_entries(self) -> list[AuditDigest | Unreadable]:
        return _read_entries(self.digests_path, AuditDigest)

    def records(self, subject: str | None = None) -> list[AuditRecord]:
        """Every record in order (or those about ``subject``); raises if a line cannot be read."""
        found: list[AuditRecord] = _readable(list(self._record_entries()), "ledger")
        return [r for r in found if subject is None or r.subject == subject]

    def digests(self) -> list[AuditDigest]:
        return _readable(list(self._digest_entries()), "digest")

    def verify(self) -> VerificationResult:
        """Check every record and digest, and that the ledger still ends at or after the anchored head."""
        # Read without the lock, in the order writers write backwards (head, digests, records): a
        # concurrent append or seal then only adds what the earlier reads do not yet vouch for.
        anchor = self._anchor()
        digests = self._digest_entries()
        return verify(self._record_entries(), digests, self._signer, max_uncovered=self.digest_every, anchor=anchor)

    def remove_torn_tail(self, actor: str) -> AuditRecord | None:
        """Move a torn last line of either file aside and record that it was removed.

        A torn line is an append that never completed (its caller got an error, not a record),
        so removing it loses nothing that was acknowledged; the fragment is kept under
        ``audit/torn/`` and its SHA-256 goes into the ledger as evidence. Returns ``None`` if
        neither file ends with a torn line.
        """
        removed: dict[str, str] = {}
        details: dict[str, JsonScalar] = {}
        with self._locked():
            for path in (self.ledger_path, self.digests_path):
                fragment = _cut_torn_tail(path, self._dir / "torn")
                if fragment is not None:
                    removed[path.name] = fragment[0]
                    details[f"{path.name}_bytes"] = fragment[1]
            if not removed:
                return None
            draft = AuditDraft(
                actor=actor,
                action="audit.torn_tail_removed",
                subject=str(self.ledger_path.name),
                details=details,
                evidence=removed,
            )
            record = chain(self._last_record(), draft)
            _write_line(self.ledger_path, record.to_line())
        return record


def _cut_torn_tail(path: Path, keep_dir: Path) -> tuple[str, int] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if not data or data.endswith(b"\n"):
        return None
    cut = data.rfind(b"\n") + 1
    fragment = data[cut:]
    digest = hashlib.sha256(fragment).hexdigest()
    keep_dir.mkdir(parents=True, exist_ok=True)
    (keep_dir / f"{utc_now().replace(':', '')}-{path.name}-{digest[:12]}.fragment").write_bytes(fragment)
    with path.open("r+b") as handle:
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
    return digest, len(fragment)


def _read_entries(path: Path, model: type[Any]) -> list[Any]:
    try:
        return parse_jsonl(path.read_bytes(), model)
    except FileNotFoundError:
        return []


# -- AWS ------------------------------------------------------------------------------------------
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
        return _one(self._entry(keys[-1], model, 0), f"s3://{self._bucket}/{keys[-1]}")

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
        draft = _draft(actor, action, subject, details, evidence)
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
            _head_or_raise(anchor, previous)
            if previous is not None and previous.last_sequence >= last_record.sequence:
                _sealed_end_or_raise(previous, last_record)
                self._advance_head(previous)
                return previous
            first = previous.last_sequence + 1 if previous else 1
            start = self._key("records", first - 1) if first > 1 else ""
            segment = self._entries("records", AuditRecord, first, start)[: last_record.sequence - first + 1]
            _segment_or_raise(segment, previous, last_record)
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
        found: list[AuditRecord] = _readable(self._entries("records", AuditRecord), "ledger")
        return [r for r in found if subject is None or r.subject == subject]

    def digests(self) -> list[AuditDigest]:
        return _readable(self._entries("digests", AuditDigest), "digest")

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
