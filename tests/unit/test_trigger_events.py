"""Trigger: EventBridge events in, deterministic execution names and at most one execution out.

Pure: the domain functions on the shared ``events/*.json`` fixtures (and mutations of them), and
``services.trigger.start_pipeline`` on in-memory fakes of the store, repository and pipeline.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governed_mlops.adapters.object_store import StoredObject
from governed_mlops.adapters.pipeline import StartOutcome, StepFunctionsPipeline
from governed_mlops.domain.trigger import (
    CodeCommitPushEvent,
    DataArrivalEvent,
    DriftDetectedEvent,
    data_execution_name,
    data_version_token,
    drift_execution_name,
    parse_event,
    push_execution_name,
    push_target,
)
from governed_mlops.errors import ConfigError, DatasetNotFoundError, InvalidEventError, UnsupportedEventError
from governed_mlops.models import PipelineRequest, S3Ref
from governed_mlops.services.trigger import TriggerDeps, TriggerResult, start_pipeline
from governed_mlops.settings import TriggerSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"
EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))
NAMED_ERRORS = (InvalidEventError, UnsupportedEventError)
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9-]+$")
MAX_EXECUTION_NAME = 40  # PipelineRequest.execution_name allows at most 40 characters

EventKind = type[CodeCommitPushEvent] | type[DataArrivalEvent] | type[DriftDetectedEvent]
EXPECTED_KINDS: dict[str, EventKind] = {
    "codecommit_push.json": CodeCommitPushEvent,
    "codecommit_push_feature_branch.json": CodeCommitPushEvent,
    "model_drift_detected.json": DriftDetectedEvent,
    "s3_object_created.json": DataArrivalEvent,
}


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of a shared fixture, so a test may mutate it."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return event


def push_event() -> dict[str, Any]:
    return load_event("codecommit_push.json")


def data_event() -> dict[str, Any]:
    return load_event("s3_object_created.json")


# --------------------------------------------------------------------------------------------------
# Parsing the shared fixtures


def test_every_event_fixture_has_an_expected_kind() -> None:
    # A new fixture must be added to EXPECTED_KINDS, or the parametrised test below would skip it.
    assert sorted(path.name for path in EVENT_FILES) == sorted(EXPECTED_KINDS)


@pytest.mark.parametrize(("name", "kind"), EXPECTED_KINDS.items(), ids=list(EXPECTED_KINDS))
def test_fixture_parses_to_its_kind(name: str, kind: EventKind) -> None:
    assert type(parse_event(load_event(name))) is kind


def test_main_branch_push_targets_the_pushed_commit() -> None:
    event = parse_event(push_event())
    assert isinstance(event, CodeCommitPushEvent)

    target = push_target(event, "main")

    assert (target.repository, target.branch, target.commit_id) == (
        "credit-risk-model",
        "main",
        "3f1c2b7d9e8a4c6b5a2f1e0d9c8b7a6f5e4d3c2b",
    )
    assert target.principal == "arn:aws:iam::000000000000:user/alice.engineer"


def test_feature_branch_push_is_unsupported() -> None:
    # Given a push to feature/new-features (the rule's pattern should have filtered it out)
    event = parse_event(load_event("codecommit_push_feature_branch.json"))
    assert isinstance(event, CodeCommitPushEvent)

    # When / Then the domain refuses it, naming the branch
    with pytest.raises(UnsupportedEventError, match="feature/new-features"):
        push_target(event, "main")


def test_branch_deletion_is_unsupported() -> None:
    raw = push_event()
    raw["detail"]["event"] = "referenceDeleted"
    event = parse_event(raw)
    assert isinstance(event, CodeCommitPushEvent)

    with pytest.raises(UnsupportedEventError, match="referenceDeleted"):
        push_target(event, "main")


def test_data_event_version_token_is_the_version_id() -> None:
    event = parse_event(data_event())
    assert isinstance(event, DataArrivalEvent)

    assert data_version_token(event) == "IYV3p45BhZA5sQwOgUn3kOFMAj0RYjTM"


def test_data_event_on_unversioned_bucket_falls_back_to_the_sequencer() -> None:
    raw = data_event()
    del raw["detail"]["object"]["version-id"]
    event = parse_event(raw)
    assert isinstance(event, DataArrivalEvent)

    assert data_version_token(event) == "00617F08299329D189"


def test_data_event_without_version_or_sequencer_is_invalid() -> None:
    raw = data_event()
    del raw["detail"]["object"]["version-id"], raw["detail"]["object"]["sequencer"]
    event = parse_event(raw)
    assert isinstance(event, DataArrivalEvent)

    with pytest.raises(InvalidEventError, match="version-id nor sequencer"):
        data_version_token(event)


# --------------------------------------------------------------------------------------------------
# Malformed events name the offending field


def _without(path: tuple[str, ...], raw: dict[str, Any]) -> dict[str, Any]:
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return raw


def _with(path: tuple[str, ...], value: object, raw: dict[str, Any]) -> dict[str, Any]:
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "field_name"),
    [
        (_without(("detail",), push_event()), "detail"),
        (_with(("detail", "commitId"), "not-a-sha", push_event()), "detail.commitId"),
        (_with(("detail", "commitId"), "3F1C2B7D9E8A4C6B5A2F1E0D9C8B7A6F5E4D3C2B", push_event()), "detail.commitId"),
        (_with(("detail", "repositoryName"), 12, push_event()), "detail.repositoryName"),
        (_with(("detail",), ["referenceUpdated"], push_event()), "detail"),
        (_with(("resources",), "arn:aws:codecommit:us-east-1:000000000000:r", push_event()), "resources"),
        (_with(("time",), "yesterday", push_event()), "time"),
        (_without(("detail", "object", "key"), data_event()), "detail.object.key"),
        (_with(("detail", "object", "size"), "large", data_event()), "detail.object.size"),
        (_with(("detail", "bucket"), ["governed-mlops-databucket"], data_event()), "detail.bucket"),
    ],
    ids=[
        "push-missing-detail",
        "push-bad-commit-id",
        "push-upper-case-commit-id",
        "push-repository-not-a-string",
        "push-detail-is-a-list",
        "push-resources-not-a-list",
        "push-time-not-a-time",
        "data-missing-key",
        "data-size-not-a-number",
        "data-bucket-is-a-list",
    ],
)
def test_malformed_event_is_invalid_and_names_the_field(raw: dict[str, Any], field_name: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(raw)

    assert f"{field_name}:" in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [[push_event()], "{}", None, 42],
    ids=["list", "string", "null", "number"],
)
def test_event_that_is_not_an_object_is_invalid(raw: object) -> None:
    with pytest.raises(InvalidEventError, match="JSON object"):
        parse_event(raw)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (_with(("source",), "aws.ec2", push_event()), "source='aws.ec2'"),
        (_with(("detail-type",), "Object Deleted", data_event()), "detail-type='Object Deleted'"),
        (_without(("source",), data_event()), "source=None"),
        (_with(("source",), ["aws.s3"], data_event()), "source=['aws.s3']"),
    ],
    ids=["unknown-source", "unknown-detail-type", "missing-source", "source-is-a-list"],
)
def test_event_of_another_kind_is_unsupported_and_names_it(raw: dict[str, Any], named: str) -> None:
    with pytest.raises(UnsupportedEventError) as caught:
        parse_event(raw)

    assert named in str(caught.value)


# --------------------------------------------------------------------------------------------------
# Execution names

REPOSITORY, BRANCH, COMMIT = "credit-risk-model", "main", "3f1c2b7d9e8a4c6b5a2f1e0d9c8b7a6f5e4d3c2b"
BUCKET, KEY, VERSION = "governed-mlops-databucket", "datasets/credit-risk/german_credit.csv", "IYV3p45BhZA5sQwOgUn3kOFMAj0RYjTM"


def test_push_name_is_deterministic() -> None:
    assert push_execution_name(REPOSITORY, BRANCH, COMMIT) == push_execution_name(REPOSITORY, BRANCH, COMMIT)


def test_data_name_is_deterministic() -> None:
    assert data_execution_name(BUCKET, KEY, VERSION) == data_execution_name(BUCKET, KEY, VERSION)


@pytest.mark.parametrize(
    "name",
    [push_execution_name(REPOSITORY, BRANCH, COMMIT), data_execution_name(BUCKET, KEY, VERSION)],
    ids=["push", "data"],
)
def test_name_is_a_valid_execution_name(name: str) -> None:
    assert len(name) <= MAX_EXECUTION_NAME
    assert EXECUTION_NAME.match(name)


@pytest.mark.parametrize(
    "other",
    [
        ("other-model", BRANCH, COMMIT),
        (REPOSITORY, "release", COMMIT),
        (REPOSITORY, BRANCH, "0" * 40),
        (REPOSITORY, BRANCH, COMMIT[:16] + "0" * 24),
    ],
    ids=["repository", "branch", "commit", "commit-same-prefix"],
)
def test_push_name_differs_when_an_input_differs(other: tuple[str, str, str]) -> None:
    assert push_execution_name(*other) != push_execution_name(REPOSITORY, BRANCH, COMMIT)


@pytest.mark.parametrize(
    "other",
    [
        ("other-bucket", KEY, VERSION),
        (BUCKET, "datasets/other.csv", VERSION),
        (BUCKET, KEY, "v2"),
    ],
    ids=["bucket", "key", "version"],
)
def test_data_name_differs_when_an_input_differs(other: tuple[str, str, str]) -> None:
    assert data_execution_name(*other) != data_execution_name(BUCKET, KEY, VERSION)


repositories = st.from_regex(r"[A-Za-z0-9._-]{1,100}", fullmatch=True)
branches = st.from_regex(r"[A-Za-z0-9._-]{1,30}(/[A-Za-z0-9._-]{1,30})?", fullmatch=True)
commits = st.from_regex(r"[0-9a-f]{40}", fullmatch=True)
buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True)
# S3 keys are any UTF-8; control characters are left out (no real event carries them, see report).
keys = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=300)
versions = st.from_regex(r"[A-Za-z0-9._]{1,64}", fullmatch=True)


@given(repositories, branches, commits)
def test_push_name_is_always_a_valid_execution_name(repository: str, branch: str, commit: str) -> None:
    name = push_execution_name(repository, branch, commit)

    assert len(name) <= MAX_EXECUTION_NAME
    assert EXECUTION_NAME.match(name)


@given(buckets, keys, versions)
def test_data_name_is_always_a_valid_execution_name(bucket: str, key: str, version: str) -> None:
    name = data_execution_name(bucket, key, version)

    assert len(name) <= MAX_EXECUTION_NAME
    assert EXECUTION_NAME.match(name)


@given(st.lists(st.tuples(repositories, branches, commits), min_size=2, max_size=20, unique=True))
def test_push_names_are_a_pure_collision_free_function(inputs: list[tuple[str, str, str]]) -> None:
    # When every input is named twice, interleaved with the others
    first = [push_execution_name(*parts) for parts in inputs]
    second = [push_execution_name(*parts) for parts in reversed(inputs)]

    # Then the names repeat exactly, and distinct inputs never share one
    assert first == second[::-1]
    assert len(set(first)) == len(inputs)


@given(st.lists(st.tuples(buckets, keys, versions), min_size=2, max_size=20, unique=True))
def test_data_names_are_a_pure_collision_free_function(inputs: list[tuple[str, str, str]]) -> None:
    first = [data_execution_name(*parts) for parts in inputs]
    second = [data_execution_name(*parts) for parts in reversed(inputs)]

    assert first == second[::-1]
    assert len(set(first)) == len(inputs)


# --------------------------------------------------------------------------------------------------
# parse_event raises only named errors, whatever it is given

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Mostly the two known kinds, so the arbitrary values reach the models rather than the kind check.
sources = st.sampled_from(["aws.codecommit", "aws.s3", "aws.ec2"]) | json_values
detail_types = st.sampled_from(["CodeCommit Repository State Change", "Object Created", "Object Deleted"]) | json_values
envelopes = st.fixed_dictionaries(
    {"source": sources, "detail-type": detail_types},
    optional={
        "version": json_values,
        "id": json_values,
        "account": json_values,
        "time": json_values,
        "region": json_values,
        "resources": json_values,
        "detail": json_values,
    },
)


def exercise(raw: object) -> None:
    """parse_event and what the trigger calls next on its result."""
    event = parse_event(raw)
    if isinstance(event, CodeCommitPushEvent):
        target = push_target(event, "main")
        push_execution_name(target.repository, target.branch, target.commit_id)
    elif isinstance(event, DriftDetectedEvent):
        drift_execution_name(event.detail.endpoint_name, event.detail.monitoring_run_id)
    else:
        data_execution_name(event.detail.bucket.name, event.detail.object.key, data_version_token(event))


@settings(max_examples=300, deadline=None)
@given(json_values | envelopes)
def test_arbitrary_input_raises_only_named_errors(raw: object) -> None:
    with contextlib.suppress(*NAMED_ERRORS):
        exercise(raw)


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    children: list[tuple[str | int, object]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _parent(raw: Any, path: tuple[str | int, ...]) -> Any:
    for key in path[:-1]:
        raw = raw[key]
    return raw


@dataclass(frozen=True)
class Mutation:
    fixture: str
    path: tuple[str | int, ...]
    replacement: object = field(default=None)
    drop: bool = False

    def apply(self) -> dict[str, Any]:
        raw = load_event(self.fixture)
        parent = _parent(raw, self.path)
        if self.drop:
            del parent[self.path[-1]]
        else:
            parent[self.path[-1]] = copy.deepcopy(self.replacement)
        return raw


@st.composite
def fixture_mutations(draw: st.DrawFn) -> Mutation:
    fixture = draw(st.sampled_from(sorted(EXPECTED_KINDS)))
    raw = load_event(fixture)
    path = draw(st.sampled_from(_paths(raw)))
    if draw(st.booleans()):
        return Mutation(fixture, path, drop=True)
    original = _parent(raw, path)[path[-1]]
    replacement = draw(json_values.filter(lambda value: type(value) is not type(original)))
    return Mutation(fixture, path, replacement)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(fixture_mutations())
def test_mutated_fixture_raises_only_named_errors(mutation: Mutation) -> None:
    # Given a real fixture with one key dropped or one value replaced by a value of another type
    raw = mutation.apply()

    # When / Then parsing it (and using the result) fails, if at all, with a named error
    with contextlib.suppress(*NAMED_ERRORS):
        exercise(raw)


# --------------------------------------------------------------------------------------------------
# services.trigger.start_pipeline on fakes

DATA_BUCKET, ARTIFACTS_BUCKET = "governed-mlops-databucket", "governed-mlops-artifactsbucket"
CONFIG_KEY = "config/pipeline.yaml"
HEAD_COMMIT = "a" * 40
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:training-pipeline"


class FakeStore:
    """Versions listed by ``latest_under``; the trigger only reads listings, never bytes."""

    def __init__(self) -> None:
        self.objects: list[StoredObject] = []

    def add(self, bucket: str, key: str, version_id: str, minutes: int) -> StoredObject:
        stored = StoredObject(
            ref=S3Ref(bucket=bucket, key=key, version_id=version_id),
            sha256=f"{minutes:064x}",
            size=1,
            last_modified=T0 + timedelta(minutes=minutes),
        )
        self.objects.append(stored)
        return stored

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        raise AssertionError("the trigger must not write objects")

    def get(self, ref: S3Ref) -> bytes:
        raise AssertionError("the trigger must not read object bodies")

    def latest_under(self, bucket: str, prefix: str) -> StoredObject | None:
        candidates = [o for o in self.objects if o.ref.bucket == bucket and o.ref.key.startswith(prefix)]
        return max(candidates, key=lambda o: o.last_modified, default=None)


@dataclass
class FakeRepository:
    head: str = HEAD_COMMIT
    calls: list[tuple[str, str]] = field(default_factory=list)

    def branch_head(self, repository: str, branch: str) -> str:
        self.calls.append((repository, branch))
        return self.head


# [misc] fires only when mypy cannot see the layer (no py.typed, no mypy_path): it is Any then.
class FakePipeline(StepFunctionsPipeline):  # type: ignore[misc, unused-ignore]
    """Step Functions' name uniqueness in memory: a second start of a name is a duplicate."""

    def __init__(self) -> None:  # no client: nothing here talks to Step Functions
        self.started: dict[str, dict[str, Any]] = {}

    def start(self, name: str, payload: dict[str, Any]) -> StartOutcome:
        arn = f"arn:aws:states:us-east-1:000000000000:execution:training-pipeline:{name}"
        if name in self.started:
            return StartOutcome(execution_arn=arn, started=False)
        self.started[name] = payload
        return StartOutcome(execution_arn=arn, started=True)


class RecordingAudit:
    """Remembers what the trigger told the audit ledger."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, dict[str, Any]]] = []

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> None:
        self.records.append((actor, action, subject, details or {}))


TRIGGER_SETTINGS = TriggerSettings(
    mlops_backend="aws",
    aws_region="us-east-1",
    state_machine_arn=STATE_MACHINE_ARN,
    data_bucket=DATA_BUCKET,
    data_prefix="datasets/",
    artifacts_bucket=ARTIFACTS_BUCKET,
    config_key=CONFIG_KEY,
    main_branch="main",
    code_repository="credit-risk-model",
    audit_bucket="audit-bucket",
    audit_mac_key_id="arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8899-aabbccddeeff",
)


@dataclass
class World:
    """A deployed stack: the trigger's settings and fakes of what it calls."""

    store: FakeStore = field(default_factory=FakeStore)
    repository: FakeRepository = field(default_factory=FakeRepository)
    pipeline: FakePipeline = field(default_factory=FakePipeline)
    audit: RecordingAudit = field(default_factory=lambda: RecordingAudit())

    @property
    def deps(self) -> TriggerDeps:
        return TriggerDeps(store=self.store, repository=self.repository, pipeline=self.pipeline, audit=self.audit)

    def trigger(self, raw: dict[str, Any]) -> TriggerResult:
        return start_pipeline(raw, TRIGGER_SETTINGS, self.deps)

    def request(self, result: TriggerResult) -> PipelineRequest:
        return PipelineRequest.model_validate(self.pipeline.started[result.execution_name])


@pytest.fixture
def world() -> World:
    """A stack with its configuration uploaded and no dataset yet."""
    stack = World()
    stack.store.add(ARTIFACTS_BUCKET, CONFIG_KEY, "config-v1", minutes=0)
    return stack


def test_push_pins_the_newest_dataset(world: World) -> None:
    # Given two versions of the dataset and a newer object outside the data prefix
    world.store.add(DATA_BUCKET, "datasets/credit-risk/german_credit.csv", "v1", minutes=1)
    world.store.add(DATA_BUCKET, "datasets/credit-risk/german_credit.csv", "v2", minutes=2)
    world.store.add(ARTIFACTS_BUCKET, "datasets/credit-risk/german_credit.csv", "elsewhere", minutes=3)

    # When main is pushed
    result = world.trigger(push_event())

    # Then the run pins the newest dataset version
    assert world.request(result).data == S3Ref(bucket=DATA_BUCKET, key="datasets/credit-risk/german_credit.csv", version_id="v2")


def test_push_runs_the_pushed_commit_under_its_push_name(world: World) -> None:
    world.store.add(DATA_BUCKET, "datasets/credit-risk/german_credit.csv", "v1", minutes=1)

    result = world.trigger(push_event())

    assert result.status == "started"
    assert result.kind == "code-push"
    assert result.execution_name == push_execution_name(REPOSITORY, BRANCH, COMMIT)
    assert world.request(result).code.commit_id == COMMIT
    assert world.repository.calls == []


def test_data_event_runs_the_main_branch_head(world: World) -> None:
    result = world.trigger(data_event())

    assert world.repository.calls == [("credit-risk-model", "main")]
    assert world.request(result).code.commit_id == HEAD_COMMIT


def test_data_event_pins_the_uploaded_version(world: World) -> None:
    result = world.trigger(data_event())

    assert result.kind == "data-arrival"
    assert result.execution_name == data_execution_name(BUCKET, KEY, VERSION)
    assert world.request(result).data == S3Ref(bucket=DATA_BUCKET, key=KEY, version_id=VERSION)


def test_request_pins_the_configuration_and_the_run_prefix(world: World) -> None:
    result = world.trigger(data_event())

    request = world.request(result)
    assert request.config == S3Ref(bucket=ARTIFACTS_BUCKET, key=CONFIG_KEY, version_id="config-v1")
    assert request.artifacts_prefix == f"s3://{ARTIFACTS_BUCKET}/runs/{result.execution_name}/"


def test_push_before_any_dataset_is_dataset_not_found(world: World) -> None:
    with pytest.raises(DatasetNotFoundError, match=f"s3://{DATA_BUCKET}/datasets/"):
        world.trigger(push_event())

    assert world.pipeline.started == {}


@pytest.mark.parametrize("raw", [push_event(), data_event()], ids=["push", "data"])
def test_missing_configuration_is_a_config_error(raw: dict[str, Any]) -> None:
    # Given a stack whose configuration was never uploaded (only a look-alike key under its name)
    stack = World()
    stack.store.add(ARTIFACTS_BUCKET, CONFIG_KEY + ".bak", "v1", minutes=0)
    stack.store.add(DATA_BUCKET, KEY, "v1", minutes=1)

    with pytest.raises(ConfigError, match=CONFIG_KEY):
        stack.trigger(raw)

    assert stack.pipeline.started == {}


@pytest.mark.parametrize(
    ("path", "value"),
    [(("detail", "object", "key"), "models/german_credit.csv"), (("detail", "bucket", "name"), "someone-elses-bucket")],
    ids=["other-prefix", "other-bucket"],
)
def test_object_outside_the_watched_prefix_is_unsupported(world: World, path: tuple[str, ...], value: str) -> None:
    with pytest.raises(UnsupportedEventError, match="outside the watched prefix"):
        world.trigger(_with(path, value, data_event()))

    assert world.pipeline.started == {}


def test_feature_branch_push_starts_nothing(world: World) -> None:
    world.store.add(DATA_BUCKET, KEY, "v1", minutes=1)

    with pytest.raises(UnsupportedEventError):
        world.trigger(load_event("codecommit_push_feature_branch.json"))

    assert world.pipeline.started == {}


@pytest.mark.parametrize("raw", [push_event(), data_event()], ids=["push", "data"])
def test_same_event_twice_is_a_duplicate(world: World, raw: dict[str, Any]) -> None:
    # Given an event that already started a run (EventBridge delivers at least once)
    world.store.add(DATA_BUCKET, KEY, "v1", minutes=1)
    first = world.trigger(copy.deepcopy(raw))

    # When it is delivered again
    second = world.trigger(copy.deepcopy(raw))

    # Then the second delivery maps onto the first run
    assert (first.status, second.status) == ("started", "duplicate")
    assert (second.execution_name, second.execution_arn) == (first.execution_name, first.execution_arn)
    assert list(world.pipeline.started) == [first.execution_name]


def test_a_started_pipeline_is_recorded_in_the_audit_ledger_with_who_and_what(world: World) -> None:
    # Given a dataset, When a push starts a pipeline and the same push is delivered again
    world.store.add(DATA_BUCKET, "datasets/credit-risk/german_credit.csv", "v1", minutes=1)
    push = push_event()
    first = world.trigger(push)
    world.trigger(push)
    # Then exactly one audit record names the pusher, the execution and the commit
    assert [(a, action, s) for a, action, s, _ in world.audit.records] == [
        (push["detail"]["callerUserArn"], "pipeline.triggered", first.execution_name)
    ]
    assert world.audit.records[0][3]["commit"] == push["detail"]["commitId"]
