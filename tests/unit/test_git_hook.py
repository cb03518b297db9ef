"""The local git remote's events: what CodeCommit sends for a ref update, and what the rule makes of it."""

from __future__ import annotations

import functools
import json
import shlex
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.domain.trigger import CodeCommitPushEvent, parse_event, push_execution_name, push_target
from governed_mlops.errors import ConfigError
from governed_mlops_local.git_hook import (
    ZERO_SHA,
    HookConfig,
    RefUpdate,
    codecommit_reference_event,
    deliver,
    hook_script,
    parse_ref_updates,
    pusher_arn,
    pusher_name,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((REPO_ROOT / "events" / "codecommit_push.json").read_text(encoding="utf-8"))
OLD = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
NEW = "3f1c2b7d9e8a4c6b5a2f1e0d9c8b7a6f5e4d3c2b"
REPOSITORY_ID = "12345678-abcd-4ef0-9876-0123456789ab"
ALICE = "arn:aws:iam::000000000000:user/alice.engineer"
WHEN = datetime(2026, 11, 28, 9, 15, 2, tzinfo=UTC)


def event_for(old: str, new: str, ref: str, **overrides: Any) -> dict[str, Any] | None:
    arguments: dict[str, Any] = {
        "repository_name": "model-projects",
        "repository_id": REPOSITORY_ID,
        "caller_user_arn": ALICE,
        "time": WHEN,
        "event_id": FIXTURE["id"],
    }
    return codecommit_reference_event(old, new, ref, **(arguments | overrides))


@functools.cache
def push_rule_pattern() -> str:
    """The template's CodePushToMain pattern, as the local runtime loads it."""
    from governed_mlops_local.runtime import LOCAL_IMAGES, STACK_NAME
    from governed_mlops_local.template import load_template

    template = load_template(REPO_ROOT / "template.yaml", stack_name=STACK_NAME, parameter_overrides=LOCAL_IMAGES)
    rule = next(r for f in template.functions.values() for r in f.rules if r.logical_id == "CodePushToMain")
    return json.dumps(rule.pattern)


def rule_matches(event: dict[str, Any]) -> bool:
    """Whether the push rule matches ``event``, with the matcher the local runtime uses (EventBridge's)."""
    from moto.events.models import EventPattern

    return bool(EventPattern.load(push_rule_pattern()).matches_event(event))


def test_update_of_main_is_the_shared_push_fixture_exactly():
    # Given the fixture's commits, repository, pusher, time and id, When the hook builds the event
    event = event_for(OLD, NEW, "refs/heads/main")
    # Then it is the fixture, key for key and value for value
    assert event == FIXTURE
    assert list(event["detail"]) == sorted(FIXTURE["detail"])


def test_update_of_main_parses_as_a_push_by_the_pusher():
    event = parse_event(event_for(OLD, NEW, "refs/heads/main"))
    assert isinstance(event, CodeCommitPushEvent)
    target = push_target(event, "main")
    assert (target.commit_id, target.principal, target.branch) == (NEW, ALICE, "main")
    assert push_execution_name("model-projects", "main", NEW, "credit-risk").startswith("push-" + NEW[:16])


def test_a_new_branch_is_reference_created_without_an_old_commit():
    event = event_for(ZERO_SHA, NEW, "refs/heads/feature/x")
    assert event is not None
    assert event["detail"]["event"] == "referenceCreated"
    assert event["detail"]["commitId"] == NEW
    assert "oldCommitId" not in event["detail"]
    assert (event["detail"]["referenceName"], event["detail"]["referenceFullName"]) == (
        "feature/x",
        "refs/heads/feature/x",
    )


def test_a_deleted_branch_is_reference_deleted_with_only_the_old_commit():
    event = event_for(OLD, ZERO_SHA, "refs/heads/main")
    assert event is not None
    assert event["detail"]["event"] == "referenceDeleted"
    assert event["detail"]["oldCommitId"] == OLD
    assert "commitId" not in event["detail"]


def test_a_tag_is_reference_type_tag():
    event = event_for(ZERO_SHA, NEW, "refs/tags/v1.0")
    assert event is not None
    assert (event["detail"]["referenceType"], event["detail"]["referenceName"]) == ("tag", "v1.0")


@pytest.mark.parametrize("ref", ["refs/notes/commits", "refs/heads/", "HEAD", "refs/remotes/origin/main"])
def test_refs_codecommit_has_no_event_for_give_none(ref: str):
    assert event_for(OLD, NEW, ref) is None


def test_time_is_utc_to_the_second_and_the_repository_arn_follows_account_and_region():
    later = datetime(2026, 11, 28, 10, 15, 2, 999999, tzinfo=timezone(timedelta(hours=1)))
    event = event_for(OLD, NEW, "refs/heads/main", time=later, account="111122223333", region="eu-west-1")
    assert event is not None
    assert event["time"] == "2026-11-28T09:15:02Z"
    assert (event["account"], event["region"]) == ("111122223333", "eu-west-1")
    assert event["resources"] == ["arn:aws:codecommit:eu-west-1:111122223333:model-projects"]


@pytest.mark.parametrize(
    ("old", "new", "ref", "matches"),
    [
        (OLD, NEW, "refs/heads/main", True),
        (ZERO_SHA, NEW, "refs/heads/main", True),
        (OLD, ZERO_SHA, "refs/heads/main", False),
        (OLD, NEW, "refs/heads/feature/x", False),
        (ZERO_SHA, NEW, "refs/tags/main", False),
    ],
    ids=["update-main", "create-main", "delete-main", "feature-branch", "tag-named-main"],
)
def test_the_template_rule_decides_what_starts(old: str, new: str, ref: str, matches: bool):
    event = event_for(old, new, ref)
    assert event is not None
    assert rule_matches(event) is matches


def test_the_rule_drops_another_repository():
    event = event_for(OLD, NEW, "refs/heads/main", repository_name="other-repo")
    assert event is not None
    assert rule_matches(event) is False


def test_pusher_is_mlops_pusher_else_the_os_user():
    assert pusher_name({"MLOPS_PUSHER": "alice.engineer"}, lambda: "bob") == "alice.engineer"
    assert pusher_name({"MLOPS_PUSHER": "  "}, lambda: "bob") == "bob"
    assert pusher_name({}, lambda: "bob") == "bob"
    assert pusher_arn("alice.engineer") == ALICE


@pytest.mark.parametrize("name", ["alice engineer", "", "a/b", "x" * 65])
def test_a_pusher_that_is_no_iam_user_name_is_refused(name: str):
    with pytest.raises(ConfigError, match="not an IAM user name"):
        pusher_arn(name)


def test_post_receive_input_is_parsed_line_by_line():
    text = f"{OLD} {NEW} refs/heads/main\n\n{ZERO_SHA} {NEW} refs/heads/feature/x\n"
    assert parse_ref_updates(text) == [
        RefUpdate(OLD, NEW, "refs/heads/main"),
        RefUpdate(ZERO_SHA, NEW, "refs/heads/feature/x"),
    ]
    with pytest.raises(ValueError, match="not a post-receive line"):
        parse_ref_updates("garbage\n")


def make_config(tmp_path: Path) -> HookConfig:
    return HookConfig(
        mlops=Path("/opt/venv/bin/mlops"),
        data_dir=tmp_path / "data dir",
        project_dir=tmp_path / "project",
        repository_name="model-projects",
        repository_id=REPOSITORY_ID,
    )


def test_deliver_writes_one_event_file_per_ref_and_triggers_each_without_git_variables(tmp_path: Path):
    # Given two ref updates, one of them a ref CodeCommit ignores
    config = make_config(tmp_path)
    calls: list[tuple[list[str], dict[str, Any]]] = []
    ids = iter(["id-1", "id-2"])
    # When the hook delivers them
    written = deliver(
        [RefUpdate(OLD, NEW, "refs/heads/main"), RefUpdate(OLD, NEW, "refs/notes/commits")],
        config,
        environ={"MLOPS_PUSHER": "alice.engineer", "GIT_DIR": ".", "PATH": "/usr/bin"},
        now=lambda: WHEN,
        new_id=lambda: next(ids),
        run=lambda argv, **kw: calls.append((argv, kw)),
        echo=lambda _text: None,
    )
    # Then one event file exists, named by its id, and mlops trigger got it, detached, outside git's env
    path = config.data_dir / "events" / "incoming" / "id-1.json"
    assert written == [path]
    assert json.loads(path.read_text())["detail"]["callerUserArn"] == ALICE
    assert [argv for argv, _ in calls] == [
        ["/opt/venv/bin/mlops", "--data-dir", str(config.data_dir), "trigger", str(path)]
    ]
    assert calls[0][1]["env"] == {"MLOPS_PUSHER": "alice.engineer", "PATH": "/usr/bin"}
    assert calls[0][1]["cwd"] == config.project_dir
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_hook_script_is_sh_with_every_path_quoted(tmp_path: Path):
    config = make_config(tmp_path)
    script = hook_script(Path("/opt/my venv/bin/python"), config)
    assert script.startswith("#!/bin/sh\n")
    command = shlex.split(script.splitlines()[-1])
    assert command[:6] == [
        "exec",
        "/opt/my venv/bin/python",
        "-I",
        "-m",
        "governed_mlops_local.git_hook",
        "post-receive",
    ]
    assert command[command.index("--data-dir") + 1] == str(config.data_dir)
