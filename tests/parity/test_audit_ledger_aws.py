"""Path (h): the audit ledger on the parity stack, in its Object Lock bucket, sealed by the functions.

A run's trigger, approval decision, recorded outcome and end are appended by the functions that
make them (each with its own role's S3 and KMS permissions), every execution end and decision seals a
KMS-signed digest, and the chain head is anchored in ``head.json``. Tampering is done as an
administrator would (harness credentials): hiding a version behind a delete marker, which Object
Lock allows, and writing a new version of a record, which Object Lock also allows (it protects the
old version, not the key) but the bucket policy denies to anyone using the stack's roles.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from governed_mlops.adapters.audit_ledger import AUDIT_PREFIX
from governed_mlops.adapters.audit_ledger_s3 import S3AuditLedger
from tests.parity.stack import HARNESS_CREDENTIALS
from tests.parity.world import World, parity_world

# In file order (the module is shuffled among the others): its tests hide and rewrite the ledger's last record and
# digest in turn on one world; shuffled (seed 2), a verify ran while another test's tampering was in the bucket.
pytestmark = [pytest.mark.parity, pytest.mark.in_file_order]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with parity_world(tmp_path_factory.mktemp("parity-audit"), "gm-audit") as active:
        # One run to its end: trigger, approval request, a rejection, the recorded outcome, the end.
        active.seed_dataset()
        mark = active.mark()
        (delivery,) = active.push()
        (run,) = delivery.result["runs"]
        arn = run["execution_arn"]
        status, answer = active.decide(active.approval_link(arn), "carol.approver", "reject", "audit path")
        assert status == 200, answer
        assert active.runtime.wait(arn)["status"] == "FAILED"
        active.assert_allowed(mark)
        yield active


def _s3(world: World) -> Any:
    return boto3.client("s3", region_name=world.stack.region, **HARNESS_CREDENTIALS)


def _ledger(world: World) -> S3AuditLedger:
    kms = boto3.client("kms", region_name=world.stack.region, **HARNESS_CREDENTIALS)
    return S3AuditLedger(
        _s3(world), world.stack.outputs["AuditBucketName"], AUDIT_PREFIX, kms, world.stack.outputs["AuditMacKeyArn"]
    )


def _keys(world: World, part: str) -> list[str]:
    listed = _s3(world).list_objects_v2(Bucket=world.stack.outputs["AuditBucketName"], Prefix=f"{AUDIT_PREFIX}/{part}/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def _hide(world: World, key: str) -> str:
    """A delete marker on ``key`` (allowed under Object Lock); returns its version id to remove it again."""
    answer = _s3(world).delete_object(Bucket=world.stack.outputs["AuditBucketName"], Key=key)
    return str(answer["VersionId"])


def _unhide(world: World, key: str, marker: str) -> None:
    _s3(world).delete_object(Bucket=world.stack.outputs["AuditBucketName"], Key=key, VersionId=marker)


def test_the_run_is_in_the_object_lock_bucket_sealed_and_verifies(world: World) -> None:
    # Given the bucket the template made for the ledger
    bucket = world.stack.outputs["AuditBucketName"]
    lock = _s3(world).get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]

    # When the ledger is verified with the stack's MAC key
    result = _ledger(world).verify()

    # Then the bucket is locked in compliance mode, the run's actions are recorded and everything is sealed
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert result.ok, result.problem
    assert result.uncovered == 0
    assert result.anchored_up_to == result.records
    actions = [
        json.loads(_s3(world).get_object(Bucket=bucket, Key=k)["Body"].read())["action"]
        for k in _keys(world, "records")
    ]
    assert "pipeline.triggered" in actions
    assert "model.rejected" in actions


def test_audit_verify_aws_command_passes(world: World) -> None:
    from governed_mlops_local.cli import main

    result = CliRunner().invoke(
        main, ["audit", "verify", "--aws", "--stack", world.stack.name, "--region", world.stack.region]
    )
    assert result.exit_code == 0, result.output


@contextmanager
def _hidden(world: World, *keys: str) -> Iterator[None]:
    """The keys behind delete markers for the duration (Object Lock allows a marker; it is removed after)."""
    markers = [(key, _hide(world, key)) for key in keys]
    try:
        yield
    finally:
        for key, marker in markers:
            _unhide(world, key, marker)


def test_hiding_the_last_record_is_detected(world: World) -> None:
    with _hidden(world, _keys(world, "records")[-1]):
        result = _ledger(world).verify()
    assert not result.ok
    assert "truncated" in result.problem


def test_hiding_the_last_digest_is_detected(world: World) -> None:
    with _hidden(world, _keys(world, "digests")[-1]):
        result = _ledger(world).verify()
    assert not result.ok
    assert "digest" in result.problem


def test_hiding_the_last_record_and_digest_is_detected(world: World) -> None:
    with _hidden(world, _keys(world, "records")[-1], _keys(world, "digests")[-1]):
        result = _ledger(world).verify()
    assert not result.ok
    assert "truncated" in result.problem


def test_rewriting_the_last_record_is_detected_and_named_by_the_cli(world: World) -> None:
    # Given an administrator writes a new version of the last record (its old version stays locked)
    from governed_mlops_local.cli import main

    bucket = world.stack.outputs["AuditBucketName"]
    last = _keys(world, "records")[-1]
    record = json.loads(_s3(world).get_object(Bucket=bucket, Key=last)["Body"].read())
    record["actor"] = "mallory"
    _s3(world).put_object(Bucket=bucket, Key=last, Body=json.dumps(record).encode())

    # When the ledger is verified
    result = _ledger(world).verify()
    command = CliRunner().invoke(
        main, ["audit", "verify", "--aws", "--stack", world.stack.name, "--region", world.stack.region]
    )

    # Then both refuse it, naming the record
    assert not result.ok
    assert result.first_bad_sequence is not None
    assert command.exit_code == 1, command.output
    assert str(result.first_bad_sequence) in command.output
