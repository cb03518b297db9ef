"""Trigger on a ``Model Drift Detected`` event: retrain the current code on the newest dataset.

Pure: the domain on the shared ``events/model_drift_detected.json`` fixture, and
``services.trigger.start_pipeline`` on the in-memory fakes of ``test_trigger_events``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from governed_mlops.domain.trigger import DriftDetectedEvent, drift_execution_name, parse_event
from governed_mlops.errors import DatasetNotFoundError, InvalidEventError
from governed_mlops.models import S3Ref
from tests.unit.test_trigger_events import (
    DATA_BUCKET,
    HEAD_COMMIT,
    KEY,
    World,
    load_event,
    only_run,
    published_world,
)

ENDPOINT, RUN_ID = "credit-risk", "mon-20261128T095959123Z-1a2b3c4d"


@pytest.fixture
def world() -> World:
    """A stack with both model projects published and no dataset yet (as in test_trigger_events)."""
    return published_world()


def drift_event() -> dict[str, Any]:
    return load_event("model_drift_detected.json")


def test_drift_fixture_parses_with_its_detail() -> None:
    event = parse_event(drift_event())

    assert isinstance(event, DriftDetectedEvent)
    assert event.detail.endpoint_name == ENDPOINT
    assert event.detail.drifted_features == ["age_in_years", "credit_amount"]
    assert event.detail.violations_report.startswith("s3://")


def test_drift_name_is_deterministic_and_short() -> None:
    name = drift_execution_name(ENDPOINT, RUN_ID)

    assert name == drift_execution_name(ENDPOINT, RUN_ID)
    assert re.fullmatch(r"drift-[0-9a-f]{24}", name)
    assert name != drift_execution_name(ENDPOINT, RUN_ID + "x")
    assert name != drift_execution_name("other-endpoint", RUN_ID)


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("violations_report", "https://example.com/report.json"),
        ("drifted_features", "credit_amount"),
        ("monitoring_run_id", ""),
        ("endpoint_name", "credit risk"),
    ],
    ids=["report-not-s3", "features-not-a-list", "empty-run-id", "endpoint-with-space"],
)
def test_malformed_drift_event_is_invalid_and_names_the_field(field_name: str, value: object) -> None:
    raw = drift_event()
    raw["detail"][field_name] = value

    with pytest.raises(InvalidEventError, match=f"detail.{field_name}"):
        parse_event(raw)


def test_drift_retrains_the_branch_head_on_the_newest_dataset(world: World) -> None:
    # Given two versions of the dataset
    world.store.add(DATA_BUCKET, KEY, "v1", minutes=1)
    world.store.add(DATA_BUCKET, KEY, "v2", minutes=2)

    # When the monitor reports drift
    result = world.trigger(drift_event())

    # Then the current main-branch code of the endpoint's model is retrained on its newest dataset
    run = only_run(result)
    request = world.request(run)
    assert (run.status, result.kind, run.model) == ("started", "drift", "credit-risk")
    assert run.execution_name == drift_execution_name(ENDPOINT, RUN_ID)
    assert request.data == S3Ref(bucket=DATA_BUCKET, key=KEY, version_id="v2")
    assert request.code.commit_id == HEAD_COMMIT
    assert world.repository.calls == [("model-projects", "main")]
    assert (request.trigger.kind, request.trigger.principal) == ("drift", "system:model-monitor")


def test_same_drift_event_twice_is_one_retraining(world: World) -> None:
    world.store.add(DATA_BUCKET, KEY, "v1", minutes=1)

    first, second = only_run(world.trigger(drift_event())), only_run(world.trigger(drift_event()))

    assert (first.status, second.status) == ("started", "duplicate")
    assert list(world.pipeline.started) == [first.execution_name]


def test_drift_retraining_is_audited_with_the_monitoring_run(world: World) -> None:
    world.store.add(DATA_BUCKET, KEY, "v1", minutes=1)

    run = only_run(world.trigger(drift_event()))

    ((actor, action, subject, details),) = world.audit.records
    assert (actor, action, subject) == ("system:model-monitor", "pipeline.triggered", run.execution_name)
    assert details["monitoring_run_id"] == RUN_ID
    assert details["drifted_features"] == "age_in_years,credit_amount"


def test_drift_before_any_dataset_is_dataset_not_found(world: World) -> None:
    with pytest.raises(DatasetNotFoundError):
        world.trigger(drift_event())
