"""Trigger: EventBridge events in, one deterministically named execution per model out, each at most once.

Pure: the domain functions on the shared ``events/*.json`` fixtures (and mutations of them), and
``services.trigger.start_pipeline`` on in-memory fakes of the store, repository and pipeline, with the
repository's real ``models/*/config.yaml`` published in the fake artifacts bucket.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governed_mlops.adapters.object_store import StoredObject
from governed_mlops.adapters.pipeline import StartOutcome, StepFunctionsPipeline
from governed_mlops.domain.trigger import (
    CodeCommitPushEvent,
    DataArrivalEvent,
    DriftDetectedEvent,
    UploadCallEvent,
    data_execution_name,
    data_version_token,
    drift_execution_name,
    models_for_push,
    parse_event,
    push_execution_name,
    push_target,
    upload_call,
    upload_evidence_key,
)
from governed_mlops.errors import (
    ArtifactNotFoundError,
    CommitNotFoundError,
    ConfigError,
    DatasetNotFoundError,
    InvalidEventError,
    UnknownModelError,
    UnsupportedEventError,
)
from governed_mlops.models import ModelSpec, PipelineRequest, S3Ref
from governed_mlops.services.trigger import Run, TriggerDeps, TriggerResult, start_pipeline
from governed_mlops.settings import TriggerSettings
from tests.unit.test_sourcedir import DictTree

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"
EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))
NAMED_ERRORS = (InvalidEventError, UnsupportedEventError)
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9-]+$")
MAX_EXECUTION_NAME = 40  # PipelineRequest.execution_name allows at most 40 characters

EventKind = type[CodeCommitPushEvent] | type[DataArrivalEvent] | type[DriftDetectedEvent] | type[UploadCallEvent]
EXPECTED_KINDS: dict[str, EventKind] = {
    "codecommit_push.json": CodeCommitPushEvent,
    "codecommit_push_feature_branch.json": CodeCommitPushEvent,
    "model_drift_detected.json": DriftDetectedEvent,
    "s3_object_created.json": DataArrivalEvent,
    "s3_upload_call.json": UploadCallEvent,
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
        "model-projects",
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

REPOSITORY, BRANCH, COMMIT = "model-projects", "main", "3f1c2b7d9e8a4c6b5a2f1e0d9c8b7a6f5e4d3c2b"
OLD_COMMIT = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
MODEL = "credit-risk"
BUCKET, KEY, VERSION = (
    "governed-mlops-databucket",
    "datasets/credit-risk/german_credit.csv",
    "IYV3p45BhZA5sQwOgUn3kOFMAj0RYjTM",
)
PUSH = (REPOSITORY, BRANCH, COMMIT, MODEL)


def test_push_name_is_deterministic() -> None:
    assert push_execution_name(*PUSH) == push_execution_name(*PUSH)


def test_data_name_is_deterministic() -> None:
    assert data_execution_name(BUCKET, KEY, VERSION) == data_execution_name(BUCKET, KEY, VERSION)


@pytest.mark.parametrize(
    "name",
    [push_execution_name(*PUSH), data_execution_name(BUCKET, KEY, VERSION)],
    ids=["push", "data"],
)
def test_name_is_a_valid_execution_name(name: str) -> None:
    assert len(name) <= MAX_EXECUTION_NAME
    assert EXECUTION_NAME.match(name)


@pytest.mark.parametrize(
    "other",
    [
        ("other-model", BRANCH, COMMIT, MODEL),
        (REPOSITORY, "release", COMMIT, MODEL),
        (REPOSITORY, BRANCH, "0" * 40, MODEL),
        (REPOSITORY, BRANCH, COMMIT[:16] + "0" * 24, MODEL),
        (REPOSITORY, BRANCH, COMMIT, "synthetic-lending"),
    ],
    ids=["repository", "branch", "commit", "commit-same-prefix", "model"],
)
def test_push_name_differs_when_an_input_differs(other: tuple[str, str, str, str]) -> None:
    assert push_execution_name(*other) != push_execution_name(*PUSH)


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
model_names = st.from_regex(r"[a-z0-9](-?[a-z0-9]){0,40}", fullmatch=True)
buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True)
# S3 keys are any UTF-8; control characters are left out (no real event carries them, see report).
keys = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=300)
versions = st.from_regex(r"[A-Za-z0-9._]{1,64}", fullmatch=True)


@given(repositories, branches, commits, model_names)
def test_push_name_is_always_a_valid_execution_name(repository: str, branch: str, commit: str, model: str) -> None:
    name = push_execution_name(repository, branch, commit, model)

    assert len(name) <= MAX_EXECUTION_NAME
    assert EXECUTION_NAME.match(name)


@given(buckets, keys, versions)
def test_data_name_is_always_a_valid_execution_name(bucket: str, key: str, version: str) -> None:
    name = data_execution_name(bucket, key, version)

    assert len(name) <= MAX_EXECUTION_NAME
    assert EXECUTION_NAME.match(name)


@given(st.lists(st.tuples(repositories, branches, commits, model_names), min_size=2, max_size=20, unique=True))
def test_push_names_are_a_pure_collision_free_function(inputs: list[tuple[str, str, str, str]]) -> None:
    # When every input is named twice, interleaved with the others
    first = [push_execution_name(*parts) for parts in inputs]
    second = [push_execution_name(*parts) for parts in reversed(inputs)]

    # Then the names repeat exactly, and distinct inputs never share one
    assert first == second[::-1]
    assert len(set(first)) == len(inputs)


@given(commits, st.lists(model_names, min_size=2, max_size=20, unique=True))
def test_one_commit_gets_one_push_name_per_model(commit: str, models: list[str]) -> None:
    # A push that retrains several models starts one execution each: their names must not collide.
    names = {push_execution_name(REPOSITORY, BRANCH, commit, model) for model in models}

    assert len(names) == len(models)


@given(st.lists(st.tuples(buckets, keys, versions), min_size=2, max_size=20, unique=True))
def test_data_names_are_a_pure_collision_free_function(inputs: list[tuple[str, str, str]]) -> None:
    first = [data_execution_name(*parts) for parts in inputs]
    second = [data_execution_name(*parts) for parts in reversed(inputs)]

    assert first == second[::-1]
    assert len(set(first)) == len(inputs)


# --------------------------------------------------------------------------------------------------
# Which models a push retrains (pure)

PUBLISHED = ["credit-risk", "synthetic-lending"]


@pytest.mark.parametrize(
    ("changed", "chosen"),
    [
        (["models/synthetic-lending/config.yaml"], ["synthetic-lending"]),
        (["models/credit-risk/config.yaml", "models/credit-risk/notes.md"], ["credit-risk"]),
        (["models/synthetic-lending/config.yaml", "models/credit-risk/config.yaml"], PUBLISHED),
        (["jobs/train.py"], PUBLISHED),
        (["README.md"], PUBLISHED),
        (["models/credit-risk/config.yaml", "layers/common/python/governed_mlops/config.py"], PUBLISHED),
        (["models-archive/credit-risk/config.yaml"], PUBLISHED),
        (["models/retired-model/config.yaml"], []),
        (["models/README.md"], []),
        ([], []),
        (None, PUBLISHED),
    ],
    ids=[
        "one-project",
        "one-project-two-files",
        "two-projects",
        "jobs",
        "top-level-file",
        "project-and-shared-code",
        "look-alike-of-the-models-dir",
        "unpublished-project",
        "file-directly-under-models",
        "nothing-changed",
        "unknown-range",
    ],
)
def test_models_for_push(changed: list[str] | None, chosen: list[str]) -> None:
    assert models_for_push(changed, list(reversed(PUBLISHED))) == chosen


def test_models_for_push_matches_whole_project_names_not_prefixes() -> None:
    # Given two models, one's name a prefix of the other's
    models = ["credit-risk", "credit-risk-v2"]

    # When only the longer one's project changed, Then only it retrains
    assert models_for_push(["models/credit-risk-v2/config.yaml"], models) == ["credit-risk-v2"]


def test_models_for_push_honours_another_models_dir() -> None:
    assert models_for_push(["projects/credit-risk/config.yaml"], PUBLISHED, "projects/") == ["credit-risk"]
    assert models_for_push(["models/credit-risk/config.yaml"], PUBLISHED, "projects/") == PUBLISHED


repository_paths = st.one_of(
    st.tuples(st.sampled_from([*PUBLISHED, "retired-model"]), st.sampled_from(["config.yaml", "a/b.md"])).map(
        lambda parts: f"models/{parts[0]}/{parts[1]}"
    ),
    st.sampled_from(["jobs/train.py", "template.yaml", "README.md", "models.md"]),
)


@given(st.lists(repository_paths, max_size=8))
def test_models_for_push_is_the_touched_projects_or_all(changed: list[str]) -> None:
    chosen = models_for_push(changed, PUBLISHED)

    touched = {path.split("/")[1] for path in changed if path.startswith("models/")} & set(PUBLISHED)
    shared = any(not path.startswith("models/") for path in changed)
    assert chosen == (PUBLISHED if shared else sorted(touched))


# --------------------------------------------------------------------------------------------------
# parse_event raises only named errors, whatever it is given

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Mostly the two known kinds, so the arbitrary values reach the models rather than the kind check.
sources = st.sampled_from(["aws.codecommit", "aws.s3", "aws.ec2"]) | json_values
detail_types = (
    st.sampled_from(
        ["CodeCommit Repository State Change", "Object Created", "Object Deleted", "AWS API Call via CloudTrail"]
    )
    | json_values
)
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
        push_execution_name(target.repository, target.branch, target.commit_id, MODEL)
    elif isinstance(event, DriftDetectedEvent):
        drift_execution_name(event.detail.endpoint_name, event.detail.monitoring_run_id)
    elif isinstance(event, UploadCallEvent):
        call = upload_call(event)
        upload_evidence_key(call.bucket, call.key, call.version_id)
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
MODELS_PREFIX = "models/"
MODELS = ("credit-risk", "synthetic-lending")
HEAD_COMMIT = "a" * 40
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:training-pipeline"
LENDING_KEY = "datasets/synthetic-lending/synthetic_lending.csv"
DATA_KEYS = {"credit-risk": KEY, "synthetic-lending": LENDING_KEY}


def config_key(model: str) -> str:
    """Where a model's configuration is published in the artifacts bucket."""
    return f"{MODELS_PREFIX}{model}/config.yaml"


def config_bytes(model: str) -> bytes:
    """The model project's real configuration, as the repository ships it."""
    return (REPO_ROOT / "models" / model / "config.yaml").read_bytes()


def config_with(model: str, **section: object) -> bytes:
    """The real configuration of ``model`` with some keys of its ``model:`` section replaced."""
    raw = yaml.safe_load(config_bytes(model))
    raw["model"] |= section
    return yaml.safe_dump(raw, sort_keys=False).encode()


#: credit-risk's published configuration (the key test_trigger_drift pins).
CONFIG_KEY = config_key("credit-risk")


class FakeStore:
    """Versioned buckets in memory: listings, and bodies of configurations (never of datasets)."""

    def __init__(self) -> None:
        self.objects: list[StoredObject] = []
        self.bodies: dict[tuple[str, str, str | None], bytes] = {}
        self.puts: list[str] = []

    def add(self, bucket: str, key: str, version_id: str, minutes: int, body: bytes | None = None) -> StoredObject:
        stored = StoredObject(
            ref=S3Ref(bucket=bucket, key=key, version_id=version_id),
            sha256=hashlib.sha256(body).hexdigest() if body is not None else f"{minutes:064x}",
            size=len(body) if body is not None else 1,
            last_modified=T0 + timedelta(minutes=minutes),
        )
        self.objects.append(stored)
        if body is not None:
            self.bodies[(bucket, key, version_id)] = body
        return stored

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        # The one object the trigger writes: a commit's configuration, content-addressed.
        assert (bucket, content_type) == (ARTIFACTS_BUCKET, "application/yaml"), (bucket, key)
        assert key == f"config/{hashlib.sha256(data).hexdigest()}/config.yaml", key
        self.puts.append(key)
        return self.add(bucket, key, f"v{len(self.puts)}", len(self.puts), data)

    def get(self, ref: S3Ref) -> bytes:
        if ref.bucket == DATA_BUCKET:
            raise AssertionError("the trigger must not read datasets")
        try:
            return self.bodies[(ref.bucket, ref.key, ref.version_id)]
        except KeyError:
            raise ArtifactNotFoundError(f"get {ref.pinned_uri}: not found") from None

    def latest_under(self, bucket: str, prefix: str) -> StoredObject | None:
        candidates = [o for o in self.objects if o.ref.bucket == bucket and o.ref.key.startswith(prefix)]
        return max(candidates, key=lambda o: o.last_modified, default=None)

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted({o.ref.key for o in self.objects if o.ref.bucket == bucket and o.ref.key.startswith(prefix)})

    def latest_of(self, bucket: str, key: str) -> StoredObject | None:
        candidates = [o for o in self.objects if o.ref.bucket == bucket and o.ref.key == key]
        return max(candidates, key=lambda o: o.last_modified, default=None)


@dataclass
class FakeRepository:
    """The main branch's head, and the paths a commit range changed (None: the range is unknown)."""

    head: str = HEAD_COMMIT
    changed: list[str] | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    diffs: list[tuple[str, str, str]] = field(default_factory=list)

    def branch_head(self, repository: str, branch: str) -> str:
        self.calls.append((repository, branch))
        return self.head

    def changed_paths(self, repository: str, before: str, after: str) -> list[str] | None:
        self.diffs.append((repository, before, after))
        return None if self.changed is None else list(self.changed)


class FakeSources:
    """Commits in memory (commit -> path -> bytes); none by default: runs use the published configs.

    ``holds_every_commit`` is CodeCommit (a missing commit is always an error); without it, the local
    hook's repository, which may not have been given a branch head (None when it is not required).
    """

    def __init__(self) -> None:
        self.commits: dict[str, dict[str, bytes]] = {}
        self.reads: list[tuple[str, str]] = []
        self.holds_every_commit = True

    def source_tree(self, repository: str, commit: str, *, required: bool = True) -> DictTree | None:
        self.reads.append((repository, commit))
        if not self.commits:
            return None
        if commit not in self.commits:
            if required or self.holds_every_commit:
                raise CommitNotFoundError(f"commit {commit} is not in {repository}")
            return None
        return DictTree(self.commits[commit])


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
        self.evidence: list[dict[str, str]] = []

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> None:
        self.records.append((actor, action, subject, details or {}))
        self.evidence.append(evidence or {})

    def seal(self) -> None:
        """The trigger records a start; sealing is for the ends of executions and decisions."""
        raise AssertionError("the trigger must not seal the ledger")


TRIGGER_SETTINGS = TriggerSettings(
    mlops_backend="aws",
    aws_region="us-east-1",
    state_machine_arn=STATE_MACHINE_ARN,
    data_bucket=DATA_BUCKET,
    data_prefix="datasets/",
    artifacts_bucket=ARTIFACTS_BUCKET,
    models_prefix=MODELS_PREFIX,
    main_branch="main",
    code_repository="model-projects",
    audit_bucket="audit-bucket",
    audit_mac_key_id="arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8899-aabbccddeeff",
)


@dataclass
class World:
    """A deployed stack: the trigger's settings and fakes of what it calls (nothing published yet)."""

    store: FakeStore = field(default_factory=FakeStore)
    repository: FakeRepository = field(default_factory=FakeRepository)
    pipeline: FakePipeline = field(default_factory=FakePipeline)
    audit: RecordingAudit = field(default_factory=RecordingAudit)
    sources: FakeSources = field(default_factory=FakeSources)

    @property
    def deps(self) -> TriggerDeps:
        return TriggerDeps(
            store=self.store,
            repository=self.repository,
            sources=self.sources,
            pipeline=self.pipeline,
            audit=self.audit,
        )

    def publish(self, model: str, body: bytes | None = None, *, version: str = "", minutes: int = 0) -> StoredObject:
        """Publish ``model``'s configuration (its real file unless ``body`` is given)."""
        data = config_bytes(model) if body is None else body
        return self.store.add(ARTIFACTS_BUCKET, config_key(model), version or f"{model}-config-v1", minutes, data)

    def upload(self, model: str, version: str, minutes: int) -> S3Ref:
        """A dataset version of ``model`` in the data bucket."""
        return self.store.add(DATA_BUCKET, DATA_KEYS[model], version, minutes).ref

    def trigger(self, raw: dict[str, Any]) -> TriggerResult:
        return start_pipeline(raw, TRIGGER_SETTINGS, self.deps)

    def request(self, run: Run) -> PipelineRequest:
        return PipelineRequest.model_validate(self.pipeline.started[run.execution_name])


def published_world() -> World:
    """A stack with both model projects' real configurations published and no dataset yet."""
    stack = World()
    for model in MODELS:
        stack.publish(model)
    return stack


@pytest.fixture
def world() -> World:
    return published_world()


def only_run(result: TriggerResult) -> Run:
    (run,) = result.runs
    return run


def runs_by_model(result: TriggerResult) -> dict[str, Run]:
    return {run.model: run for run in result.runs}


def data_event_for(key: str) -> dict[str, Any]:
    return _with(("detail", "object", "key"), key, data_event())


def drift_event(endpoint: str = "credit-risk") -> dict[str, Any]:
    return _with(("detail", "endpoint_name"), endpoint, load_event("model_drift_detected.json"))


# Data arrival -------------------------------------------------------------------------------------


def test_data_event_runs_the_main_branch_head(world: World) -> None:
    result = world.trigger(data_event())

    assert world.repository.calls == [("model-projects", "main")]
    assert world.request(only_run(result)).code.commit_id == HEAD_COMMIT


def test_data_event_pins_the_uploaded_version(world: World) -> None:
    result = world.trigger(data_event())

    run = only_run(result)
    assert result.kind == "data-arrival"
    assert (run.model, run.status) == ("credit-risk", "started")
    assert run.execution_name == data_execution_name(BUCKET, KEY, VERSION)
    assert world.request(run).data == S3Ref(bucket=DATA_BUCKET, key=KEY, version_id=VERSION)


def test_request_pins_the_configuration_and_the_run_prefix(world: World) -> None:
    result = world.trigger(data_event())

    run = only_run(result)
    request = world.request(run)
    assert request.config == S3Ref(bucket=ARTIFACTS_BUCKET, key=CONFIG_KEY, version_id="credit-risk-config-v1")
    assert request.artifacts_prefix == f"s3://{ARTIFACTS_BUCKET}/runs/{run.execution_name}/"


def test_request_pins_the_newest_configuration_version(world: World) -> None:
    # Given credit-risk's configuration republished after the first version
    world.publish("credit-risk", config_with("credit-risk", risk_tier="medium"), version="cr-v2", minutes=5)

    run = only_run(world.trigger(data_event()))

    # Then the run pins the new version and carries what it says
    request = world.request(run)
    assert request.config.version_id == "cr-v2"
    assert (request.model.risk_tier, request.model.approvals_required) == ("medium", 1)


@pytest.mark.parametrize(
    ("model", "key", "expected"),
    [
        (
            "credit-risk",
            KEY,
            ModelSpec(
                name="credit-risk",
                endpoint_name="credit-risk",
                model_package_group="credit-risk",
                approvers_group="model-approvers",
                risk_tier="high",
                approvals_required=2,
                max_latency_us=500_000,
                min_positive_rate=0.5,
                max_positive_rate=0.98,
            ),
        ),
        (
            "synthetic-lending",
            LENDING_KEY,
            ModelSpec(
                name="synthetic-lending",
                endpoint_name="synthetic-lending",
                model_package_group="synthetic-lending",
                approvers_group="model-approvers",
                risk_tier="medium",
                approvals_required=1,
                max_latency_us=500_000,
                min_positive_rate=0.4,
                max_positive_rate=0.99,
            ),
        ),
    ],
    ids=["credit-risk", "synthetic-lending"],
)
def test_data_arrival_runs_its_model_with_its_configuration(
    world: World, model: str, key: str, expected: ModelSpec
) -> None:
    # Given each model's configuration published under its own version
    world.publish("synthetic-lending", version="sl-v7", minutes=1)

    # When a dataset arrives under datasets/<model>/
    run = only_run(world.trigger(data_event_for(key)))

    # Then that model runs, with its own configuration version and resolved spec
    request = world.request(run)
    assert run.model == model
    assert request.model == expected
    assert request.config == S3Ref(
        bucket=ARTIFACTS_BUCKET,
        key=config_key(model),
        version_id="sl-v7" if model == "synthetic-lending" else "credit-risk-config-v1",
    )
    assert request.data == S3Ref(bucket=DATA_BUCKET, key=key, version_id=VERSION)


def test_data_arrival_takes_endpoint_and_registry_group_from_the_published_file(world: World) -> None:
    # Given synthetic-lending's published config names its own endpoint, registry group and approvers
    body = config_with(
        "synthetic-lending",
        endpoint_name="lending-prod",
        model_package_group="lending-models",
        approvers_group="lending-approvers",
        risk_tier="low",
    )
    world.publish("synthetic-lending", body, version="sl-v2", minutes=1)

    run = only_run(world.trigger(data_event_for(LENDING_KEY)))

    spec = world.request(run).model
    assert (spec.endpoint_name, spec.model_package_group, spec.approvers_group) == (
        "lending-prod",
        "lending-models",
        "lending-approvers",
    )
    assert (spec.risk_tier, spec.approvals_required) == ("low", 0)


def test_data_arrival_in_a_subfolder_runs_the_model_of_the_first_folder(world: World) -> None:
    run = only_run(world.trigger(data_event_for("datasets/synthetic-lending/2026/11/batch.csv")))

    assert run.model == "synthetic-lending"
    assert world.request(run).data.key == "datasets/synthetic-lending/2026/11/batch.csv"


def test_key_without_a_model_directory_is_an_unknown_model(world: World) -> None:
    # Given a dataset uploaded straight under datasets/ (the single-model layout)
    with pytest.raises(UnknownModelError) as caught:
        world.trigger(data_event_for("datasets/german_credit.csv"))

    # Then the error names the expected layout, and nothing starts
    assert "datasets/<model>/" in str(caught.value)
    assert "datasets/german_credit.csv" in str(caught.value)
    assert world.pipeline.started == {}
    assert world.audit.records == []


def test_key_without_a_model_directory_names_the_published_models(world: World) -> None:
    with pytest.raises(UnknownModelError) as caught:
        world.trigger(data_event_for("datasets/german_credit.csv"))

    assert "credit-risk" in str(caught.value)
    assert "synthetic-lending" in str(caught.value)


def test_key_of_an_unknown_model_is_an_unknown_model_naming_the_published_ones(world: World) -> None:
    with pytest.raises(UnknownModelError) as caught:
        world.trigger(data_event_for("datasets/fraud/transactions.csv"))

    message = str(caught.value)
    assert "'fraud'" in message
    assert f"s3://{ARTIFACTS_BUCKET}/models/fraud/config.yaml" in message
    assert "published models: credit-risk, synthetic-lending" in message
    assert world.pipeline.started == {}


@pytest.mark.parametrize(
    "key",
    ["datasets/Credit-Risk/german_credit.csv", "datasets/credit_risk/german_credit.csv", "datasets//german.csv"],
    ids=["upper-case", "underscore", "empty-name"],
)
def test_key_under_an_invalid_model_name_is_an_unknown_model(world: World, key: str) -> None:
    with pytest.raises(UnknownModelError):
        world.trigger(data_event_for(key))

    assert world.pipeline.started == {}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("detail", "object", "key"), "models/german_credit.csv"),
        (("detail", "object", "key"), "datasets-old/credit-risk/german_credit.csv"),
        (("detail", "bucket", "name"), "someone-elses-bucket"),
    ],
    ids=["other-prefix", "look-alike-prefix", "other-bucket"],
)
def test_object_outside_the_watched_prefix_is_unsupported(world: World, path: tuple[str, ...], value: str) -> None:
    with pytest.raises(UnsupportedEventError, match="outside the watched prefix"):
        world.trigger(_with(path, value, data_event()))

    assert world.pipeline.started == {}


# Push ---------------------------------------------------------------------------------------------


def test_push_pins_the_newest_dataset(world: World) -> None:
    # Given two versions of the dataset and a newer object outside the data prefix
    world.upload("credit-risk", "v1", minutes=1)
    world.upload("credit-risk", "v2", minutes=2)
    world.store.add(ARTIFACTS_BUCKET, KEY, "elsewhere", minutes=3)

    # When main is pushed
    result = world.trigger(push_event())

    # Then the run pins the newest dataset version
    run = runs_by_model(result)["credit-risk"]
    assert world.request(run).data == S3Ref(bucket=DATA_BUCKET, key=KEY, version_id="v2")


def test_push_pins_each_model_to_its_own_newest_dataset(world: World) -> None:
    # Given a newer synthetic-lending dataset than credit-risk's
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)

    runs = runs_by_model(world.trigger(push_event()))

    assert world.request(runs["credit-risk"]).data.version_id == "cr-v1"
    assert world.request(runs["synthetic-lending"]).data.version_id == "sl-v1"
    assert world.request(runs["synthetic-lending"]).model.name == "synthetic-lending"


def test_push_runs_the_pushed_commit_under_its_push_name(world: World) -> None:
    world.upload("credit-risk", "v1", minutes=1)
    world.repository.changed = ["models/credit-risk/config.yaml"]

    result = world.trigger(push_event())

    run = only_run(result)
    assert (run.model, run.status, result.kind) == ("credit-risk", "started", "code-push")
    assert run.execution_name == push_execution_name(REPOSITORY, BRANCH, COMMIT, "credit-risk")
    assert world.request(run).code.commit_id == COMMIT
    assert world.repository.calls == []


def test_push_asks_the_repository_what_the_commit_range_changed(world: World) -> None:
    world.upload("credit-risk", "v1", minutes=1)

    world.trigger(push_event())

    assert world.repository.diffs == [(REPOSITORY, OLD_COMMIT, COMMIT)]


def test_push_changing_one_project_runs_only_that_model(world: World) -> None:
    # Given both models have data, and the push changed only synthetic-lending's project
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)
    world.repository.changed = ["models/synthetic-lending/config.yaml"]

    result = world.trigger(push_event())

    # Then only synthetic-lending retrains, and nothing is reported skipped
    assert [run.model for run in result.runs] == ["synthetic-lending"]
    assert result.skipped == []
    assert [PipelineRequest.model_validate(p).model.name for p in world.pipeline.started.values()] == [
        "synthetic-lending"
    ]


@pytest.mark.parametrize(
    "changed",
    [
        ["jobs/train.py"],
        ["template.yaml"],
        ["layers/common/python/governed_mlops/config.py"],
        ["models/synthetic-lending/config.yaml", "statemachines/training_pipeline.asl.json"],
    ],
    ids=["jobs", "template", "layer", "project-and-state-machine"],
)
def test_push_changing_shared_code_runs_every_model_with_data(world: World, changed: list[str]) -> None:
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)
    world.repository.changed = changed

    result = world.trigger(push_event())

    assert sorted(runs_by_model(result)) == list(MODELS)
    assert {run.status for run in result.runs} == {"started"}
    assert len(world.pipeline.started) == len(MODELS)


def test_push_with_an_unknown_commit_range_runs_every_model(world: World) -> None:
    # Given the repository cannot diff the range (e.g. a force push from an unknown commit)
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)
    world.repository.changed = None

    result = world.trigger(push_event())

    assert sorted(runs_by_model(result)) == list(MODELS)


@pytest.mark.parametrize("drop", [False, True], ids=["empty-old-commit", "no-old-commit"])
def test_push_of_a_new_branch_runs_every_model_without_diffing(world: World, drop: bool) -> None:
    # Given a push with no previous head (the branch was just created)
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)
    world.repository.changed = ["models/credit-risk/config.yaml"]  # would narrow the run, were it asked
    raw = push_event()
    raw["detail"]["event"] = "referenceCreated"
    if drop:
        del raw["detail"]["oldCommitId"]
    else:
        raw["detail"]["oldCommitId"] = ""

    result = world.trigger(raw)

    # Then every model retrains and the repository is not asked for a diff
    assert sorted(runs_by_model(result)) == list(MODELS)
    assert world.repository.diffs == []


def test_push_skips_a_model_without_data_and_runs_the_other(world: World) -> None:
    # Given only credit-risk has a dataset
    world.upload("credit-risk", "cr-v1", minutes=1)

    # When shared code is pushed
    world.repository.changed = ["jobs/train.py"]
    result = world.trigger(push_event())

    # Then credit-risk runs and synthetic-lending is reported skipped, naming where its data should be
    assert [run.model for run in result.runs] == ["credit-risk"]
    (skipped,) = result.skipped
    assert skipped.model == "synthetic-lending"
    assert f"s3://{DATA_BUCKET}/datasets/synthetic-lending/" in skipped.reason
    assert len(world.pipeline.started) == 1


def test_push_before_any_dataset_is_dataset_not_found(world: World) -> None:
    with pytest.raises(DatasetNotFoundError, match=f"s3://{DATA_BUCKET}/datasets/"):
        world.trigger(push_event())

    assert world.pipeline.started == {}
    assert world.audit.records == []


def test_push_of_only_a_model_without_data_is_dataset_not_found(world: World) -> None:
    # Given credit-risk has data but the push changed only synthetic-lending, which has none
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.repository.changed = ["models/synthetic-lending/config.yaml"]

    with pytest.raises(DatasetNotFoundError, match="datasets/synthetic-lending/"):
        world.trigger(push_event())

    assert world.pipeline.started == {}


def test_push_changing_only_an_unpublished_project_runs_nothing(world: World) -> None:
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.repository.changed = ["models/fraud/config.yaml"]

    result = world.trigger(push_event())

    assert (result.runs, result.skipped) == ([], [])
    assert world.pipeline.started == {}


def test_push_execution_names_differ_per_model_for_one_commit(world: World) -> None:
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)

    runs = runs_by_model(world.trigger(push_event()))

    names = {model: run.execution_name for model, run in runs.items()}
    assert names == {model: push_execution_name(REPOSITORY, BRANCH, COMMIT, model) for model in MODELS}
    assert len(set(names.values())) == len(MODELS)
    assert all(len(name) <= MAX_EXECUTION_NAME and EXECUTION_NAME.match(name) for name in names.values())


def test_feature_branch_push_starts_nothing(world: World) -> None:
    world.upload("credit-risk", "v1", minutes=1)

    with pytest.raises(UnsupportedEventError):
        world.trigger(load_event("codecommit_push_feature_branch.json"))

    assert world.pipeline.started == {}


# Drift --------------------------------------------------------------------------------------------


def test_drift_on_an_endpoint_retrains_the_model_serving_it(world: World) -> None:
    # Given both models have data, synthetic-lending's the newest
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)

    result = world.trigger(drift_event("credit-risk"))

    # Then credit-risk retrains on its own newest dataset
    run = only_run(result)
    request = world.request(run)
    assert (result.kind, run.model, run.status) == ("drift", "credit-risk", "started")
    assert request.data == S3Ref(bucket=DATA_BUCKET, key=KEY, version_id="cr-v1")
    assert request.model.endpoint_name == "credit-risk"
    assert request.config.key == config_key("credit-risk")


def test_drift_finds_the_model_by_its_configured_endpoint_not_its_name(world: World) -> None:
    # Given synthetic-lending serves from an endpoint named differently from the model
    world.publish("synthetic-lending", config_with("synthetic-lending", endpoint_name="lending-prod"), minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)

    # When drift is reported on that endpoint, Then synthetic-lending retrains
    assert only_run(world.trigger(drift_event("lending-prod"))).model == "synthetic-lending"

    # And drift on an endpoint merely named like the model retrains nothing
    with pytest.raises(UnknownModelError, match="'synthetic-lending'"):
        world.trigger(drift_event("synthetic-lending"))


def test_drift_on_an_endpoint_no_model_serves_is_an_unknown_model(world: World) -> None:
    world.upload("credit-risk", "cr-v1", minutes=1)

    with pytest.raises(UnknownModelError) as caught:
        world.trigger(drift_event("fraud-scoring"))

    assert "'fraud-scoring'" in str(caught.value)
    assert "credit-risk, synthetic-lending" in str(caught.value)
    assert world.pipeline.started == {}


# Published configurations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [push_event(), drift_event()],
    ids=["push", "drift"],
)
def test_two_models_on_one_endpoint_is_a_config_error_naming_both(world: World, raw: dict[str, Any]) -> None:
    # Given synthetic-lending's config claims credit-risk's endpoint
    world.publish("synthetic-lending", config_with("synthetic-lending", endpoint_name="credit-risk"), minutes=1)
    world.upload("credit-risk", "cr-v1", minutes=2)
    world.upload("synthetic-lending", "sl-v1", minutes=3)

    with pytest.raises(ConfigError) as caught:
        world.trigger(raw)

    message = str(caught.value)
    assert "'credit-risk'" in message
    assert "'synthetic-lending'" in message
    assert "endpoint" in message
    assert world.pipeline.started == {}


def test_data_arrival_for_a_model_on_another_models_endpoint_is_a_config_error(world: World) -> None:
    world.publish("synthetic-lending", config_with("synthetic-lending", endpoint_name="credit-risk"), minutes=1)

    with pytest.raises(ConfigError, match="both use endpoint"):
        world.trigger(data_event_for(LENDING_KEY))

    assert world.pipeline.started == {}


@pytest.mark.parametrize("raw", [push_event(), drift_event(), data_event()], ids=["push", "drift", "data"])
def test_missing_configuration_is_a_config_error(raw: dict[str, Any]) -> None:
    # Given a stack where no configuration was published (only look-alike keys next to where one belongs)
    stack = World()
    stack.store.add(ARTIFACTS_BUCKET, CONFIG_KEY + ".bak", "v1", minutes=0, body=config_bytes("credit-risk"))
    stack.store.add(ARTIFACTS_BUCKET, "models/credit-risk/old/config.yaml", "v1", minutes=0, body=b"{}")
    stack.upload("credit-risk", "v1", minutes=1)

    with pytest.raises(ConfigError) as caught:
        stack.trigger(raw)

    # Then the error says where configurations are expected, and nothing starts
    assert f"s3://{ARTIFACTS_BUCKET}/{MODELS_PREFIX}" in str(caught.value)
    assert stack.pipeline.started == {}


def test_a_newer_look_alike_key_does_not_hide_the_published_configuration(world: World) -> None:
    # Given a backup copy saved next to credit-risk's published configuration, after it
    world.store.add(ARTIFACTS_BUCKET, CONFIG_KEY + ".bak", "bak-v1", minutes=5, body=b"model: [")

    # When a credit-risk dataset arrives, Then credit-risk runs on its published configuration
    run = only_run(world.trigger(data_event()))
    assert world.request(run).config.key == CONFIG_KEY


BROKEN_CONFIGS = pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"model: [unclosed\n", "not valid YAML"),
        (b"- a list\n- not a mapping\n", "expected a mapping"),
        (config_with("synthetic-lending", risk_tier="extreme"), "model.risk_tier"),
        (config_with("synthetic-lending", endpoint="typo"), "model.endpoint"),
        (config_with("synthetic-lending", name="credit-risk"), "model.name is 'credit-risk'"),
    ],
    ids=["yaml", "not-a-mapping", "bad-value", "unknown-key", "name-mismatch"],
)


@BROKEN_CONFIGS
def test_data_for_a_model_with_an_invalid_configuration_is_a_config_error_naming_the_key(
    world: World, body: bytes, problem: str
) -> None:
    # Given synthetic-lending's newest published configuration is broken
    world.publish("synthetic-lending", body, version="sl-broken", minutes=1)
    world.upload("credit-risk", "cr-v1", minutes=2)

    with pytest.raises(ConfigError) as caught:
        world.trigger(data_event_for(LENDING_KEY))

    # Then the error names the object (or the project) and what is wrong, and nothing starts
    message = str(caught.value)
    assert config_key("synthetic-lending") in message
    assert problem in message
    assert world.pipeline.started == {}


@BROKEN_CONFIGS
def test_a_broken_configuration_does_not_stop_the_other_models(world: World, body: bytes, problem: str) -> None:
    # Given synthetic-lending's configuration is broken and both models have data
    world.publish("synthetic-lending", body, version="sl-broken", minutes=1)
    world.upload("credit-risk", "cr-v1", minutes=2)
    world.upload("synthetic-lending", "sl-v1", minutes=3)

    # When a push of shared code retrains every model, and credit-risk's data arrives
    pushed = world.trigger(push_event())
    arrived = world.trigger(data_event())

    # Then credit-risk runs both times; synthetic-lending is skipped with the key and the problem
    assert [run.model for run in pushed.runs] == ["credit-risk"]
    (skipped,) = pushed.skipped
    assert skipped.model == "synthetic-lending"
    assert config_key("synthetic-lending") in skipped.reason
    assert problem in skipped.reason
    assert [run.model for run in arrived.runs] == ["credit-risk"]


# At most one run per model and event --------------------------------------------------------------


@pytest.mark.parametrize("raw", [push_event(), data_event(), drift_event()], ids=["push", "data", "drift"])
def test_same_event_twice_is_a_duplicate_of_each_run(world: World, raw: dict[str, Any]) -> None:
    # Given an event that already started its runs (EventBridge delivers at least once)
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)
    first = world.trigger(copy.deepcopy(raw))

    # When it is delivered again
    second = world.trigger(copy.deepcopy(raw))

    # Then each run of the second delivery maps onto the same model's first run
    assert {run.status for run in first.runs} == {"started"}
    assert {run.status for run in second.runs} == {"duplicate"}
    assert [(r.model, r.execution_name, r.execution_arn) for r in second.runs] == [
        (r.model, r.execution_name, r.execution_arn) for r in first.runs
    ]
    assert list(world.pipeline.started) == [run.execution_name for run in first.runs]


def test_redelivered_push_starts_only_the_model_that_was_skipped(world: World) -> None:
    # Given a push that ran credit-risk and skipped synthetic-lending (no data yet)
    world.upload("credit-risk", "cr-v1", minutes=1)
    first = world.trigger(push_event())
    assert [s.model for s in first.skipped] == ["synthetic-lending"]

    # When synthetic-lending's data lands and the push is delivered again
    world.upload("synthetic-lending", "sl-v1", minutes=2)
    second = runs_by_model(world.trigger(push_event()))

    # Then credit-risk's run is a duplicate and synthetic-lending starts
    assert (second["credit-risk"].status, second["synthetic-lending"].status) == ("duplicate", "started")
    assert second["credit-risk"].execution_name == only_run(first).execution_name


# Audit --------------------------------------------------------------------------------------------


def test_a_started_pipeline_is_recorded_in_the_audit_ledger_with_who_and_what(world: World) -> None:
    # Given a dataset, When a push starts a pipeline and the same push is delivered again
    world.upload("credit-risk", "v1", minutes=1)
    push = push_event()
    first = only_run(world.trigger(push))
    world.trigger(push)
    # Then exactly one audit record names the pusher, the execution and the commit
    assert [(a, action, s) for a, action, s, _ in world.audit.records] == [
        (push["detail"]["callerUserArn"], "pipeline.triggered", first.execution_name)
    ]
    assert world.audit.records[0][3]["commit"] == push["detail"]["commitId"]


def test_each_started_run_is_audited_with_its_model_and_configuration(world: World) -> None:
    # Given both models have data, When shared code is pushed
    world.upload("credit-risk", "cr-v1", minutes=1)
    world.upload("synthetic-lending", "sl-v1", minutes=2)
    runs = runs_by_model(world.trigger(push_event()))

    # Then one record per run names its model and its data, with its configuration's digest as evidence
    audited = {details["model"]: (subject, details["data"]) for _, _, subject, details in world.audit.records}
    assert audited == {model: (run.execution_name, world.request(run).data.pinned_uri) for model, run in runs.items()}
    assert [e["config"] for e in world.audit.evidence] == [
        hashlib.sha256(config_bytes(model)).hexdigest() for model in MODELS
    ]


@pytest.mark.parametrize(
    ("raw", "model"),
    [(data_event_for(LENDING_KEY), "synthetic-lending"), (drift_event(), "credit-risk")],
    ids=["data", "drift"],
)
def test_data_and_drift_runs_are_audited_with_their_model(world: World, raw: dict[str, Any], model: str) -> None:
    world.upload("credit-risk", "cr-v1", minutes=1)

    run = only_run(world.trigger(raw))

    ((_, action, subject, details),) = world.audit.records
    assert (action, subject, details["model"]) == ("pipeline.triggered", run.execution_name, model)
