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

What :func:`verify` guarantees, and what it cannot:

- Any edit, deletion, insertion, reordering or truncation of records covered by a digest is
  detected, even when the attacker recomputed every hash, as long as the digests themselves are
  intact (editing one or signing one with another key is detected as well).
- Given the anchor, removing or rewriting the latest digest(s), with or without the records they
  cover, is detected and named: the ledger must still hold the digest the anchor names, with the
  hash it names, and every record up to the one that digest sealed. Deleting the anchor once more
  than one digest exists is detected too. Signed digests beyond the anchor are accepted and noted
  (a seal in flight, or a writer that crashed between its digest and the anchor).
- Records after the latest digest are protected by the hash chain only. Editing or reordering one
  of them in place is detected; rewriting that tail with recomputed hashes, removing it (truncation),
  or appending forged records to it is not, until a seal covers it. :func:`verify` reports the
  uncovered tail (``ok`` stays true; :attr:`VerificationResult.uncovered` counts it) and, given
  ``max_uncovered``, fails when the tail is longer than the digest cadence allows.
- Someone who can rewrite the anchor as well as the ledger (locally: anyone who can write the data
  directory) can roll both back together; in AWS the digests and every version of ``head.json`` are
  under Object Lock in compliance mode, and the bucket policy refuses deletes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    "VerificationResult",
    "canonical_json",
    "chain",
    "check_segment",
    "head_gap",
    "parse_entry",
    "parse_jsonl",
    "sign_digest",
    "utc_now",
    "verify",
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
        if len(key) < 16:
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


# -- verification ---------------------------------------------------------------------------------
class VerificationResult(BaseModel):
    """Outcome of :func:`verify`. ``first_bad_sequence`` is the earliest record that may be bad."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    first_bad_sequence: int | None = None
    problem: str = ""
    records: int = 0
    digests: int = 0
    covered_up_to: int = 0  # last record sequence covered by a valid digest (0: none)
    anchored_up_to: int = 0  # last record sequence the chain head anchor names (0: none, or not checked)
    note: str = ""  # e.g. the tail not yet covered by a digest

    @property
    def uncovered(self) -> int:
        return max(self.records - self.covered_up_to, 0)


Failure = tuple[int, str]


def _short(hex_hash: str) -> str:
    return hex_hash[:12]


def _records(first: int, last: int, verb: str = "") -> str:
    """'record #4 is' / 'records #4..#6 are' (``verb``: "is" or "" for none)."""
    if first == last:
        return f"record #{first}" + (f" {verb}" if verb else "")
    return f"records #{first}..#{last}" + (f" {'are' if verb == 'is' else verb}" if verb else "")


def check_segment(
    records: Sequence[AuditRecord | Unreadable],
    first_sequence: int = 1,
    previous_hash: str = GENESIS_HASH,
    checkpoints: Mapping[int, AuditDigest] | None = None,
) -> Failure | None:
    """Walk consecutive records from ``first_sequence`` chained onto ``previous_hash``.

    Returns ``(first bad sequence, problem)`` or ``None``. ``checkpoints`` maps a sequence to the
    valid digest ending there; the record found there must have the hash that digest signed.
    """
    checkpoints = checkpoints or {}
    expected_previous = previous_hash
    for expected, entry in enumerate(records, start=first_sequence):
        if isinstance(entry, Unreadable):
            return expected, f"record #{expected} (entry {entry.position}) is unreadable: {entry.reason}"
        actual = entry.computed_hash()
        if actual != entry.record_hash:
            return expected, (
                f"record #{expected} was altered: its content hashes to {_short(actual)}… "
                f"but its record_hash says {_short(entry.record_hash)}…"
            )
        if entry.sequence > expected:
            return expected, (
                f"record #{expected} is missing: found record #{entry.sequence} in its place "
                f"(a record was deleted or records were reordered)"
            )
        if entry.sequence < expected:
            return entry.sequence, (
                f"record #{entry.sequence} appears again where record #{expected} was expected "
                f"(a record was inserted, duplicated or moved)"
            )
        if entry.previous_hash != expected_previous:
            # Either this record or the one before was rewritten (with its own hash recomputed).
            return max(expected - 1, first_sequence), (
                f"the chain is broken between record #{expected - 1} and record #{expected}: record #{expected} "
                f"names previous hash {_short(entry.previous_hash)}… but the record before it hashes to "
                f"{_short(expected_previous)}… (one of the two was altered, or a record was inserted or removed)"
            )
        digest = checkpoints.get(expected)
        if digest is not None and digest.last_record_hash != entry.record_hash:
            return digest.first_sequence, (
                f"records #{digest.first_sequence}..#{digest.last_sequence} do not match signed digest "
                f"#{digest.digest_sequence}: record #{expected} hashes to {_short(entry.record_hash)}… but the digest "
                f"signed {_short(digest.last_record_hash)}… (a record in that range was altered, inserted or removed "
                f"and the later hashes recomputed)"
            )
        expected_previous = entry.record_hash
    return None


def _check_digests(
    digests: Sequence[AuditDigest | Unreadable], signer: DigestSigner
) -> tuple[list[AuditDigest], Failure | None]:
    """The leading run of valid, chained digests, and the first problem after it."""
    valid: list[AuditDigest] = []
    expected_first, previous_hash = 1, GENESIS_HASH
    for number, entry in enumerate(digests, start=1):
        name = f"digest #{number}"
        if isinstance(entry, Unreadable):
            return valid, (expected_first, f"{name} (entry {entry.position}) is unreadable: {entry.reason}")
        problem = ""
        if entry.digest_sequence != number:
            problem = (
                f"{name} is missing: found digest #{entry.digest_sequence} in its place "
                f"(a digest was deleted, inserted or reordered)"
            )
        elif not entry.signature or not signer.check(entry.signed_payload(), entry.signature):
            problem = f"{name} has an invalid signature (it was edited, forged, or signed with another key)"
        elif entry.computed_hash() != entry.digest_hash:
            problem = f"{name} was altered: its content does not match its digest_hash"
        elif entry.previous_digest_hash != previous_hash:
            problem = f"{name} does not link to digest #{number - 1} (previous_digest_hash differs)"
        elif entry.first_sequence != expected_first or entry.last_sequence < entry.first_sequence:
            problem = (
                f"{name} covers records #{entry.first_sequence}..#{entry.last_sequence} but should start at "
                f"record #{expected_first}"
            )
        if problem:
            # Everything this digest would vouch for is now unvouched: blame its first record.
            return valid, (expected_first, problem)
        valid.append(entry)
        expected_first, previous_hash = entry.last_sequence + 1, entry.digest_hash
    return valid, None


def _range(kind: str, first: int, last: int) -> tuple[str, int]:
    """('digest #3', 1) / ('records #5..#6', 2): a range named with how many it holds."""
    if first == last:
        return f"{kind} #{first}", 1
    return f"{kind}s #{first}..#{last}", last - first + 1


def _missing(*ranges: tuple[str, int]) -> str:
    names = " and ".join(name for name, _ in ranges)
    return f"{names} {'is' if sum(count for _, count in ranges) == 1 else 'are'} missing"


def head_gap(head: AuditAnchor | None, latest: AuditDigest | None, where: str) -> str | None:
    """Why the ledger whose newest digest is ``latest`` no longer reaches the anchored ``head``, or ``None``.

    Writers check this before they sign, so no digest is chained onto a ledger whose sealed tail was
    cut or rewritten. Digests beyond the head are fine: a writer moves the head after writing its
    digest, so the head lags while a seal is in flight, or after a writer crashed in between. A
    missing head is fine while at most one digest exists (the first seal's head not written yet).
    ``where``: the anchor's location, named in the problem.
    """
    found = latest.digest_sequence if latest else 0
    if head is None:
        if found <= 1:
            return None
        return f"the chain head anchor {where} is missing although the ledger has {found} digests (it was deleted)"
    if latest is None or found < head.digest_sequence:
        return (
            f"the ledger's digests end at #{found} but the anchor {where} says digest #{head.digest_sequence} sealed "
            f"records up to #{head.last_sequence} ({_missing(_range('digest', found + 1, head.digest_sequence))})"
        )
    if found == head.digest_sequence and not head.names(latest):
        return f"digest #{found} does not match the anchor {where} (the sealed tail was rewritten and re-signed)"
    return None


def _check_anchor(anchor: AnchorReading, digests: Sequence[AuditDigest], count: int) -> tuple[Failure | None, str]:
    """The ledger's sealed tail against the chain head kept outside it: (failure, note).

    ``digests``: the ledger's valid, chained digests (every one signed).
    """
    head, where = anchor.head, anchor.where
    covered = digests[-1].last_sequence if digests else 0
    if isinstance(head, Unreadable):
        return (
            covered + 1,
            f"the chain head anchor {where} is unreadable: {head.reason} (nothing vouches that the ledger "
            f"still ends where it was last sealed)",
        ), ""
    sealed = head.digest_sequence if head else 0
    if head is not None and len(digests) < sealed:
        missing = [_range("digest", len(digests) + 1, sealed)]
        if count < head.last_sequence:
            missing.append(_range("record", count + 1, head.last_sequence))
        # The records the missing digests sealed are vouched for by nothing now.
        return (
            covered + 1,
            f"the ledger was truncated: its digests end at #{len(digests)} but the anchor {where} says digest "
            f"#{sealed} sealed records up to #{head.last_sequence} ({_missing(*missing)})",
        ), ""
    if head is not None and not head.names(ours := digests[sealed - 1]):
        return (
            ours.first_sequence,
            f"digest #{sealed} does not match the anchor {where}: the anchor says it sealed record "
            f"#{head.last_sequence} ({_short(head.last_record_hash)}…) and hashes to {_short(head.digest_hash)}…, "
            f"the ledger's sealed record #{ours.last_sequence} ({_short(ours.last_record_hash)}…) and hashes to "
            f"{_short(ours.digest_hash)}… (the sealed tail was rewritten and re-signed)",
        ), ""
    problem = head_gap(head, digests[-1] if digests else None, where)
    if problem is not None:
        return (covered + 1, problem), ""
    if len(digests) > sealed:
        name, count_beyond = _range("digest", sealed + 1, len(digests))
        return None, f"{name} {'is' if count_beyond == 1 else 'are'} not yet anchored (the next seal anchors them)"
    return None, ""


def verify(
    records: Sequence[AuditRecord | Unreadable],
    digests: Sequence[AuditDigest | Unreadable],
    key: bytes | DigestSigner,
    *,
    max_uncovered: int | None = None,
    anchor: AnchorReading | None = None,
) -> VerificationResult:
    """Check a whole ledger: records in storage order, digests in storage order.

    Detects edits, deletions, insertions, reorderings and truncation (see the module docstring for
    the uncovered tail). ``max_uncovered``: the digest cadence; a longer uncovered tail means
    digests are missing. ``anchor``: the chain head read from outside the ledger; the ledger must
    still end at or after it (``None``: no anchor is checked).
    """
    signer: DigestSigner = HmacSigner(key) if isinstance(key, bytes) else key
    valid_digests, digest_failure = _check_digests(digests, signer)
    checkpoints = {digest.last_sequence: digest for digest in valid_digests}
    failures = [failure for failure in (check_segment(records, checkpoints=checkpoints), digest_failure) if failure]
    count = len(records)
    covered = valid_digests[-1].last_sequence if valid_digests else 0
    if not failures and covered > count:
        # The first digest whose last record is gone cannot vouch for any record of its range.
        cut = next(digest for digest in valid_digests if digest.last_sequence > count)
        failures.append(
            (
                cut.first_sequence,
                f"the ledger was truncated: it ends at record #{count} but signed digest #{cut.digest_sequence} "
                f"covers records #{cut.first_sequence}..#{cut.last_sequence} "
                f"({_records(count + 1, covered, 'is')} missing)",
            )
        )
    anchor_note = ""
    if not failures and anchor is not None:
        anchor_failure, anchor_note = _check_anchor(anchor, valid_digests, count)
        if anchor_failure:
            failures.append(anchor_failure)
    if not failures and max_uncovered is not None and count - covered > max_uncovered:
        failures.append(
            (
                covered + 1,
                f"{_records(covered + 1, count, 'is')} not covered by any digest although one is written every "
                f"{max_uncovered} records (the latest digest(s) were deleted)",
            )
        )
    anchored = anchor.head.last_sequence if anchor is not None and isinstance(anchor.head, AuditAnchor) else 0
    summary = {
        "records": count,
        "digests": len(digests),
        "covered_up_to": min(covered, count),
        "anchored_up_to": anchored,
    }
    if failures:
        # On a tie the record problem is listed first and is the more specific of the two.
        sequence, problem = min(failures, key=lambda failure: failure[0])
        return VerificationResult(ok=False, first_bad_sequence=sequence, problem=problem, **summary)
    notes = [
        f"{_records(covered + 1, count, 'is')} not yet covered by a digest" if count > covered else "",
        anchor_note,
    ]
    return VerificationResult(ok=True, note="; ".join(note for note in notes if note), **summary)
