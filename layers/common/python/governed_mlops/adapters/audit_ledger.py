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

AWS: :class:`governed_mlops.adapters.audit_ledger_s3.S3AuditLedger` (write-once S3 objects, KMS-signed digests).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

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
from governed_mlops.domain.audit_verification import VerificationResult, verify
from governed_mlops.errors import AuditLedgerCorrupt

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
    "LocalAuditLedger",
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
        return (
            None
            if line is None
            else readable_one(parse_entry(line, AuditRecord, 0), f"the last line of {self.ledger_path}")
        )

    def _last_digest(self) -> AuditDigest | None:
        line = _last_line(self.digests_path)
        return (
            None
            if line is None
            else readable_one(parse_entry(line, AuditDigest, 0), f"the last line of {self.digests_path}")
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
        draft = new_draft(actor, action, subject, details, evidence)
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
                sealed_end_or_raise(last_digest, last_record)
                head = head_or_raise(self._anchor(), last_digest)
                if head is None or head.digest_sequence < last_digest.digest_sequence:
                    _write_anchor(self.anchor_path, AuditAnchor.of(last_digest))  # after an interrupted seal
                return last_digest
            return self._write_digest_locked(last_digest, last_record)

    def seal(self) -> AuditDigest:
        """Cover every record so far with a signed digest and anchor it (end of execution, decision)."""
        return self.write_digest()

    def _write_digest_locked(self, previous: AuditDigest | None, last_record: AuditRecord) -> AuditDigest:
        head_or_raise(self._anchor(), previous)
        first = previous.last_sequence + 1 if previous else 1
        segment_or_raise(self._record_entries()[first - 1 : last_record.sequence], previous, last_record)
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
        found: list[AuditRecord] = all_readable(list(self._record_entries()), "ledger")
        return [r for r in found if subject is None or r.subject == subject]

    def digests(self) -> list[AuditDigest]:
        return all_readable(list(self._digest_entries()), "digest")

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
