"""Risk tiers on the AWS approval store (moto DynamoDB) and end to end on the local runtime.

The DynamoDB tests interleave two approvers deterministically: the second writer's conditional write
is held until the first writer's whole approval has landed, which is the race two people clicking at
once produce in AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse

from governed_mlops.adapters.approvals import DynamoDBApprovalStore
from governed_mlops.errors import ApprovalAlreadyDecided, ConfigError, DuplicateApprover
from governed_mlops.models import ApprovalRecord, ApproverSignoff
from tests.conftest import PROJECT_DIR, pending_approval
from tests.waiting import until

REGION = "us-east-1"
TABLE = "governed-mlops-approvals"
RETENTION_DAYS = 2557
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The approvals table as template.yaml declares it (keys, index), on moto."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    props = yaml_parse((PROJECT_DIR / "template.yaml").read_text())["Resources"]["ApprovalsTable"]["Properties"]
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=TABLE,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
            BillingMode=props["BillingMode"],
        )
        yield client


class HeldWrites:
    """A DynamoDB client whose next conditional write first lets ``before`` run to completion."""

    def __init__(self, client: Any, before: Callable[[], object]) -> None:
        self._client = client
        self._before: Callable[[], object] | None = before
        self.writes = 0

    def update_item(self, **kwargs: Any) -> Any:
        self.writes += 1
        if self._before is not None:
            before, self._before = self._before, None
            before()
        return self._client.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _signoff(user: str) -> ApproverSignoff:
    return ApproverSignoff(approver=user, approved_at=NOW + timedelta(minutes=1))


def _high_risk(store: DynamoDBApprovalStore, *, approved_by: str | None = None) -> ApprovalRecord:
    record = pending_approval(NOW).model_copy(update={"risk_tier": "high", "approvals_required": 2})
    store.create(record, "task-token")
    if approved_by is not None:
        store.add_approval(record.approval_id, _signoff(approved_by))
    return record


def test_two_first_approvals_at_once_both_count_and_complete_the_request(dynamodb: Any):
    store = DynamoDBApprovalStore(dynamodb, TABLE, retention_days=RETENTION_DAYS)
    record = _high_risk(store)
    held = HeldWrites(dynamodb, lambda: store.add_approval(record.approval_id, _signoff("carol.approver")))
    racing = DynamoDBApprovalStore(held, TABLE)

    answer = racing.add_approval(record.approval_id, _signoff("dave.risk"))

    assert held.writes == 2  # lost the condition once, read carol's approval, then won
    assert answer.status == "approved"
    assert [a.approver for a in store.get(record.approval_id).approvals] == ["carol.approver", "dave.risk"]


def test_two_last_approvals_at_once_complete_the_request_once(dynamodb: Any):
    store = DynamoDBApprovalStore(dynamodb, TABLE, retention_days=RETENTION_DAYS)
    record = _high_risk(store, approved_by="carol.approver")
    completed: list[ApprovalRecord] = []
    held = HeldWrites(dynamodb, lambda: completed.append(store.add_approval(record.approval_id, _signoff("dave.risk"))))
    racing = DynamoDBApprovalStore(held, TABLE)

    with pytest.raises(ApprovalAlreadyDecided):
        racing.add_approval(record.approval_id, _signoff("erin.credit"))

    assert [r.status for r in completed] == ["approved"]
    stored = store.get(record.approval_id)
    assert (stored.status, [a.approver for a in stored.approvals]) == ("approved", ["carol.approver", "dave.risk"])


def test_the_same_approver_twice_is_refused_by_the_table_store(dynamodb: Any):
    store = DynamoDBApprovalStore(dynamodb, TABLE, retention_days=RETENTION_DAYS)
    record = _high_risk(store, approved_by="carol.approver")

    with pytest.raises(DuplicateApprover):
        store.add_approval(record.approval_id, _signoff("carol.approver"))

    assert len(store.get(record.approval_id).approvals) == 1


def test_a_rejection_wins_over_a_pending_second_approval(dynamodb: Any):
    store = DynamoDBApprovalStore(dynamodb, TABLE, retention_days=RETENTION_DAYS)
    record = _high_risk(store, approved_by="carol.approver")
    held = HeldWrites(
        dynamodb, lambda: store.decide(record.approval_id, "rejected", "erin.credit", "bias too high", NOW)
    )
    racing = DynamoDBApprovalStore(held, TABLE)

    with pytest.raises(ApprovalAlreadyDecided):
        racing.add_approval(record.approval_id, _signoff("dave.risk"))

    assert store.get(record.approval_id).status == "rejected"


def test_reopening_withdraws_only_that_approvers_approval(dynamodb: Any):
    store = DynamoDBApprovalStore(dynamodb, TABLE, retention_days=RETENTION_DAYS)
    record = _high_risk(store, approved_by="carol.approver")
    store.add_approval(record.approval_id, _signoff("dave.risk"))

    reopened = store.reopen(record.approval_id, "dave.risk")

    assert (reopened.status, [a.approver for a in reopened.approvals]) == ("pending", ["carol.approver"])
    assert store.get(record.approval_id) == reopened


def test_a_request_is_kept_for_the_audit_retention_period_after_it_expired(dynamodb: Any):
    store = DynamoDBApprovalStore(dynamodb, TABLE, retention_days=RETENTION_DAYS)
    record = _high_risk(store)

    item = dynamodb.get_item(TableName=TABLE, Key={"approval_id": {"S": record.approval_id}})["Item"]

    # DynamoDB's TTL removes it RETENTION_DAYS after its expiry, not a day after (decisions stay auditable)
    kept_until = datetime.fromtimestamp(int(item["expires_epoch"]["N"]), UTC)
    assert kept_until == (record.expires_at + timedelta(days=RETENTION_DAYS)).replace(microsecond=0)


def test_a_store_without_a_retention_period_reads_but_refuses_to_create(dynamodb: Any):
    reader = DynamoDBApprovalStore(dynamodb, TABLE)

    with pytest.raises(ConfigError, match="no retention period"):
        reader.create(pending_approval(NOW), "task-token")
    with pytest.raises(ConfigError, match="at least one day"):
        DynamoDBApprovalStore(dynamodb, TABLE, retention_days=0)


# -- end to end: the credit-risk project is high risk ------------------------------------------------


@pytest.mark.slow
def test_a_high_risk_model_deploys_only_after_two_distinct_approvers(tmp_path: Path):
    from governed_mlops.adapters.approvals import LocalApprovalStore, read_outbox
    from governed_mlops.adapters.model_registry import LocalModelRegistry
    from governed_mlops_local import approval_client
    from governed_mlops_local.runtime import LocalRuntime
    from tests.conftest import GERMAN_CREDIT

    data_dir = tmp_path / "data"
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        _, deliveries = runtime.upload(
            GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/german_credit.csv", requester="alice.engineer"
        )
        arn = deliveries[0].result["runs"][0]["execution_arn"]

        def sent() -> list[dict]:
            assert runtime.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
            return read_outbox(data_dir)

        attributes = until(sent, 180, "the approval request")[-1]["attributes"]
        assert (attributes["risk_tier"], attributes["approvals_required"]) == ("high", "2")
        link = attributes["link"]

        first = approval_client.decide(link, "carol.approver", "approve", "metrics within limits")
        assert (first["status"], first["progress"]) == ("pending", "approvals: 1 of 2 (carol.approver)")
        with pytest.raises(approval_client.ApprovalClientError) as twice:
            approval_client.decide(link, "carol.approver", "approve", "again")
        assert twice.value.status == 409
        assert "DuplicateApprover" in str(twice.value)
        assert runtime.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"

        second = approval_client.decide(link, "dave.risk", "approve", "bias within limits")
        (result,) = runtime.wait([arn])

    assert second["status"] == "approved"
    assert result["status"] == "SUCCEEDED"
    (record,) = LocalModelRegistry(data_dir).list_versions()
    assert record.approval is not None
    assert [a.approver for a in record.approval.approvers] == ["carol.approver", "dave.risk"]
    assert (record.approval.risk_tier, record.approval.approvals_required) == ("high", 2)
    (approval,) = LocalApprovalStore(data_dir).list_records()
    assert approval.status == "approved"
