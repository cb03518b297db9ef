"""The audit ledger's records and digests: canonical hashing, chaining, signing, reading back."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from governed_mlops.domain.audit import (
    GENESIS_HASH,
    AuditDigest,
    AuditDraft,
    AuditRecord,
    HmacSigner,
    Unreadable,
    canonical_json,
    chain,
    parse_entry,
    parse_jsonl,
    sign_digest,
)
from governed_mlops.domain.audit_verification import verify

KEY = bytes(range(32))
T0 = "2025-01-02T03:04:05.000006Z"
SHA_OF_MODEL = hashlib.sha256(b"model").hexdigest()


def draft(n: int = 1, **overrides: object) -> AuditDraft:
    fields: dict[str, object] = {
        "actor": "arn:aws:iam::123456789012:user/alice",
        "action": "approval.decided",
        "subject": "model-version-7",
        "details": {"decision": "approve", "comment": "looks good — ✓", "n": n, "ratio": 0.25, "final": True},
        "evidence": {"model.tar.gz": SHA_OF_MODEL},
        "time": T0,
    }
    return AuditDraft(**(fields | overrides))  # type: ignore[arg-type]


def ledger(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for i in range(1, n + 1):
        records.append(chain(records[-1] if records else None, draft(i)))
    return records


# -- canonical JSON and the record hash ------------------------------------------------------------
def test_canonical_json_ignores_key_order_and_has_no_whitespace():
    assert canonical_json({"b": 1, "a": {"y": 2, "x": "é"}}) == canonical_json({"a": {"x": "é", "y": 2}, "b": 1})
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json({"x": float("nan")})


def test_record_hash_is_sha256_of_canonical_json_of_the_other_fields():
    record = chain(None, draft())
    others = {k: v for k, v in json.loads(record.to_line()).items() if k != "record_hash"}
    expected = hashlib.sha256(
        json.dumps(others, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    assert record.record_hash == expected == record.computed_hash()


def test_record_hash_is_pinned_so_a_format_change_is_noticed():
    # A changed hash here breaks verification of every ledger already written.
    assert chain(None, draft()).record_hash == "be71bc6c69a7f0eb78d316e22c28f7e67f94ee44be348de16953df35b26d34f7"


def test_record_line_is_canonical_json_with_newline_and_reads_back_equal():
    record = chain(None, draft())
    line = record.to_line()
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert line[:-1] == canonical_json(json.loads(line))
    assert parse_entry(line, AuditRecord, 1) == record


# -- chaining -------------------------------------------------------------------------------------
def test_first_record_has_sequence_one_and_genesis_previous_hash():
    first = chain(None, draft())
    assert (first.sequence, first.previous_hash) == (1, GENESIS_HASH)
    assert GENESIS_HASH == "0" * 64


def test_each_record_names_the_hash_of_the_one_before():
    records = ledger(3)
    assert [r.sequence for r in records] == [1, 2, 3]
    assert records[1].previous_hash == records[0].record_hash
    assert records[2].previous_hash == records[1].record_hash


def test_identical_drafts_get_different_hashes_through_the_chain():
    first = chain(None, draft())
    second = chain(first, draft())
    assert first.record_hash != second.record_hash


def test_chain_stamps_utc_time_when_the_draft_has_none():
    record = chain(None, draft(time=None))
    assert record.time.endswith("Z")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time", "2025-01-02T03:04:05+02:00"),
        ("time", "yesterday"),
        ("action", "Approval Decided"),
        ("actor", ""),
        ("evidence", {"model": "not-a-sha256"}),
        ("details", {"x": float("inf")}),
        ("details", {"nested": {"a": 1}}),
        ("colour", "red"),
    ],
    ids=["non-utc", "not-iso", "action-pattern", "empty-actor", "evidence-hash", "non-finite", "nested", "extra"],
)
def test_draft_refuses_malformed_input(field: str, value: object):
    with pytest.raises(ValidationError):
        draft(**{field: value})


def test_records_are_frozen():
    record = chain(None, draft())
    with pytest.raises(ValidationError):
        record.actor = "mallory"  # type: ignore[misc]


def test_reading_is_strict_about_types():
    line = chain(None, draft()).to_line().replace(b'"sequence":1', b'"sequence":"1"')
    entry = parse_entry(line, AuditRecord, 1)
    assert isinstance(entry, Unreadable)
    assert "sequence" in entry.reason


# -- reading JSONL --------------------------------------------------------------------------------
def test_parse_jsonl_reports_a_torn_last_line_instead_of_dropping_it():
    records = ledger(2)
    data = records[0].to_line() + records[1].to_line()[:40]
    entries = parse_jsonl(data, AuditRecord)
    assert entries[0] == records[0]
    assert isinstance(entries[1], Unreadable)
    assert entries[1].position == 2
    assert "torn" in entries[1].reason


def test_parse_jsonl_reports_a_complete_record_without_its_newline_as_torn():
    record = chain(None, draft())
    (entry,) = parse_jsonl(record.to_line()[:-1], AuditRecord)
    assert isinstance(entry, Unreadable)
    assert "torn" in entry.reason


def test_parse_jsonl_reports_garbage_and_empty_lines():
    entries = parse_jsonl(b"{not json\n\n", AuditRecord)
    assert [type(e) for e in entries] == [Unreadable, Unreadable]
    assert "not valid JSON" in entries[0].reason  # type: ignore[union-attr]
    assert entries[1].reason == "empty line"  # type: ignore[union-attr]


def test_parse_jsonl_of_an_empty_file_is_empty():
    assert parse_jsonl(b"", AuditRecord) == []


# -- digests --------------------------------------------------------------------------------------
def test_digest_signature_is_hmac_over_canonical_json_of_the_other_fields():
    records = ledger(3)
    digest = sign_digest(None, records[-1], HmacSigner(KEY), time=T0)
    payload = {k: v for k, v in digest.model_dump().items() if k not in {"signature", "digest_hash"}}
    assert digest.signature == hmac.new(KEY, canonical_json(payload), hashlib.sha256).hexdigest()
    assert digest.digest_hash == hashlib.sha256(canonical_json(digest.model_dump(exclude={"digest_hash"}))).hexdigest()
    assert (digest.digest_sequence, digest.first_sequence, digest.last_sequence) == (1, 1, 3)
    assert (digest.last_record_hash, digest.previous_digest_hash) == (records[-1].record_hash, GENESIS_HASH)


def test_digests_chain_to_each_other_and_cover_consecutive_ranges():
    records = ledger(5)
    first = sign_digest(None, records[1], HmacSigner(KEY))
    second = sign_digest(first, records[4], HmacSigner(KEY))
    assert (second.digest_sequence, second.first_sequence, second.last_sequence) == (2, 3, 5)
    assert second.previous_digest_hash == first.digest_hash


def test_a_digest_of_already_covered_records_is_refused():
    records = ledger(2)
    first = sign_digest(None, records[1], HmacSigner(KEY))
    with pytest.raises(ValueError, match="already covered"):
        sign_digest(first, records[1], HmacSigner(KEY))


def test_digest_reads_back_equal():
    digest = sign_digest(None, ledger(1)[0], HmacSigner(KEY))
    assert parse_entry(digest.to_line(), AuditDigest, 1) == digest


def test_hmac_key_must_not_be_trivially_short():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        HmacSigner(b"short")


# -- verification of untouched ledgers ------------------------------------------------------------
def test_an_empty_ledger_verifies():
    result = verify([], [], KEY)
    assert result.ok
    assert (result.records, result.digests, result.covered_up_to) == (0, 0, 0)


def test_an_untouched_ledger_verifies_and_reports_its_uncovered_tail():
    records = ledger(5)
    digests = [sign_digest(None, records[2], HmacSigner(KEY))]
    result = verify(records, digests, KEY)
    assert result.ok, result.problem
    assert (result.records, result.digests, result.covered_up_to, result.uncovered) == (5, 1, 3, 2)
    assert result.note == "records #4..#5 are not yet covered by a digest"


def test_a_fully_covered_ledger_has_no_note():
    records = ledger(2)
    result = verify(records, [sign_digest(None, records[-1], HmacSigner(KEY))], KEY)
    assert result.ok
    assert result.note == ""


def test_verification_with_another_key_fails_at_the_first_covered_record():
    records = ledger(3)
    digests = [sign_digest(None, records[-1], HmacSigner(KEY))]
    result = verify(records, digests, b"x" * 32)
    assert not result.ok
    assert result.first_bad_sequence == 1
    assert "invalid signature" in result.problem


def test_an_uncovered_tail_longer_than_the_digest_cadence_fails():
    records = ledger(7)
    digests = [sign_digest(None, records[1], HmacSigner(KEY))]
    assert verify(records, digests, KEY, max_uncovered=5).ok
    result = verify(records, digests, KEY, max_uncovered=4)
    assert not result.ok
    assert result.first_bad_sequence == 3
    assert "not covered by any digest" in result.problem
