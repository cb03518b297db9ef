"""Who uploaded a dataset: the trigger records the upload's CloudTrail identity, Request Approval uses it.

A data arrival's S3 event names only the bucket owner's account. Without the upload's CloudTrail
record the run needs two approvers (four-eyes); with it, the uploader is the run's originator: the
model's own policy applies and the uploader cannot approve.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.domain.trigger import parse_event, upload_call, upload_evidence_key
from governed_mlops.errors import InvalidEventError, UnsupportedEventError
from governed_mlops.models import S3Ref
from governed_mlops.services.approval import ApprovalRequestEvent, Registration, request_approval
from governed_mlops.services.trigger import TriggerDeps, start_pipeline
from governed_mlops.services.uploads import find_upload
from tests.unit.test_risk_tiers import _deps, _request, _spec
from tests.unit.test_trigger_events import (
    TRIGGER_SETTINGS,
    FakePipeline,
    FakeRepository,
    FakeSources,
    RecordingAudit,
    load_event,
)

AUDIT_BUCKET = str(TRIGGER_SETTINGS.audit_bucket)
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
VERSION = "IYV3p45BhZA5sQwOgUn3kOFMAj0RYjTM"
DATASET = S3Ref(bucket="governed-mlops-databucket", key="datasets/credit-risk/german_credit.csv", version_id=VERSION)


def upload_event() -> dict[str, Any]:
    return load_event("s3_upload_call.json")


def _trigger(tmp_path: Path, raw: dict[str, Any]) -> tuple[Any, LocalObjectStore, RecordingAudit, FakePipeline]:
    store, audit, pipeline = LocalObjectStore(tmp_path / "objects"), RecordingAudit(), FakePipeline()
    deps = TriggerDeps(store=store, repository=FakeRepository(), sources=FakeSources(), pipeline=pipeline, audit=audit)
    return start_pipeline(raw, TRIGGER_SETTINGS, deps), store, audit, pipeline


def test_the_upload_call_records_who_wrote_the_dataset_version_and_starts_nothing(tmp_path: Path) -> None:
    result, store, audit, pipeline = _trigger(tmp_path, upload_event())

    assert (result.kind, result.runs, pipeline.started) == ("data-upload-call", [], {})
    assert result.recorded_upload == DATASET.pinned_uri
    found = find_upload(store, AUDIT_BUCKET, DATASET)
    assert found is not None
    assert (found.person, found.event_id) == ("erin.engineer", "c2f7d7e4-6c1a-4a52-8b8e-3d0f4a7b9e21")
    ((actor, action, subject, details),) = audit.records
    assert (action, subject, details["person"]) == ("data.uploaded", DATASET.pinned_uri, "erin.engineer")
    assert actor.endswith("assumed-role/AWSReservedSSO_DataScience_0123456789abcdef/erin.engineer")


def test_a_redelivered_upload_call_records_the_same_thing(tmp_path: Path) -> None:
    _, store, _, _ = _trigger(tmp_path, upload_event())
    first = find_upload(store, AUDIT_BUCKET, DATASET)
    deps = TriggerDeps(
        store=store, repository=FakeRepository(), sources=FakeSources(), pipeline=FakePipeline(), audit=RecordingAudit()
    )

    start_pipeline(upload_event(), TRIGGER_SETTINGS, deps)

    assert find_upload(store, AUDIT_BUCKET, DATASET) == first


def test_another_version_of_the_same_key_has_no_record(tmp_path: Path) -> None:
    _, store, _, _ = _trigger(tmp_path, upload_event())

    assert find_upload(store, AUDIT_BUCKET, DATASET.model_copy(update={"version_id": "other"})) is None
    assert find_upload(store, AUDIT_BUCKET, DATASET.model_copy(update={"version_id": None})) is None
    assert find_upload(store, None, DATASET) is None


def test_a_record_under_another_objects_key_is_not_taken_for_this_one(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    forged = {"bucket": "b", "key": "k", "version_id": "v", "principal": "p", "person": "x", "evidence": "e"}
    forged |= {"event_id": "1", "event_time": NOW.isoformat()}
    store.put(AUDIT_BUCKET, upload_evidence_key(DATASET.bucket, DATASET.key, VERSION), json.dumps(forged).encode())

    assert find_upload(store, AUDIT_BUCKET, DATASET) is None


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda d: d.update(eventName="GetObject"), UnsupportedEventError, "writes no object"),
        (lambda d: d.update(errorCode="AccessDenied"), UnsupportedEventError, "AccessDenied"),
        (lambda d: d.update(responseElements=None), InvalidEventError, "x-amz-version-id"),
        (lambda d: d["requestParameters"].pop("key"), InvalidEventError, "bucketName and .key"),
    ],
    ids=["not-a-write", "failed-call", "unversioned", "no-key"],
)
def test_a_call_that_wrote_nothing_or_cannot_be_pinned_is_refused_by_name(
    change: Any, error: type[Exception], match: str
) -> None:
    raw = copy.deepcopy(upload_event())
    change(raw["detail"])

    with pytest.raises(error, match=match):
        upload_call(parse_event(raw))  # type: ignore[arg-type]


def test_an_upload_outside_the_watched_prefix_is_refused(tmp_path: Path) -> None:
    raw = upload_event()
    raw["detail"]["requestParameters"]["key"] = "elsewhere/x.csv"

    with pytest.raises(UnsupportedEventError, match="outside the watched prefix"):
        _trigger(tmp_path, raw)


# -- Request Approval -------------------------------------------------------------------------------


def _ask(tmp_path: Path, *, recorded: bool, principal: str = "000000000000") -> Any:
    deps = _deps(tmp_path)
    if recorded:
        _, store, _, _ = _trigger(tmp_path / "trigger", upload_event())
        deps = type(deps)(**{**deps.__dict__, "uploads": lambda data: find_upload(store, AUDIT_BUCKET, data)})
    request = _request(_spec("medium"))
    trigger = request.trigger.model_copy(update={"principal": principal})
    request = request.model_copy(update={"trigger": trigger, "data": DATASET})
    event = ApprovalRequestEvent(
        execution_name="data-x",
        execution_arn="arn:x",
        request=request,
        registration=Registration(model_version="credit-risk/3", status="PendingManualApproval"),
        task_token="token",
        timeout_seconds=3600,
    )
    return request_approval(event, deps, base_url="http://127.0.0.1:1", now=NOW)


def test_a_recorded_uploader_is_the_runs_originator_and_the_models_policy_applies(tmp_path: Path) -> None:
    approval = _ask(tmp_path, recorded=True)

    assert (approval.originator, approval.approvals_required) == ("erin.engineer", 1)
    assert "Identity Center" in approval.originator_evidence
    assert "c2f7d7e4" in approval.originator_evidence


def test_without_the_uploads_record_a_data_arrival_needs_four_eyes_and_says_why(tmp_path: Path) -> None:
    approval = _ask(tmp_path, recorded=False)

    assert (approval.originator, approval.approvals_required) == (None, 2)
    assert "no CloudTrail record of the upload" in approval.originator_evidence


def test_a_person_named_by_the_event_itself_is_not_overridden(tmp_path: Path) -> None:
    approval = _ask(tmp_path, recorded=True, principal="arn:aws:iam::000000000000:user/frank.analyst")

    assert approval.originator == "frank.analyst"
