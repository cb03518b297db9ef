"""The configuration that runs is the run's commit's ``models/<name>/config.yaml``, not the published copy.

``services.trigger.start_pipeline`` on the fakes of test_trigger_events, with a repository that holds
commits (:class:`FakeSources`): what the published configuration says no longer matters once the run's
commit has the project; a broken or deleted project of the commit is skipped with its reason.
"""

from __future__ import annotations

import hashlib

import pytest
import yaml

from governed_mlops.errors import CommitNotFoundError, ConfigError, UnknownModelError
from governed_mlops.model_projects import commit_config_key, commit_projects
from tests.unit.test_sourcedir import DictTree
from tests.unit.test_trigger_events import (
    ARTIFACTS_BUCKET,
    HEAD_COMMIT,
    World,
    config_bytes,
    config_with,
    data_event,
    drift_event,
    published_world,
    push_event,
    runs_by_model,
)

PUSHED = "3f1c2b7d9e8a4c6b5a2f1e0d9c8b7a6f5e4d3c2b"  # events/codecommit_push.json's commit
CREDIT, LENDING = "models/credit-risk/config.yaml", "models/synthetic-lending/config.yaml"


def with_gate(model: str, minimum: float) -> bytes:
    """The model's real configuration with another minimum AUC gate (a change only the commit has)."""
    raw = yaml.safe_load(config_bytes(model))
    raw["gates"]["min_auc"] = minimum
    return yaml.safe_dump(raw, sort_keys=False).encode()


def committed(world: World, commit: str, **changes: bytes | None) -> dict[str, bytes]:
    """Commit ``commit``: both projects' real files, with ``changes`` (path under models/ -> bytes; None deletes)."""
    files = {CREDIT: config_bytes("credit-risk"), LENDING: config_bytes("synthetic-lending"), "jobs/train.py": b"x\n"}
    for name, body in changes.items():
        path = f"models/{name.replace('_', '-')}/config.yaml"
        if body is None:
            files.pop(path)
        else:
            files[path] = body
    world.sources.commits[commit] = files
    return files


@pytest.fixture
def world() -> World:
    """Both projects published and a dataset for each."""
    stack = published_world()
    stack.upload("credit-risk", "cr-v1", 1)
    stack.upload("synthetic-lending", "sl-v1", 2)
    return stack


def test_a_push_runs_the_commits_configuration_not_the_published_one(world: World) -> None:
    # Given a commit whose credit-risk gate differs from the published configuration
    files = committed(world, PUSHED, credit_risk=with_gate("credit-risk", 0.61))

    # When it is pushed
    result = world.trigger(push_event())

    # Then the run's configuration is the commit's file, stored under its sha256 and pinned
    request = world.request(runs_by_model(result)["credit-risk"])
    sha = hashlib.sha256(files[CREDIT]).hexdigest()
    assert (request.config.bucket, request.config.key) == (ARTIFACTS_BUCKET, commit_config_key(sha))
    assert world.store.get(request.config) == files[CREDIT]
    assert request.config_path == CREDIT
    assert request.code.commit_id == PUSHED
    # And the audit record names the commit's configuration
    triggered = [e for e in world.audit.evidence if e]
    assert {"config": sha} in triggered


def test_the_model_spec_comes_from_the_configuration_that_runs(world: World) -> None:
    committed(world, PUSHED, credit_risk=config_with("credit-risk", endpoint_name="credit-risk-v2"))

    request = world.request(runs_by_model(world.trigger(push_event()))["credit-risk"])

    assert request.model.endpoint_name == "credit-risk-v2"


def test_a_broken_configuration_in_the_commit_is_skipped_and_the_other_model_runs(world: World) -> None:
    committed(world, PUSHED, credit_risk=b"model:\n  risk_tier: extreme\n")

    result = world.trigger(push_event())

    assert list(runs_by_model(result)) == ["synthetic-lending"]
    (skipped,) = result.skipped
    assert skipped.model == "credit-risk"
    assert skipped.reason.startswith("ConfigError: models/credit-risk/config.yaml at commit 3f1c2b7d9e8a")


def test_a_published_model_the_commit_deleted_is_skipped_with_its_reason(world: World) -> None:
    committed(world, PUSHED, synthetic_lending=None)

    result = world.trigger(push_event())

    assert list(runs_by_model(result)) == ["credit-risk"]
    (skipped,) = result.skipped
    assert skipped.model == "synthetic-lending"
    assert "models/synthetic-lending/config.yaml is not in commit 3f1c2b7d9e8a" in skipped.reason
    assert "deleted" in skipped.reason


def test_endpoint_ownership_is_checked_on_the_commits_configurations(world: World) -> None:
    # Given published configurations that agree, and a commit where both models claim one endpoint
    committed(world, PUSHED, synthetic_lending=config_with("synthetic-lending", endpoint_name="credit-risk"))

    with pytest.raises(ConfigError, match="both use endpoint 'credit-risk'"):
        world.trigger(push_event())
    assert world.pipeline.started == {}


def test_a_data_arrival_runs_the_branch_heads_configuration(world: World) -> None:
    files = committed(world, HEAD_COMMIT, credit_risk=with_gate("credit-risk", 0.62))

    (run,) = world.trigger(data_event()).runs

    request = world.request(run)
    assert world.sources.reads == [("model-projects", HEAD_COMMIT)]
    assert (request.code.commit_id, request.config_path) == (HEAD_COMMIT, CREDIT)
    assert world.store.get(request.config) == files[CREDIT]


def test_data_for_a_model_the_branch_head_does_not_have_is_an_unknown_model(world: World) -> None:
    # Given a published model whose project the branch head deleted
    committed(world, HEAD_COMMIT, credit_risk=None)

    with pytest.raises(UnknownModelError) as caught:
        world.trigger(data_event())

    assert "models/credit-risk/config.yaml is not in commit aaaaaaaaaaaa" in str(caught.value)
    assert "its models: synthetic-lending" in str(caught.value)
    assert world.pipeline.started == {}


def test_drift_retrains_the_model_whose_committed_configuration_serves_the_endpoint(world: World) -> None:
    committed(world, HEAD_COMMIT, credit_risk=config_with("credit-risk", endpoint_name="scoring"))

    (run,) = world.trigger(drift_event("scoring")).runs

    request = world.request(run)
    assert (request.model.name, request.model.endpoint_name, request.config_path) == ("credit-risk", "scoring", CREDIT)


def test_without_a_repository_holding_the_commit_the_published_configuration_runs(world: World) -> None:
    # Given no repository holds commits (locally: no `mlops git-hook install`)
    (run,) = world.trigger(data_event()).runs

    request = world.request(run)
    assert (request.config.key, request.config_path) == ("models/credit-risk/config.yaml", None)
    assert world.store.puts == []


def test_a_head_the_repository_may_lack_keeps_the_published_configuration(world: World) -> None:
    # Given a source repository that may not hold the branch head (locally: the hook's repository,
    # when the working HEAD was never pushed there), and a head it does not hold
    committed(world, PUSHED)
    world.sources.holds_every_commit = False

    # When data arrives, Then the run uses the published configuration
    (run,) = world.trigger(data_event()).runs
    assert world.request(run).config_path is None


def test_a_pushed_commit_the_repository_lacks_is_an_error_even_where_heads_may_be_missing(world: World) -> None:
    committed(world, HEAD_COMMIT)
    world.sources.holds_every_commit = False

    with pytest.raises(CommitNotFoundError):
        world.trigger(push_event())
    assert world.pipeline.started == {}


def test_in_codecommit_a_missing_branch_head_is_an_error(world: World) -> None:
    committed(world, PUSHED)

    with pytest.raises(CommitNotFoundError):
        world.trigger(data_event())
    assert world.pipeline.started == {}


def test_commit_projects_lists_folders_with_a_config_file_only() -> None:
    tree = DictTree(
        {
            CREDIT: b"",
            "models/notes/README.md": b"",
            "models/Bad_Name/config.yaml": b"",
            "models/synthetic-lending/config.yaml": b"",
            "jobs/train.py": b"",
        }
    )

    assert commit_projects(tree) == ["credit-risk", "synthetic-lending"]
    assert commit_projects(DictTree({"jobs/train.py": b""})) == []
