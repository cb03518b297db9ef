"""Verifying the audit ledger (pure, no I/O): the hash chain, the signed digests and the chain head anchor.

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

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from governed_mlops.domain.audit import (
    GENESIS_HASH,
    AnchorReading,
    AuditAnchor,
    AuditDigest,
    AuditRecord,
    DigestSigner,
    HmacSigner,
    Unreadable,
)

__all__ = ["Failure", "VerificationResult", "check_segment", "head_gap", "verify"]


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


def check_segment(  # noqa: PLR0911 - each way a segment can break is its own early return
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
