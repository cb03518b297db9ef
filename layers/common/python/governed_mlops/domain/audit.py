"""The tamper-evident audit ledger: hash-chained records and signed digests (pure, no I/O).

Every actor action (a person's approval, a stage's outcome, a deployment) becomes an
:class:`AuditRecord`. Each record carries the SHA-256 of the record before it, so changing,
removing, inserting or reordering a record breaks a link. A hash chain alone cannot stop someone
who rewrites a record *and* recomputes every later hash, so, as CloudTrail does with its digest
files, the ledger is periodically sealed by an :class:`AuditDigest`: the hash of the last record
it covers, signed with a key that is not stored with the records (an HMAC key locally, a KMS
HMAC key in AWS that never leaves KMS). Digests are chained to each other too.

Every digest also moves an :class:`AuditAnchor`, the chain head (the last digest and the record it
sealed), kept outside the ledger's own files: a separate file locally, a conditionally written
``head.json`` next to the Object Lock digest objects in AWS. The use cases seal at the end of every
execution and at every approval decision, so a quiet ledger has no uncovered tail.

How a ledger is checked, and what that check guarantees: :mod:`governed_mlops.domain.audit_verification`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: The shortest HMAC key accepted (128 bits).
_MIN_KEY_BYTES = 16

__all__ = [
    "GENESIS_HASH",
    "KNOWN_ACTIONS",
    "AnchorReading",
    "AuditAnchor",
    "AuditDigest",
    "AuditDraft",
    "AuditRecord",
    "DigestSigner",
    "HmacSigner",
    "Unreadable",
    "canonical_json",
    "chain",
    "parse_entry",
    "parse_jsonl",
    "sign_digest",
    "utc_now",
]

#: ``previous_hash`` of the first record and ``previous_digest_hash`` of the first digest.
GENESIS_HASH = "0" * 64

#: The actions the pipeline records; others are allowed if they follow the ``noun.verb`` pattern.
KNOWN_ACTIONS = frozenset(
    {
        "pipeline.triggered",
        "pipeline.succeeded",
        "pipeline.failed",
        "pipeline.no_change",
        "stage.succeeded",
        "stage.failed",
        "approval.requested",
        "approval.decided",
        "approval.refused",
        "model.approved",
        "model.rejected",
        "model.expired",
        "deployment.started",
        "deployment.rolled_back",
        "monitoring.violation",
        "model.reproduced",
        "config.changed",
        "audit.torn_tail_removed",
    }
)

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
JsonScalar = str | int | float | bool | None


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """The one byte representation that is hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    """The current time as the ledger writes it: ISO 8601, UTC, microseconds, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _utc_iso(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from exc
    offset = parsed.utcoffset()
    if offset is None or offset.total_seconds() != 0:
        raise ValueError(f"time must be UTC: {value!r}")
    return value


def _finite_details(details: dict[str, JsonScalar]) -> dict[str, JsonScalar]:
    for name, value in details.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"details[{name!r}] must be a finite number, got {value}")
    return details


class _Strict(BaseModel):
    # strict: a record read back must be byte-for-byte what was hashed ("5" is not 5).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AuditDraft(_Strict):
    """What a caller says happened; :func:`chain` turns it into the next record."""

    actor: str = Field(min_length=1, max_length=2048)
    action: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=128)
    subject: str = Field(min_length=1, max_length=2048)
    details: dict[str, JsonScalar] = Field(default_factory=dict)
    evidence: dict[str, Sha256Hex] = Field(default_factory=dict)
    time: str | None = None

    _check_details = field_validator("details")(_finite_details)

    @field_validator("time")
    @classmethod
    def _utc(cls, value: str | None) -> str | None:
        return None if value is None else _utc_iso(value)


class AuditRecord(_Strict):
    """One ledger entry; ``record_hash`` is the SHA-256 of the canonical JSON of every other field.

    Parsing checks the shape only: a record whose hash does not match its content still parses,
    so :func:`verify` can say precisely what is wrong with it.
    """

    sequence: int = Field(ge=1)
    time: str
    actor: str = Field(min_length=1)
    action: str = Field(min_length=1)
    subject: str
    details: dict[str, JsonScalar]
    evidence: dict[str, str]
    previous_hash: str
    record_hash: str

    _check_time = field_validator("time")(_utc_iso)

    def hashed_fields(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"record_hash"})

    def computed_hash(self) -> str:
        """The hash this record's content gives (equal to ``record_hash`` unless it was altered)."""
        return _sha256(canonical_json(self.hashed_fields()))

    def to_line(self) -> bytes:
        """The record as one line of the JSONL ledger (canonical JSON, newline-terminated)."""
        return canonical_json(self.model_dump(mode="json")) + b"\n"


def chain(previous: AuditRecord | None, draft: AuditDraft) -> AuditRecord:
    """The record that follows ``previous`` (``None`` for the first record of a ledger)."""
    fields: dict[str, Any] = {
        "sequence": 1 if previous is None else previous.sequence + 1,
        "time": draft.time or utc_now(),
        "actor": draft.actor,
        "action": draft.action,
        "subject": draft.subject,
        "details": dict(draft.details),
        "evidence": dict(draft.evidence),
        "previous_hash": GENESIS_HASH if previous is None else previous.record_hash,
    }
    return AuditRecord(**fields, record_hash=_sha256(canonical_json(fields)))


# -- digests --------------------------------------------------------------------------------------
class DigestSigner(Protocol):
    """Signs and checks digests: an HMAC key locally, a KMS HMAC key (GenerateMac/VerifyMac) in AWS."""

    def sign(self, message: bytes) -> str: ...

    def check(self, message: bytes, signature: str) -> bool: ...


class HmacSigner:
    """HMAC-SHA256 with a local key; signatures are lower-case hex."""

    def __init__(self, key: bytes) -> None:
        if len(key) < _MIN_KEY_BYTES:
            raise ValueError("the audit HMAC key must be at least 16 bytes")
        self._key = key

    def sign(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, message: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


class AuditDigest(_Strict):
    """A signed statement "records #first..#last exist and the last one hashes to X".

    ``signature`` covers the canonical JSON of every field except ``signature`` and
    ``digest_hash``; ``digest_hash`` is the SHA-256 of every field except itself (signature
    included) and is what the next digest's ``previous_digest_hash`` names.
    """

    digest_sequence: int = Field(ge=1)
    first_sequence: int = Field(ge=1)
    last_sequence: int = Field(ge=1)
    last_record_hash: str
    previous_digest_hash: str
    time: str
    signature: str
    digest_hash: str

    _check_time = field_validator("time")(_utc_iso)

    def signed_payload(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature", "digest_hash"}))

    def computed_hash(self) -> str:
        return _sha256(canonical_json(self.model_dump(mode="json", exclude={"digest_hash"})))

    def to_line(self) -> bytes:
        return canonical_json(self.model_dump(mode="json")) + b"\n"


class AuditAnchor(_Strict):
    """The chain head as last sealed: which digest, and the record it ends at.

    Kept where the ledger's own files are not, and moved forward after every digest. A ledger that
    no longer holds this digest with this hash, or this record, lost or rewrote its sealed tail.
    """

    digest_sequence: int = Field(ge=1)
    last_sequence: int = Field(ge=1)
    last_record_hash: str
    digest_hash: str
    time: str

    _check_time = field_validator("time")(_utc_iso)

    @classmethod
    def of(cls, digest: AuditDigest) -> AuditAnchor:
        """The head that names ``digest``."""
        return cls(
            digest_sequence=digest.digest_sequence,
            last_sequence=digest.last_sequence,
            last_record_hash=digest.last_record_hash,
            digest_hash=digest.digest_hash,
            time=digest.time,
        )

    def names(self, digest: AuditDigest) -> bool:
        """Whether ``digest`` is the one this head was written for."""
        return (self.digest_sequence, self.last_sequence, self.last_record_hash, self.digest_hash) == (
            digest.digest_sequence,
            digest.last_sequence,
            digest.last_record_hash,
            digest.digest_hash,
        )

    def to_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json")) + b"\n"


def sign_digest(
    previous: AuditDigest | None, last_record: AuditRecord, signer: DigestSigner, time: str | None = None
) -> AuditDigest:
    """The digest that covers every record after ``previous`` up to and including ``last_record``."""
    fields: dict[str, Any] = {
        "digest_sequence": 1 if previous is None else previous.digest_sequence + 1,
        "first_sequence": 1 if previous is None else previous.last_sequence + 1,
        "last_sequence": last_record.sequence,
        "last_record_hash": last_record.record_hash,
        "previous_digest_hash": GENESIS_HASH if previous is None else previous.digest_hash,
        "time": _utc_iso(time) if time else utc_now(),
    }
    if fields["last_sequence"] < fields["first_sequence"]:
        raise ValueError(f"nothing to digest: record #{last_record.sequence} is already covered")
    signature = signer.sign(canonical_json(fields))
    digest_hash = _sha256(canonical_json({**fields, "signature": signature}))
    return AuditDigest(**fields, signature=signature, digest_hash=digest_hash)


# -- reading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unreadable:
    """A ledger entry that could not be read as a record or digest; never dropped silently."""

    position: int  # 1-based line number (local file) or listing position (S3)
    reason: str


EntryT = TypeVar("EntryT", AuditRecord, AuditDigest, AuditAnchor)


def parse_entry(data: bytes, model: type[EntryT], position: int) -> EntryT | Unreadable:
    """One serialised record or digest, or why it cannot be read."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        try:
            json.loads(data)
        except ValueError:
            return Unreadable(position, "not valid JSON (torn or overwritten)")
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the entry"
        return Unreadable(position, f"not a valid {model.__name__}: {where}: {first['msg']}")


def parse_jsonl(data: bytes, model: type[EntryT]) -> list[EntryT | Unreadable]:
    """Every line of a JSONL ledger file, in file order; a last line without newline is torn."""
    if not data:
        return []
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    entries: list[EntryT | Unreadable] = [
        parse_entry(line, model, number) if line else Unreadable(number, "empty line")
        for number, line in enumerate(complete, start=1)
    ]
    if tail:
        entries.append(
            Unreadable(
                len(complete) + 1,
                f"torn: the last line has no newline ({len(tail)} bytes; an append was interrupted or the file cut)",
            )
        )
    return entries


@dataclass(frozen=True)
class AnchorReading:
    """What an anchor store holds: the head, ``None`` if nothing was sealed yet, or why it is unreadable."""

    where: str  # named in problems: a file path locally, an s3:// URI in AWS
    head: AuditAnchor | Unreadable | None

    @classmethod
    def parse(cls, where: str, data: bytes | None) -> AnchorReading:
        """The reading of a stored head (``data`` is ``None`` when the store holds none)."""
        return cls(where, None if data is None else parse_entry(data.rstrip(b"\n"), AuditAnchor, 1))
