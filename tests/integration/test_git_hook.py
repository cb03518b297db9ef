"""A real ``git push`` to the local remote reaches the pipeline as CodeCommit's push event, once per commit.

The push to main starts an execution on the local server ``mlops trigger`` hands it to (or starts and leaves running);
Prepare Data packs the pushed commit's job code from the hook's repository (as it reads CodeCommit in AWS). The
commit holds this checkout's job code, so it changes nothing the approved model is trained from and the run ends
as No Change. The
module fixture ends every process that names the test's data directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.domain.sourcedir import content_addressed_key
from governed_mlops.model_projects import commit_config_key
from governed_mlops.models import S3Ref
from governed_mlops_local.cli import main
from governed_mlops_local.cli.githook import git_hook
from governed_mlops_local.packaging import build_sourcedir, pack_commit
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR
from tests.waiting import until, within

MLOPS = str(Path(sys.executable).parent / "mlops")
APPROVER = "carol.approver"
#: credit-risk is high risk: two distinct approvers.
APPROVE_AS = ("--approve-as", APPROVER, "--approve-as", "dave.risk")
PUSHER = "alice.engineer"
ALICE = "arn:aws:iam::000000000000:user/alice.engineer"
CONFIG_PATH = "models/credit-risk/config.yaml"

if "git-hook" not in main.commands:
    main.add_command(git_hook)


def mlops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [MLOPS, "--data-dir", str(data_dir), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"mlops {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
    return completed


def git(cwd: Path, *args: str, pusher: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    if pusher is not None:
        env["MLOPS_PUSHER"] = pusher
    completed = subprocess.run(
        ["git", "-c", "user.name=Alice Engineer", "-c", "user.email=alice@example.com", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"git {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout + completed.stderr  # git relays the hook's output ("remote: ...") on stderr


#: What the engineer's repository holds besides notes.txt: the job code and the model projects.
PROJECT_PATHS = ("jobs", "src/governed_mlops_ml", "layers/common/python/governed_mlops", "models")


def copy_project(work: Path) -> None:
    """This checkout's job code, the code it imports and the model projects (no caches) into ``work``."""
    for folder in PROJECT_PATHS:
        for source in (PROJECT_DIR / folder).rglob("*"):
            if source.is_file() and "__pycache__" not in source.parts:
                target = work / source.relative_to(PROJECT_DIR)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
    git(work, "add", *PROJECT_PATHS)


def commit(work: Path, message: str) -> str:
    (work / "notes.txt").write_text(f"{message}\n", encoding="utf-8")
    git(work, "add", "notes.txt")
    git(work, "commit", "--quiet", "-m", message)
    return git(work, "rev-parse", "HEAD").strip()


def executions(data_dir: Path, prefix: str = "") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(mlops(data_dir, "executions", "--json").stdout)["executions"]
    return [r for r in rows if r["name"].startswith(prefix)]


def processes_naming(data_dir: Path) -> list[int]:
    """Processes whose command line names the data directory (or a file in it), other than this one."""
    root = str(data_dir)
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if int(entry.name) != os.getpid() and any(a == root or a.startswith(root + "/") for a in argv):
            found.append(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists()}


def end_processes(data_dir: Path) -> None:
    pids = set(processes_naming(data_dir))
    runtime = data_dir / "runtime.json"
    if runtime.exists():
        pids.add(int(json.loads(runtime.read_text())["pid"]))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                continue
        within(lambda signalled=pids: not alive(signalled), 10, poll=0.1)
        pids = alive(pids)


@dataclass
class Remote:
    data_dir: Path
    bare: Path
    work: Path
    main_commit: str
    main_push_output: str


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """A dataset in the bucket, the hook installed, and one commit pushed to main by alice.engineer."""
    base = tmp_path_factory.mktemp("githook")
    data_dir, work = base / "mlops-data", base / "work"
    try:
        mlops(data_dir, "upload", str(GERMAN_CREDIT), "--model", "credit-risk", "--wait", *APPROVE_AS)
        installed = CliRunner().invoke(main, ["--data-dir", str(data_dir), "git-hook", "install"])
        assert installed.exit_code == 0, installed.output
        bare = data_dir / "git" / "model-projects.git"
        assert f"git remote add mlops {bare}" in installed.output
        work.mkdir()
        git(work, "init", "--quiet")
        copy_project(work)
        sha = commit(work, "first model change")
        output = git(work, "push", str(bare), "HEAD:main", pusher=PUSHER)
        yield Remote(data_dir, bare, work, sha, output)
    finally:
        end_processes(data_dir)


def wait_for_push_execution(data_dir: Path, sha: str, timeout: float = 120) -> dict[str, Any]:
    rows = within(lambda: executions(data_dir, "push-" + sha[:16]), timeout, poll=0.5)
    assert len(rows) == 1, rows
    return rows[0]


def started_input(data_dir: Path, name: str, timeout: float = 60) -> dict[str, Any]:
    """The execution input from the ExecutionStarted event (persisted by the background process)."""
    events = until(
        lambda: json.loads(mlops(data_dir, "history", name, "--json").stdout)["events"],
        timeout,
        f"the history of {name}",
        poll=0.5,
    )
    assert events[0]["type"] == "ExecutionStarted", events
    parsed: dict[str, Any] = json.loads(events[0]["executionStartedEventDetails"]["input"])
    return parsed


def wait_until_ended(data_dir: Path, name: str, timeout: float = 180) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []

    def ended() -> bool:
        rows[:] = executions(data_dir, name)
        assert len(rows) == 1, rows
        return bool(rows[0]["status"] != "RUNNING")

    within(ended, timeout, poll=0.5)
    return rows[0]


@pytest.mark.slow
def test_a_push_to_main_starts_one_execution_for_the_commit(remote: Remote):
    execution = wait_for_push_execution(remote.data_dir, remote.main_commit)
    assert f"started {execution['name']}" in remote.main_push_output
    # The commit changes no input of the approved model (data, job code, configuration): the run
    # ends as No Change before training, rather than retraining the champion byte for byte.
    ended = wait_until_ended(remote.data_dir, execution["name"])
    assert ended["status"] == "SUCCEEDED", ended
    history = json.loads(mlops(remote.data_dir, "history", execution["name"], "--json").stdout)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert entered[-1] == "No Change", entered
    assert "Train Model" not in entered


@pytest.mark.slow
def test_prepare_data_packed_the_pushed_commit_from_the_hooks_repository(remote: Remote):
    # Given the push's execution (ended as No Change: the commit holds this checkout's job code)
    name = wait_for_push_execution(remote.data_dir, remote.main_commit)["name"]
    wait_until_ended(remote.data_dir, name)
    history = json.loads(mlops(remote.data_dir, "history", name, "--json").stdout)["events"]

    # When Prepare Data's result is read
    (output,) = [
        json.loads(e["stateExitedEventDetails"]["output"])
        for e in history
        if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == "Prepare Data"
    ]

    # Then the job code is the commit's, packed by the same packer, under its digest's key
    packed = pack_commit(remote.bare, remote.main_commit)
    prepared = output["prepared"]
    assert prepared["source_commit"] == remote.main_commit
    assert prepared["source"]["key"] == content_addressed_key(packed.sha256)
    assert packed.sha256 == hashlib.sha256(build_sourcedir(PROJECT_DIR)).hexdigest()


@pytest.mark.slow
def test_the_push_runs_the_commits_configuration(remote: Remote):
    # Given the push's execution input
    request = started_input(remote.data_dir, wait_for_push_execution(remote.data_dir, remote.main_commit)["name"])

    # Then its configuration is the commit's file, stored under its digest (not the published copy)
    committed = git(remote.bare, "cat-file", "blob", f"{remote.main_commit}:{CONFIG_PATH}").encode()
    assert request["config_path"] == CONFIG_PATH
    assert request["config"]["key"] == commit_config_key(hashlib.sha256(committed).hexdigest())
    assert LocalObjectStore(remote.data_dir).get(S3Ref.model_validate(request["config"])) == committed


@pytest.mark.slow
def test_a_pushed_configuration_change_is_what_the_run_uses_without_publishing(remote: Remote):
    # Given a commit that changes only one hyperparameter of credit-risk's configuration
    config = remote.work / CONFIG_PATH
    config.write_bytes(config.read_bytes().replace(b"num_round: 150", b"num_round: 40"))
    git(remote.work, "commit", "--quiet", "-am", "fewer rounds")
    sha = git(remote.work, "rev-parse", "HEAD").strip()

    # When it is pushed to main
    git(remote.work, "push", str(remote.bare), "HEAD:main", pusher=PUSHER)

    # Then Prepare Data trains with the commit's hyperparameter and packs that commit
    name = wait_for_push_execution(remote.data_dir, sha)["name"]

    def prepared() -> dict[str, Any] | None:
        history = json.loads(mlops(remote.data_dir, "history", name, "--json").stdout)["events"]
        outputs = [
            json.loads(e["stateExitedEventDetails"]["output"])["prepared"]
            for e in history
            if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == "Prepare Data"
        ]
        return outputs[0] if outputs else None

    output = until(prepared, 120, f"Prepare Data of {name}", poll=0.5)
    assert output["hyperparameters"]["num_round"] == "40"
    assert output["source_commit"] == sha
    assert started_input(remote.data_dir, name)["config_path"] == CONFIG_PATH


@pytest.mark.slow
def test_the_event_sent_is_codecommits_reference_created_for_main(remote: Remote):
    # The hook names the event it sent: "mlops: referenceCreated refs/heads/main by <arn> -> event <id>"
    event_id = re.search(r"-> event ([0-9a-f-]{36})", remote.main_push_output)
    assert event_id is not None, remote.main_push_output
    event = json.loads((remote.data_dir / "events" / "incoming" / f"{event_id[1]}.json").read_text())
    assert event["id"] == event_id[1]
    assert event["resources"] == ["arn:aws:codecommit:us-east-1:000000000000:model-projects"]
    assert {k: event["detail"][k] for k in ("event", "referenceName", "commitId", "callerUserArn")} == {
        "event": "referenceCreated",
        "referenceName": "main",
        "commitId": remote.main_commit,
        "callerUserArn": ALICE,
    }


@pytest.mark.slow
def test_the_pusher_is_the_trigger_principal_and_the_audited_actor(remote: Remote):
    name = wait_for_push_execution(remote.data_dir, remote.main_commit)["name"]
    request = started_input(remote.data_dir, name)
    assert request["trigger"]["principal"] == ALICE
    assert request["code"]["commit_id"] == remote.main_commit
    records = json.loads(mlops(remote.data_dir, "audit", "log", "--json").stdout)
    triggered = [r for r in records if r["action"] == "pipeline.triggered" and r["subject"] == name]
    assert [r["actor"] for r in triggered] == [ALICE]


@pytest.mark.slow
def test_deleting_main_and_pushing_the_same_commit_again_starts_nothing_new(remote: Remote):
    wait_for_push_execution(remote.data_dir, remote.main_commit)
    before = [e["name"] for e in executions(remote.data_dir)]
    # Given main is not the default branch (git, like CodeCommit, refuses to delete the default branch)
    git(remote.bare, "symbolic-ref", "HEAD", "refs/heads/trunk")
    try:
        # When main is deleted (referenceDeleted: the rule drops it) and the same commit is pushed again
        deleted = git(remote.work, "push", str(remote.bare), ":refs/heads/main", pusher=PUSHER)
        again = git(remote.work, "push", str(remote.bare), f"{remote.main_commit}:refs/heads/main", pusher=PUSHER)
    finally:
        git(remote.bare, "symbolic-ref", "HEAD", "refs/heads/main")
    # Then the deletion matched no rule, the re-push was a duplicate, and no execution was added
    assert "referenceDeleted refs/heads/main" in deleted
    assert "No rule matched" in deleted
    assert "duplicate push-" + remote.main_commit[:16] in again
    assert [e["name"] for e in executions(remote.data_dir)] == before


@pytest.mark.slow
def test_a_push_to_another_branch_is_sent_and_starts_nothing(remote: Remote):
    wait_for_push_execution(remote.data_dir, remote.main_commit)
    before = [e["name"] for e in executions(remote.data_dir)]
    git(remote.work, "checkout", "--quiet", "-b", "feature/x")
    sha = commit(remote.work, "an experiment")
    output = git(remote.work, "push", str(remote.bare), "HEAD:feature/x", pusher=PUSHER)
    assert "referenceCreated refs/heads/feature/x" in output
    assert "No rule matched" in output
    assert [e["name"] for e in executions(remote.data_dir)] == before
    assert executions(remote.data_dir, "push-" + sha[:16]) == []


@pytest.mark.slow
def test_reinstalling_keeps_the_repository_and_its_id(remote: Remote):
    hook = remote.bare / "hooks" / "post-receive"
    first = hook.read_text()
    again = CliRunner().invoke(main, ["--data-dir", str(remote.data_dir), "git-hook", "install"])
    assert again.exit_code == 0, again.output
    assert f"Using repository {remote.bare}" in again.output
    assert hook.read_text() == first
    assert os.access(hook, os.X_OK)


def install(data_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), "git-hook", "install", *args])


def test_install_into_an_existing_repository_keeps_a_foreign_hook_aside(tmp_path: Path):
    # Given a bare repository that already has a post-receive hook of its own
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    (bare / "hooks" / "post-receive").write_text("#!/bin/sh\necho theirs\n")
    # When the mlops hook is installed there
    result = install(tmp_path / "data", "--remote", str(bare))
    # Then theirs is kept aside, ours is in place, and the repository has a CodeCommit-style id
    assert result.exit_code == 0, result.output
    assert (bare / "hooks" / "post-receive.before-mlops").read_text() == "#!/bin/sh\necho theirs\n"
    assert "governed_mlops_local.git_hook" in (bare / "hooks" / "post-receive").read_text()
    assert re.fullmatch(r"[0-9a-f-]{36}", git(bare, "config", "--get", "mlops.repositoryid").strip())
    assert f"git remote add mlops {bare}" in result.output


def test_install_refuses_a_plain_directory_even_inside_another_checkout(tmp_path: Path):
    # Given a plain directory inside a working tree (git would find the checkout's .git from it)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git(checkout, "init", "--quiet")
    plain = checkout / "not-a-repo"
    plain.mkdir()
    # When it is named as the remote, Then nothing is installed, neither there nor in the checkout
    result = install(tmp_path / "data", "--remote", str(plain))
    assert result.exit_code == 1
    assert "is not a git repository" in result.output
    assert not (checkout / ".git" / "hooks" / "post-receive").exists()


def test_install_warns_when_the_rule_does_not_watch_the_repository(tmp_path: Path):
    result = install(tmp_path / "data", "--repository-name", "another-repo")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "git" / "another-repo.git" / "hooks" / "post-receive").exists()
    assert "the template's rule watches model-projects@main" in result.output
