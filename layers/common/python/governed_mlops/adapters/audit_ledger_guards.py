"""What the audit ledgers refuse to do, shared by the local and the S3 ledger (no I/O).

Neither ledger chains onto, or signs over, entries it cannot read, records that do not chain onto what the previous
digest signed, or a tail that no longer reaches the chain head anchor: each guard raises
:class:`~governed_mlops.errors.AuditLedgerCorrupt` naming what is wrong and that ``mlops audit verify`` says more.
"""

from __future__ import annotations

from typing import Any

from governed_mlops.domain.audit import (
    GENESIS_HASH,
    AnchorReading,
    AuditAnchor,
    AuditDigest,
    AuditDraft,
    AuditRecord,
    JsonScalar,
    Unreadable,
)
from governed_mlops.domain.audit_verification import check_segment, head_gap
from governed_mlops.errors import AuditLedgerCorrupt

__all__ = ["all_readable", "head_or_raise", "new_draft", "readable_one", "sealed_end_or_raise", "segment_or_raise"]


def new_draft(
    actor: str, action: str, subject: str, details: dict[str, JsonScalar] | None, evidence: dict[str, str] | None
) -> AuditDraft:
    """The draft of the next record (absent details and evidence are empty)."""
    return AuditDraft(actor=actor, action=action, subject=subject, details=details or {}, evidence=evidence or {})


def all_readable(entries: list[Any], what: str) -> list[Any]:
    """``entries`` if every one could be read; otherwise name the first that could not."""
    for entry in entries:
        if isinstance(entry, Unreadable):
            raise AuditLedgerCorrupt(
                f"{what} entry {entry.position} is unreadable: {entry.reason} (run `mlops audit verify`)"
            )
    return entries


def readable_one(entry: Any, where: str) -> Any:
    """A single entry that must be readable (the one the next append or digest builds on)."""
    if isinstance(entry, Unreadable):
        raise AuditLedgerCorrupt(f"{where} is unreadable: {entry.reason} (run `mlops audit verify`)")
    return entry


def segment_or_raise(segment: list[AuditRecord | Unreadable], previous: AuditDigest | None, last: AuditRecord) -> None:
    """Refuse to sign records that do not chain onto what the previous digest signed.

    ``segment``: the stored records from the first one not yet covered up to ``last``.
    """
    first = previous.last_sequence + 1 if previous else 1
    failure = check_segment(segment, first, previous.last_record_hash if previous else GENESIS_HASH)
    if failure is None and len(segment) != last.sequence - first + 1:
        failure = (first, f"records #{first}..#{last.sequence} are not all present")
    if failure is not None:
        raise AuditLedgerCorrupt(f"not signing a digest: ledger FAILED at record #{failure[0]}: {failure[1]}")


def head_or_raise(anchor: AnchorReading, latest: AuditDigest | None) -> AuditAnchor | None:
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


def sealed_end_or_raise(latest: AuditDigest, last_record: AuditRecord) -> None:
    """With nothing new to seal, the ledger must end exactly at the record ``latest`` sealed."""
    if (last_record.sequence, last_record.record_hash) != (latest.last_sequence, latest.last_record_hash):
        raise AuditLedgerCorrupt(
            f"not signing a digest: the ledger ends at record #{last_record.sequence} "
            f"({last_record.record_hash[:12]}…) but digest #{latest.digest_sequence} sealed record "
            f"#{latest.last_sequence} ({latest.last_record_hash[:12]}…) (run `mlops audit verify`)"
        )
