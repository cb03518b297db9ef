"""The audit ledger on disk (threads, processes, crashes), on S3 + KMS (moto), and `mlops audit`."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
import botocore.exceptions
import pytest
from click.testing import CliRunner

from governed_mlops.adapters.approvals import FileSecret, LocalApprovalStore, LocalOutbox
from governed_mlops.adapters.audit_ledger import KEY_FILE, LocalAuditLedger, load_key, load_or_create_key
from governed_mlops.adapters.audit_ledger_s3 import S3AuditLedger
from governed_mlops.domain import approval as rules
from governed_mlops.domain.audit import AuditAnchor, AuditDigest, AuditRecord, parse_jsonl
from governed_mlops.errors import AuditLedgerCorrupt
from governed_mlops.services.alerts import ExecutionStatusChange, handle_status_change
from governed_mlops.services.approval import ApprovalDeps, DecisionForm, decide
from governed_mlops.services.approval_outcome import OutcomeEvent, record_outcome
from governed_mlops_local.cli.audit import audit
from tests.conftest import pending_approval

SHA = hashlib.sha256(b"evaluation report").hexdigest()
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
APPROVER = rules.Identity(user="carol.approver", groups=frozenset({"model-approvers"}))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mlops-data"


def ledger_at(root: Path, digest_every: int = 50) -> LocalAuditLedger:
    return LocalAuditLedger(root, load_or_create_key(root), digest_every=digest_every)


def fill(ledger: Any, n: int, subject: str = "exec-1") -> list[AuditRecord]:
    return [
        ledger.append(
            "system:train_model", "stage.succeeded", subject, details={"stage": f"s{i}", "i": i}, evidence={"r": SHA}
        )
        for i in range(1, n + 1)
    ]


# -- the key --------------------------------------------------------------------------------------
def test_key_is_created_once_with_32_random_bytes_readable_only_by_the_owner(root: Path):
    assert load_key(root) is None
    key = load_or_create_key(root)
    path = root / KEY_FILE
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(root) == key == load_key(root)


# -- format and digests ---------------------------------------------------------------------------
def test_records_are_canonical_json_lines_and_digests_are_written_every_n_records(root: Path):
    ledger = ledger_at(root, digest_every=3)
    records = fill(ledger, 7)
    lines = ledger.ledger_path.read_bytes().splitlines(keepends=True)
    assert [AuditRecord.model_validate_json(line) for line in lines] == records
    assert lines[0] == records[0].to_line()
    digests = ledger.digests()
    assert [(d.first_sequence, d.last_sequence) for d in digests] == [(1, 3), (4, 6)]
    assert digests[1].last_record_hash == records[5].record_hash
    result = ledger.verify()
    assert result.ok, result.problem
    assert (result.records, result.digests, result.covered_up_to) == (7, 2, 6)
    assert result.note == "record #7 is not yet covered by a digest"


def test_write_digest_on_demand_covers_the_tail_and_is_idempotent(root: Path):
    ledger = ledger_at(root)
    fill(ledger, 4)
    digest = ledger.write_digest()
    assert (digest.first_sequence, digest.last_sequence) == (1, 4)
    assert ledger.write_digest() == digest
    assert len(ledger.digests()) == 1
    assert ledger.verify().note == ""


def test_write_digest_on_an_empty_ledger_is_refused(root: Path):
    with pytest.raises(AuditLedgerCorrupt, match="empty"):
        ledger_at(root).write_digest()


def test_records_filters_by_subject(root: Path):
    ledger = ledger_at(root)
    fill(ledger, 2, subject="exec-1")
    fill(ledger, 1, subject="model-v2")
    assert [r.sequence for r in ledger.records(subject="model-v2")] == [3]


# -- concurrency ----------------------------------------------------------------------------------
def _append_from_threads(root: str, threads: int, per_thread: int, start: Any = None) -> None:
    """Run in a child process too: each thread appends ``per_thread`` records."""
    path = Path(root)
    ledger = LocalAuditLedger(path, load_or_create_key(path), digest_every=7)
    if start is not None:
        start.wait(10)
    gate = threading.Barrier(threads)

    def work(t: int) -> None:
        gate.wait()
        for i in range(per_thread):
            ledger.append(f"system:worker-{os.getpid()}-{t}", "stage.succeeded", "exec-1", details={"i": i})

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def assert_contiguous_and_verified(root: Path, expected: int) -> None:
    ledger = ledger_at(root, digest_every=7)
    records = ledger.records()
    assert [r.sequence for r in records] == list(range(1, expected + 1))
    digests = ledger.digests()
    assert [d.digest_sequence for d in digests] == list(range(1, len(digests) + 1))
    assert digests[-1].last_sequence == expected // 7 * 7
    result = ledger.verify()
    assert result.ok, result.problem


def test_appends_from_four_threads_form_one_contiguous_verified_chain(root: Path):
    _append_from_threads(str(root), threads=4, per_thread=25)
    assert_contiguous_and_verified(root, 100)


def test_appends_from_two_processes_with_two_threads_each_form_one_contiguous_verified_chain(root: Path):
    # Given two processes that create the key and append at the same moment (spawn: no shared state)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    children = [context.Process(target=_append_from_threads, args=(str(root), 2, 20, start)) for _ in range(2)]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(60)
    # Then both exited cleanly and the ledger is one contiguous chain
    assert [child.exitcode for child in children] == [0, 0]
    actors = {r.actor.split("-")[1] for r in ledger_at(root).records()}
    assert len(actors) == 2  # both processes wrote
    assert_contiguous_and_verified(root, 80)


# -- crashes and tampering on disk ----------------------------------------------------------------
@pytest.fixture
def torn(root: Path) -> tuple[LocalAuditLedger, bytes]:
    ledger = ledger_at(root, digest_every=2)
    fill(ledger, 3)
    draft_line = ledger.ledger_path.read_bytes().splitlines()[-1]
    fragment = draft_line[: len(draft_line) // 2]
    with ledger.ledger_path.open("ab") as handle:
        handle.write(fragment)
    return ledger, fragment


def test_a_torn_last_line_is_reported_by_verify(torn: tuple[LocalAuditLedger, bytes]):
    ledger, _ = torn
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_sequence == 4
    assert "record #4 (entry 4) is unreadable: torn" in result.problem


def test_a_torn_last_line_is_never_silently_skipped_by_readers_or_writers(torn: tuple[LocalAuditLedger, bytes]):
    ledger, _ = torn
    with pytest.raises(AuditLedgerCorrupt, match="entry 4 is unreadable"):
        ledger.records()
    with pytest.raises(AuditLedgerCorrupt, match="torn line"):
        ledger.append("alice", "config.changed", "models/credit-risk/config.yaml")


def test_removing_a_torn_tail_keeps_the_fragment_and_records_the_removal(torn: tuple[LocalAuditLedger, bytes]):
    ledger, fragment = torn
    record = ledger.remove_torn_tail("arn:aws:iam::123456789012:user/oncall")
    assert record is not None
    assert (record.sequence, record.action) == (4, "audit.torn_tail_removed")
    assert record.evidence == {"ledger.jsonl": hashlib.sha256(fragment).hexdigest()}
    (kept,) = (ledger.ledger_path.parent / "torn").iterdir()
    assert kept.read_bytes() == fragment
    assert ledger.verify().ok
    assert ledger.remove_torn_tail("oncall") is None


def test_a_torn_digest_line_stops_appends_before_they_write(root: Path):
    ledger = ledger_at(root, digest_every=2)
    fill(ledger, 2)
    with ledger.digests_path.open("ab") as handle:
        handle.write(b'{"digest_sequence":2,')
    before = ledger.ledger_path.read_bytes()
    with pytest.raises(AuditLedgerCorrupt, match="torn line"):
        ledger.append("alice", "config.changed", "models/credit-risk/config.yaml")
    assert ledger.ledger_path.read_bytes() == before
    assert "digest #2 (entry 2) is unreadable: torn" in ledger.verify().problem
    record = ledger.remove_torn_tail("oncall")
    assert record is not None
    assert set(record.evidence) == {"digests.jsonl"}
    assert ledger.verify().ok


def test_an_edited_line_on_disk_is_pinned_to_its_record(root: Path):
    ledger = ledger_at(root, digest_every=3)
    fill(ledger, 5)
    lines = ledger.ledger_path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"system:train_model", b"system:someone_else")
    ledger.ledger_path.write_bytes(b"".join(lines))
    result = ledger.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 2)
    assert "record #2 was altered" in result.problem


def test_a_digest_is_not_signed_over_a_tampered_segment(root: Path):
    ledger = ledger_at(root, digest_every=3)
    fill(ledger, 4)
    lines = ledger.ledger_path.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"i":4', b'"i":40')
    ledger.ledger_path.write_bytes(b"".join(lines))
    with pytest.raises(AuditLedgerCorrupt, match="not signing a digest: ledger FAILED at record #4"):
        ledger.write_digest()
    assert len(ledger.digests()) == 1


def test_a_digest_signed_with_another_key_fails_verification(root: Path):
    fill(ledger_at(root, digest_every=2), 4)
    result = LocalAuditLedger(root, b"another key of 32 bytes........", digest_every=2).verify()
    assert (result.ok, result.first_bad_sequence) == (False, 1)
    assert "invalid signature" in result.problem


# -- S3 + KMS (moto) ------------------------------------------------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    # Imported here so the spawned writer processes, which import this module, start quickly.
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        kms = boto3.client("kms", region_name="us-east-1")
        s3.create_bucket(Bucket="governed-mlops-audit", ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket="governed-mlops-audit",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
            },
        )
        key_id = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        yield SimpleNamespace(s3=s3, kms=kms, key_id=key_id, bucket="governed-mlops-audit")


def s3_ledger(aws: SimpleNamespace, digest_every: int = 2) -> S3AuditLedger:
    return S3AuditLedger(aws.s3, aws.bucket, "audit/", aws.kms, aws.key_id, digest_every=digest_every)


def test_s3_ledger_writes_one_object_per_record_and_kms_signed_digests(aws: SimpleNamespace):
    puts: list[dict[str, Any]] = []
    aws.s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: puts.append(dict(params)))
    ledger = s3_ledger(aws)
    records = fill(ledger, 5)
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert keys == [
        "audit/digests/000000000001.json",
        "audit/digests/000000000002.json",
        "audit/head.json",
        *(f"audit/records/{i:012d}.json" for i in range(1, 6)),
    ]
    assert all(p["IfNoneMatch"] == "*" for p in puts if p["Key"] != "audit/head.json")
    # The head is created once, then only replaced with the ETag it was read with.
    assert [set(p) & {"IfNoneMatch", "IfMatch"} for p in puts if p["Key"] == "audit/head.json"] == [
        {"IfNoneMatch"},
        {"IfMatch"},
    ]
    body = aws.s3.get_object(Bucket=aws.bucket, Key="audit/records/000000000003.json")["Body"].read()
    assert body == records[2].to_line()
    digest = ledger.digests()[1]
    mac = aws.kms.generate_mac(KeyId=aws.key_id, Message=digest.signed_payload(), MacAlgorithm="HMAC_SHA_256")
    assert digest.signature == mac["Mac"].hex()
    result = ledger.verify()
    assert result.ok, result.problem
    assert (result.records, result.digests, result.covered_up_to) == (5, 2, 4)


def test_s3_ledger_never_overwrites_a_record_and_retries_on_the_next_sequence(aws: SimpleNamespace):
    # Given a writer that has seen record #1, and another writer that takes #2 just before it writes
    ledger = s3_ledger(aws, digest_every=50)
    fill(ledger, 1)
    rival = S3AuditLedger(boto3.client("s3"), aws.bucket, "audit", aws.kms, aws.key_id, digest_every=50)
    raced = []

    def rival_wins(params: dict[str, Any], **_: Any) -> None:
        if not raced and params["Key"].endswith("000000000002.json"):
            raced.append(rival.append("system:rival", "stage.failed", "exec-1"))

    aws.s3.meta.events.register("provide-client-params.s3.PutObject", rival_wins)
    # When it appends
    mine = ledger.append("system:me", "stage.succeeded", "exec-1")
    # Then the conditional put refused #2, and it chained onto the rival's record as #3
    assert mine.sequence == 3
    assert mine.previous_hash == raced[0].record_hash
    assert [r.actor for r in ledger.records()] == ["system:train_model", "system:rival", "system:me"]
    assert ledger.verify().ok


def test_s3_ledger_detects_an_overwritten_record(aws: SimpleNamespace):
    ledger = s3_ledger(aws)
    records = fill(ledger, 4)
    forged = records[1].model_copy(update={"actor": "mallory"})
    aws.s3.put_object(Bucket=aws.bucket, Key="audit/records/000000000002.json", Body=forged.to_line())
    result = ledger.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 2)


def test_s3_ledger_detects_a_digest_signed_with_another_kms_key(aws: SimpleNamespace):
    fill(s3_ledger(aws), 2)
    other = aws.kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    result = S3AuditLedger(aws.s3, aws.bucket, "audit", aws.kms, other).verify()
    assert (result.ok, result.first_bad_sequence) == (False, 1)
    assert "invalid signature" in result.problem


# -- mlops audit ----------------------------------------------------------------------------------
def run(root: Path, *args: str) -> Any:
    return CliRunner().invoke(audit, list(args), obj=SimpleNamespace(data_dir=root))


def test_cli_log_prints_a_table_of_records(root: Path):
    records = fill(ledger_at(root), 2)
    result = run(root, "log")
    assert result.exit_code == 0, result.output
    header, first, second = result.output.splitlines()
    assert header.split() == ["seq", "time", "actor", "action", "subject", "hash"]
    assert first.split() == [
        "1",
        records[0].time,
        "system:train_model",
        "stage.succeeded",
        "exec-1",
        records[0].record_hash[:12],
    ]
    assert second.startswith("2 ")


def test_cli_log_json_lists_the_records_of_a_subject(root: Path):
    ledger = ledger_at(root)
    fill(ledger, 1, subject="exec-1")
    (wanted,) = fill(ledger, 1, subject="model-v2")
    result = run(root, "log", "--json", "--subject", "model-v2")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [wanted.model_dump(mode="json")]


def test_cli_log_on_an_empty_data_dir(root: Path):
    result = run(root, "log")
    assert (result.exit_code, result.output) == (0, "no audit records\n")


def test_cli_verify_ok(root: Path):
    fill(ledger_at(root, digest_every=50), 3)
    ledger_at(root).write_digest()
    fill(ledger_at(root), 1)
    result = run(root, "verify")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ledger OK: 4 records, 1 digests, last digest covers up to #3",
        "note: record #4 is not yet covered by a digest",
    ]


def test_cli_verify_on_a_fresh_data_dir_creates_nothing(root: Path):
    result = run(root, "verify")
    assert (result.exit_code, result.output) == (0, "ledger OK: 0 records, 0 digests, no digest yet\n")
    assert not root.exists()


def test_cli_verify_fails_at_the_tampered_record(root: Path):
    ledger = ledger_at(root)
    fill(ledger, 3)
    lines = ledger.ledger_path.read_bytes().splitlines(keepends=True)
    del lines[1]
    ledger.ledger_path.write_bytes(b"".join(lines))
    result = run(root, "verify")
    assert result.exit_code == 1
    assert result.output == (
        "ledger FAILED at record #2: record #2 is missing: found record #3 in its place "
        "(a record was deleted or records were reordered)\n"
    )


def test_cli_verify_and_log_report_a_torn_line(torn: tuple[LocalAuditLedger, bytes], root: Path):
    verified = run(root, "verify")
    assert verified.exit_code == 1
    assert verified.output.startswith("ledger FAILED at record #4: record #4 (entry 4) is unreadable: torn")
    logged = run(root, "log")
    assert logged.exit_code == 1
    assert "entry 4 is unreadable" in logged.stderr


def test_cli_verify_fails_when_the_key_is_gone(root: Path):
    fill(ledger_at(root, digest_every=1), 1)
    (root / KEY_FILE).unlink()
    result = run(root, "verify")
    assert result.exit_code == 1
    assert "key" in result.output
    assert "missing" in result.output
    assert not (root / KEY_FILE).exists()


def test_parsed_digests_file_matches_the_api(root: Path):
    ledger = ledger_at(root, digest_every=2)
    fill(ledger, 4)
    assert parse_jsonl(ledger.digests_path.read_bytes(), AuditDigest) == ledger.digests()


# -- sealing and the chain head anchor (local) -----------------------------------------------------
def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _drop_last_line(path: Path) -> None:
    path.write_bytes(b"".join(_lines(path)[:-1]))


@pytest.fixture
def sealed_ledger(root: Path) -> LocalAuditLedger:
    """Seven records, a cadence digest after #3 and a seal after #7 (an execution's end)."""
    ledger = ledger_at(root, digest_every=3)
    fill(ledger, 7)
    ledger.seal()
    return ledger


def test_seal_covers_every_record_and_moves_the_anchor_outside_the_ledger_directory(
    sealed_ledger: LocalAuditLedger, root: Path
):
    digests = sealed_ledger.digests()
    assert [(d.first_sequence, d.last_sequence) for d in digests] == [(1, 3), (4, 6), (7, 7)]
    assert sealed_ledger.anchor_path == root / "audit-anchor" / "head.json"
    assert not sealed_ledger.anchor_path.is_relative_to(sealed_ledger.ledger_path.parent)
    assert AuditAnchor.model_validate_json(sealed_ledger.anchor_path.read_bytes()) == AuditAnchor.of(digests[-1])
    result = sealed_ledger.verify()
    assert result.ok, result.problem
    assert (result.uncovered, result.anchored_up_to, result.note) == (0, 7, "")


def test_seal_with_nothing_new_returns_the_last_digest_and_writes_nothing(sealed_ledger: LocalAuditLedger):
    before = (sealed_ledger.digests_path.read_bytes(), sealed_ledger.anchor_path.read_bytes())
    assert sealed_ledger.seal() == sealed_ledger.digests()[-1]
    assert (sealed_ledger.digests_path.read_bytes(), sealed_ledger.anchor_path.read_bytes()) == before


def test_cutting_the_last_record_is_detected(sealed_ledger: LocalAuditLedger):
    _drop_last_line(sealed_ledger.ledger_path)
    result = sealed_ledger.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 7)
    assert result.problem == (
        "the ledger was truncated: it ends at record #6 but signed digest #3 covers records #7..#7 "
        "(record #7 is missing)"
    )


def test_cutting_the_last_digest_is_detected(sealed_ledger: LocalAuditLedger):
    _drop_last_line(sealed_ledger.digests_path)
    result = sealed_ledger.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 7)
    assert result.problem == (
        f"the ledger was truncated: its digests end at #2 but the anchor {sealed_ledger.anchor_path} says "
        "digest #3 sealed records up to #7 (digest #3 is missing)"
    )


def test_rewriting_the_last_record_is_detected(sealed_ledger: LocalAuditLedger):
    lines = _lines(sealed_ledger.ledger_path)
    last = AuditRecord.model_validate_json(lines[-1])
    forged = last.model_copy(update={"actor": "mallory"})
    lines[-1] = forged.model_copy(update={"record_hash": forged.computed_hash()}).to_line()
    sealed_ledger.ledger_path.write_bytes(b"".join(lines))
    result = sealed_ledger.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 7)
    assert "do not match signed digest #3" in result.problem


def test_dropping_the_last_record_and_the_last_digest_is_detected(sealed_ledger: LocalAuditLedger):
    _drop_last_line(sealed_ledger.ledger_path)
    _drop_last_line(sealed_ledger.digests_path)
    result = sealed_ledger.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 7)
    assert result.problem == (
        f"the ledger was truncated: its digests end at #2 but the anchor {sealed_ledger.anchor_path} says "
        "digest #3 sealed records up to #7 (digest #3 and record #7 are missing)"
    )


def test_cli_verify_names_what_was_cut(sealed_ledger: LocalAuditLedger, root: Path):
    _drop_last_line(sealed_ledger.ledger_path)
    _drop_last_line(sealed_ledger.digests_path)
    result = run(root, "verify")
    assert result.exit_code == 1
    assert result.output.startswith("ledger FAILED at record #7: the ledger was truncated")
    assert "(digest #3 and record #7 are missing)" in result.output


def test_no_digest_is_sealed_over_a_cut_tail(sealed_ledger: LocalAuditLedger):
    # Given the last record and its digest cut, and the records after them appended again
    _drop_last_line(sealed_ledger.ledger_path)
    _drop_last_line(sealed_ledger.digests_path)
    anchor = sealed_ledger.anchor_path.read_bytes()
    fill(sealed_ledger, 1)  # a new #7: below the cadence, so no digest yet
    # When the next execution ends, the seal refuses: sealing would hide the cut for good
    with pytest.raises(AuditLedgerCorrupt, match="not signing a digest: the ledger's digests end at #2"):
        sealed_ledger.seal()
    assert sealed_ledger.anchor_path.read_bytes() == anchor
    assert len(sealed_ledger.digests()) == 2
    assert not sealed_ledger.verify().ok


def test_a_crash_between_the_digest_and_the_anchor_is_noted_and_repaired_by_the_next_seal(
    sealed_ledger: LocalAuditLedger,
):
    # Given the anchor still names digest #2 (the process died after writing digest #3)
    sealed_ledger.anchor_path.write_bytes(AuditAnchor.of(sealed_ledger.digests()[1]).to_bytes())
    result = sealed_ledger.verify()
    assert result.ok, result.problem
    assert result.note == "digest #3 is not yet anchored (the next seal anchors them)"
    # When the next seal finds nothing new, it still moves the anchor
    sealed_ledger.seal()
    assert sealed_ledger.verify().note == ""


def test_an_unsealed_tail_is_counted_and_a_seal_covers_it(sealed_ledger: LocalAuditLedger):
    fill(sealed_ledger, 2)
    result = sealed_ledger.verify()
    assert (result.ok, result.uncovered, result.note) == (True, 2, "records #8..#9 are not yet covered by a digest")
    sealed_ledger.seal()
    assert sealed_ledger.verify().uncovered == 0


def _status_change(status: str) -> ExecutionStatusChange:
    return ExecutionStatusChange.model_validate(
        {
            "id": f"event-{status}",
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": "arn:aws:states:us-east-1:123456789012:execution:TrainingPipeline:exec-1",
                "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:TrainingPipeline",
                "name": "exec-1",
                "status": status,
                "error": "QualityGateFailed" if status == "FAILED" else None,
            },
        }
    )


class _History:
    def get_execution_history(self, **_: Any) -> dict[str, Any]:
        return {"events": []}


class _Outbox:
    def publish(self, *_: Any) -> None:
        """Alerts are not what these tests look at."""


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED"])
def test_a_demo_run_leaves_a_ledger_with_nothing_uncovered(root: Path, status: str):
    # Given what a run records (far fewer than digest_every records)
    ledger = ledger_at(root)
    ledger.append("alice", "pipeline.triggered", "exec-1", details={"kind": "data-arrival"})
    fill(ledger, 4)
    # When the Execution Monitor handles the end of the execution
    handle_status_change(
        _status_change(status), sfn=_History(), notifier=_Outbox(), audit=ledger, history_url_template="{arn}"
    )
    # Then everything is sealed, and cutting the last record is no longer invisible
    result = ledger.verify()
    assert result.ok, result.problem
    assert (result.records, result.digests, result.uncovered) == (6, 1, 0)
    _drop_last_line(ledger.ledger_path)
    assert not ledger.verify().ok


def test_an_approval_decision_is_sealed_at_once(root: Path):
    # Given a pending approval and a ledger with the run so far
    ledger = ledger_at(root)
    fill(ledger, 3)
    store = LocalApprovalStore(root)
    record = pending_approval(NOW)
    store.create(record, "task-token")
    secret = FileSecret(root / "approval.key")
    exp = int(record.expires_at.timestamp())
    form = DecisionForm(
        decision="approve",
        csrf_token=rules.csrf_token(secret.get(), record.approval_id, APPROVER.user),
        exp=str(exp),
        sig=rules.link_signature(secret.get(), record.approval_id, exp),
    )
    sfn = mock.Mock()
    deps = ApprovalDeps(
        store=store,
        registry=mock.Mock(),
        objects=mock.Mock(),
        secret=secret,
        notifier=LocalOutbox(root),
        sfn=sfn,
        audit=ledger,
    )
    # When the approver decides
    decide(record.approval_id, form, APPROVER, deps, approver_group="model-approvers", now=NOW)
    # Then the decision is the last record and a digest covers it
    assert sfn.send_task_success.called
    assert ledger.records()[-1].action == "approval.decided"
    result = ledger.verify()
    assert (result.ok, result.uncovered, result.covered_up_to) == (True, 0, 4)


def test_recording_the_approval_outcome_is_sealed(root: Path):
    ledger = ledger_at(root)
    fill(ledger, 2)
    store = LocalApprovalStore(root)
    store.create(pending_approval(NOW), "task-token")
    registry = mock.Mock()
    registry.record_decision.return_value = SimpleNamespace(model_version="credit-risk/1", status="Rejected")
    deps = ApprovalDeps(
        store=store,
        registry=registry,
        objects=mock.Mock(),
        secret=FileSecret(root / "approval.key"),
        notifier=LocalOutbox(root),
        sfn=mock.Mock(),
        audit=ledger,
    )
    event = OutcomeEvent.model_validate(
        {
            "execution_name": "data-x",
            "registration": {"model_version": "credit-risk/1", "status": "x"},
            "outcome": "expired",
        }
    )
    record_outcome(event, deps, now=NOW)
    assert ledger.records()[-1].action == "model.expired"
    assert (ledger.verify().uncovered, len(ledger.digests())) == (0, 1)


# -- sealing and the chain head anchor (S3 + KMS on moto) ------------------------------------------
HEAD_KEY = "audit/head.json"


@pytest.fixture
def sealed_s3(aws: SimpleNamespace) -> S3AuditLedger:
    """Five records, a cadence digest after #3 and a seal after #5, signed with the key's ARN."""
    arn = aws.kms.describe_key(KeyId=aws.key_id)["KeyMetadata"]["Arn"]  # what the template passes
    ledger = S3AuditLedger(aws.s3, aws.bucket, "audit/", aws.kms, arn, digest_every=3)
    fill(ledger, 5)
    ledger.seal()
    return ledger


def _hide(aws: SimpleNamespace, key: str) -> None:
    """What a delete without a version id does under Object Lock: a delete marker hides the object."""
    assert aws.s3.delete_object(Bucket=aws.bucket, Key=key)["DeleteMarker"] is True


def _object(aws: SimpleNamespace, key: str) -> bytes:
    return bytes(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())


def test_s3_seal_anchors_the_last_digest_object_in_head_json(aws: SimpleNamespace, sealed_s3: S3AuditLedger):
    last = AuditDigest.model_validate_json(_object(aws, "audit/digests/000000000002.json"))
    assert (last.first_sequence, last.last_sequence) == (4, 5)
    assert AuditAnchor.model_validate_json(_object(aws, HEAD_KEY)) == AuditAnchor.of(last)
    head = aws.s3.get_object(Bucket=aws.bucket, Key=HEAD_KEY)
    assert head["ObjectLockMode"] == "COMPLIANCE"  # every version of the head is kept too
    result = sealed_s3.verify()
    assert result.ok, result.problem
    assert (result.uncovered, result.anchored_up_to, result.note) == (0, 5, "")


def test_s3_objects_of_the_ledger_cannot_be_deleted_by_version_under_object_lock(
    aws: SimpleNamespace, sealed_s3: S3AuditLedger
):
    version = aws.s3.head_object(Bucket=aws.bucket, Key="audit/records/000000000005.json")["VersionId"]
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        aws.s3.delete_object(Bucket=aws.bucket, Key="audit/records/000000000005.json", VersionId=version)


def test_s3_hiding_the_last_record_is_detected(aws: SimpleNamespace, sealed_s3: S3AuditLedger):
    _hide(aws, "audit/records/000000000005.json")
    result = sealed_s3.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 4)
    assert result.problem.endswith("covers records #4..#5 (record #5 is missing)")


def test_s3_hiding_the_last_digest_is_detected(aws: SimpleNamespace, sealed_s3: S3AuditLedger):
    _hide(aws, "audit/digests/000000000002.json")
    result = sealed_s3.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 4)
    assert result.problem == (
        f"the ledger was truncated: its digests end at #1 but the anchor s3://{aws.bucket}/{HEAD_KEY} says "
        "digest #2 sealed records up to #5 (digest #2 is missing)"
    )


def test_s3_hiding_the_last_record_and_the_last_digest_is_detected(aws: SimpleNamespace, sealed_s3: S3AuditLedger):
    _hide(aws, "audit/records/000000000005.json")
    _hide(aws, "audit/digests/000000000002.json")
    result = sealed_s3.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 4)
    assert result.problem.endswith("(digest #2 and record #5 are missing)")


def test_s3_rewriting_the_last_record_is_detected(aws: SimpleNamespace, sealed_s3: S3AuditLedger):
    last = AuditRecord.model_validate_json(_object(aws, "audit/records/000000000005.json"))
    forged = last.model_copy(update={"actor": "mallory"})
    forged = forged.model_copy(update={"record_hash": forged.computed_hash()})
    # An unconditional put makes a new current version (the bucket policy refuses it in AWS; moto does not).
    aws.s3.put_object(Bucket=aws.bucket, Key="audit/records/000000000005.json", Body=forged.to_line())
    result = sealed_s3.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 4)
    assert "do not match signed digest #2" in result.problem


def test_s3_hiding_the_head_once_two_digests_exist_is_detected(aws: SimpleNamespace, sealed_s3: S3AuditLedger):
    _hide(aws, HEAD_KEY)
    result = sealed_s3.verify()
    assert not result.ok
    assert result.problem == (
        f"the chain head anchor s3://{aws.bucket}/{HEAD_KEY} is missing although the ledger has 2 digests "
        "(it was deleted)"
    )


def test_s3_no_digest_is_sealed_over_a_hidden_tail(aws: SimpleNamespace, sealed_s3: S3AuditLedger):
    _hide(aws, "audit/records/000000000005.json")
    _hide(aws, "audit/digests/000000000002.json")
    # A fresh writer (a new Lambda instance) appends and seals at the next execution's end
    writer = S3AuditLedger(aws.s3, aws.bucket, "audit", aws.kms, aws.key_id, digest_every=50)
    fill(writer, 1)
    with pytest.raises(AuditLedgerCorrupt, match="not signing a digest: the ledger's digests end at #1"):
        writer.seal()
    assert AuditAnchor.model_validate_json(_object(aws, HEAD_KEY)).digest_sequence == 2


def test_s3_demo_run_leaves_nothing_uncovered(aws: SimpleNamespace):
    ledger = s3_ledger(aws, digest_every=50)
    ledger.append("alice", "pipeline.triggered", "exec-1")
    fill(ledger, 3)
    handle_status_change(
        _status_change("SUCCEEDED"), sfn=_History(), notifier=_Outbox(), audit=ledger, history_url_template="{arn}"
    )
    result = ledger.verify()
    assert result.ok, result.problem
    assert (result.records, result.digests, result.uncovered, result.anchored_up_to) == (5, 1, 0, 5)


def test_s3_head_moves_only_forward_when_a_rival_seals_in_between(aws: SimpleNamespace):
    # Given two writers, and a rival that seals more records just before this writer replaces the head
    ledger = s3_ledger(aws, digest_every=50)
    fill(ledger, 2)
    rival = S3AuditLedger(boto3.client("s3"), aws.bucket, "audit", aws.kms, aws.key_id, digest_every=50)
    raced: list[AuditDigest] = []

    def rival_seals_first(params: dict[str, Any], **_: Any) -> None:
        if not raced and params["Key"] == HEAD_KEY:
            fill(rival, 1)
            raced.append(rival.seal())

    aws.s3.meta.events.register("provide-client-params.s3.PutObject", rival_seals_first)
    # When this writer seals
    mine = ledger.seal()
    # Then its head put lost to the rival's, and the head names the rival's later digest
    assert (mine.digest_sequence, raced[0].digest_sequence) == (1, 2)
    assert AuditAnchor.model_validate_json(_object(aws, HEAD_KEY)) == AuditAnchor.of(raced[0])
    result = ledger.verify()
    assert result.ok, result.problem
    assert result.uncovered == 0
