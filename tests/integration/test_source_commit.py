"""Locally, a push's job code is packed from the git hook's repository; reproduce refuses a mismatched pair.

A real git repository stands in for the hook's bare repository (its path in
``<data dir>/git/<repository>.remote``, as ``mlops git-hook install`` writes it). Prepare Data's
:func:`job_code` packs the pushed commit into ``source/<sha256>/sourcedir.tar.gz``; a run that is not
a push (or a hand-written push event for a repository no hook created) keeps the release's sourcedir.
:func:`check_source_commit` packs a lineage's commit again and refuses when the pair disagrees.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from governed_mlops.adapters.code_repository import LocalCodeCommit, local_remote_pointer
from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.domain.sourcedir import content_addressed_key
from governed_mlops.errors import ArtifactNotFoundError, CommitNotFoundError, ConfigError, SourceMismatchError
from governed_mlops.models import CodeRef, ModelVersion, ObjectDigest, PipelineRequest, S3Ref, TriggerInfo
from governed_mlops.services.stages import job_code
from governed_mlops.settings import PrepareSettings
from governed_mlops_local.packaging import build_sourcedir, pack_commit
from governed_mlops_local.services.reproduce import check_source_commit
from tests.conftest import PROJECT_DIR

REPOSITORY = "model-projects"
ARTIFACTS = "artifacts-bucket"
RELEASE_KEY = "code/sourcedir.tar.gz"
PROJECT_PATHS = ("jobs", "src/governed_mlops_ml", "layers/common/python/governed_mlops", "models")
CONFIG_PATH = "models/credit-risk/config.yaml"


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {"GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", "-c", "user.name=Alice", "-c", "user.email=alice@example.com", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


@dataclass
class Local:
    data_dir: Path
    work: Path
    store: LocalObjectStore
    first: str
    second: str


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Local:
    """A repository whose first commit is this checkout's job code and whose second adds one line to train.py."""
    base = tmp_path_factory.mktemp("source-commit")
    data_dir, work = base / "mlops-data", base / "work"
    work.mkdir()
    git(work, "init", "--quiet")
    for folder in PROJECT_PATHS:
        for source in (PROJECT_DIR / folder).rglob("*"):
            if source.is_file() and "__pycache__" not in source.parts:
                target = work / source.relative_to(PROJECT_DIR)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
    git(work, "add", *PROJECT_PATHS)
    git(work, "commit", "--quiet", "-m", "first")
    first = git(work, "rev-parse", "HEAD")
    with (work / "jobs" / "train.py").open("a", encoding="utf-8") as handle:
        handle.write("# one line more\n")
    git(work, "commit", "--quiet", "-am", "second")
    second = git(work, "rev-parse", "HEAD")
    pointer = local_remote_pointer(data_dir, REPOSITORY)
    pointer.parent.mkdir(parents=True)
    pointer.write_text(f"{work}\n", encoding="utf-8")
    store = LocalObjectStore(data_dir)
    store.put(ARTIFACTS, RELEASE_KEY, build_sourcedir(PROJECT_DIR))
    return Local(data_dir, work, store, first, second)


def settings(local: Local) -> PrepareSettings:
    return PrepareSettings(
        mlops_backend="local",
        mlops_local_root=local.data_dir,
        aws_region="us-east-1",
        artifacts_bucket=ARTIFACTS,
        training_source_uri=f"s3://{ARTIFACTS}/{RELEASE_KEY}",
        code_repository=REPOSITORY,
    )


def request(
    commit: str, kind: str = "code-push", repository: str = REPOSITORY, config: S3Ref | None = None
) -> PipelineRequest:
    """A run's request; with ``config`` (a stored object) it is the commit's: ``config_path`` names its file."""
    pinned = config or S3Ref(bucket=ARTIFACTS, key="models/credit-risk/config.yaml")
    return PipelineRequest.model_validate(
        {
            "execution_name": "push-run",
            "trigger": {
                "kind": kind,
                "event_id": "e",
                "event_time": "2026-12-05T00:00:00Z",
                "principal": "arn:aws:iam::000000000000:user/alice",
                "source": "aws.codecommit",
                "detail_type": "CodeCommit Repository State Change",
            },
            "model": {
                "name": "credit-risk",
                "endpoint_name": "credit-risk",
                "model_package_group": "credit-risk",
                "approvers_group": "model-approvers",
                "risk_tier": "high",
                "approvals_required": 2,
                "max_latency_us": 500000,
                "min_positive_rate": 0.5,
                "max_positive_rate": 0.98,
            },
            "data": {"bucket": "data-bucket", "key": "datasets/credit-risk/x.csv"},
            "code": {"repository": repository, "branch": "main", "commit_id": commit},
            "config": pinned.model_dump(),
            "config_path": CONFIG_PATH if config else None,
            "artifacts_prefix": f"s3://{ARTIFACTS}/runs/push-run/",
        }
    )


def test_a_push_packs_its_commit_under_the_digests_key(local: Local) -> None:
    ref, commit = job_code(request(local.second), local.store, settings(local), LocalCodeCommit(local.data_dir))

    packed = pack_commit(local.work, local.second)
    assert (ref.key, commit) == (content_addressed_key(packed.sha256), local.second)
    assert hashlib.sha256(local.store.get(ref)).hexdigest() == packed.sha256


def test_two_commits_one_line_apart_pack_to_two_digests_the_first_the_checkouts(local: Local) -> None:
    first = pack_commit(local.work, local.first).sha256
    second = pack_commit(local.work, local.second).sha256
    assert first != second
    assert first == hashlib.sha256(build_sourcedir(PROJECT_DIR)).hexdigest()


def test_a_data_arrival_uses_the_release(local: Local) -> None:
    ref, commit = job_code(
        request(local.second, kind="data-arrival"), local.store, settings(local), LocalCodeCommit(local.data_dir)
    )
    assert (ref.key, commit) == (RELEASE_KEY, None)
    assert ref.version_id


def test_a_data_arrival_with_its_commits_configuration_packs_that_commit(local: Local) -> None:
    # Given the Trigger read the configuration from the commit and stored it
    text = (PROJECT_DIR / CONFIG_PATH).read_bytes()
    stored = local.store.put(ARTIFACTS, f"config/{hashlib.sha256(text).hexdigest()}/config.yaml", text)

    ref, commit = job_code(
        request(local.second, kind="data-arrival", config=stored.ref),
        local.store,
        settings(local),
        LocalCodeCommit(local.data_dir),
    )

    assert (ref.key, commit) == (content_addressed_key(pack_commit(local.work, local.second).sha256), local.second)


def test_a_configuration_that_is_not_the_commits_is_refused(local: Local) -> None:
    stored = local.store.put(ARTIFACTS, "config/other/config.yaml", b"model: {}\n")

    with pytest.raises(ConfigError, match="the run's configuration is not its commit's"):
        job_code(
            request(local.second, kind="drift", config=stored.ref),
            local.store,
            settings(local),
            LocalCodeCommit(local.data_dir),
        )


def test_a_push_event_for_a_repository_no_hook_made_uses_the_release(local: Local, tmp_path: Path) -> None:
    ref, commit = job_code(request("f" * 40), local.store, settings(local), LocalCodeCommit(tmp_path))
    assert (ref.key, commit) == (RELEASE_KEY, None)


def test_a_commit_the_repository_lacks_is_commit_not_found(local: Local) -> None:
    with pytest.raises(CommitNotFoundError, match="is not in the git repository"):
        job_code(request("f" * 40), local.store, settings(local), LocalCodeCommit(local.data_dir))


def test_locally_a_head_the_hooks_repository_lacks_is_none_unless_required(local: Local) -> None:
    # Given the hook's repository, and a commit it was never given (a working HEAD not pushed there)
    sources = LocalCodeCommit(local.data_dir)

    # Then a branch head it lacks is no tree, a required commit it lacks is an error, and one it holds is read
    assert sources.source_tree(REPOSITORY, "f" * 40, required=False) is None
    with pytest.raises(CommitNotFoundError, match="push it there first"):
        sources.source_tree(REPOSITORY, "f" * 40)
    tree = sources.source_tree(REPOSITORY, local.second, required=False)
    assert tree is not None
    assert tree.read("jobs/train.py").endswith(b"# one line more\n")


def test_a_push_to_another_repository_is_refused(local: Local) -> None:
    with pytest.raises(ConfigError, match="packs job code only from 'model-projects'"):
        job_code(
            request(local.second, repository="elsewhere"), local.store, settings(local), LocalCodeCommit(local.data_dir)
        )


def test_no_release_and_not_a_push_is_artifact_not_found(local: Local, tmp_path: Path) -> None:
    empty = LocalObjectStore(tmp_path)
    with pytest.raises(ArtifactNotFoundError, match="mlops package-jobs"):
        job_code(request(local.first, kind="drift"), empty, settings(local), LocalCodeCommit(local.data_dir))


# -- reproduce: the lineage's pair ------------------------------------------------------------------
def _digest(key: str) -> ObjectDigest:
    return ObjectDigest(ref=S3Ref(bucket=ARTIFACTS, key=key, version_id="v1"), sha256="0" * 64, size=1)


def lineage(
    commit: str, source_sha256: str, source_commit: str | None, config_sha256: str | None = None
) -> ModelVersion:
    """A lineage; with ``config_sha256`` its configuration is the commit's ``CONFIG_PATH`` with that digest."""
    config = _digest("c.yaml")
    if config_sha256 is not None:
        config = config.model_copy(update={"sha256": config_sha256})
    return ModelVersion(
        model_version="credit-risk/1",
        model_package_group="credit-risk",
        status="PendingManualApproval",
        created_at=datetime(2026, 12, 5, tzinfo=UTC),
        execution_name="push-run",
        trigger=TriggerInfo(
            kind="code-push",
            event_id="e",
            event_time=datetime(2026, 12, 5, tzinfo=UTC),
            principal="alice",
            source="aws.codecommit",
            detail_type="CodeCommit Repository State Change",
        ),
        data=_digest("d.csv"),
        code=CodeRef(repository=REPOSITORY, branch="main", commit_id=commit),
        config=config,
        config_path=None if config_sha256 is None else CONFIG_PATH,
        model_artifact=_digest("m.tar.gz"),
        training_job_name="push-run-train-0",
        training_image="image",
        source_sha256=source_sha256,
        source_commit=source_commit,
        hyperparameters={},
        seed=1,
        library_versions={},
        metrics={},
        reports={},
    )


def test_a_matching_pair_passes_with_its_digest(local: Local) -> None:
    sha = pack_commit(local.work, local.second).sha256
    assert check_source_commit(lineage(local.second, sha, local.second), LocalCodeCommit(local.data_dir)) == sha


def test_a_release_lineage_is_not_packed_again(local: Local) -> None:
    assert check_source_commit(lineage(local.second, "a" * 64, None), None) is None


def test_the_other_commits_digest_is_refused_naming_both(local: Local) -> None:
    other = pack_commit(local.work, local.first).sha256
    mine = pack_commit(local.work, local.second).sha256
    with pytest.raises(SourceMismatchError) as caught:
        check_source_commit(lineage(local.second, other, local.second), LocalCodeCommit(local.data_dir))
    assert other in str(caught.value)
    assert mine in str(caught.value)


def test_a_source_commit_that_is_not_the_lineages_commit_is_refused(local: Local) -> None:
    sha = pack_commit(local.work, local.second).sha256
    with pytest.raises(SourceMismatchError, match="the record was altered"):
        check_source_commit(lineage(local.first, sha, local.second), LocalCodeCommit(local.data_dir))


def test_no_reachable_repository_is_commit_not_found(local: Local, tmp_path: Path) -> None:
    sha = pack_commit(local.work, local.second).sha256
    with pytest.raises(CommitNotFoundError, match="no repository holding it"):
        check_source_commit(lineage(local.second, sha, local.second), LocalCodeCommit(tmp_path))


def test_a_lineage_whose_configuration_is_the_commits_passes(local: Local) -> None:
    sha = pack_commit(local.work, local.second).sha256
    config_sha = hashlib.sha256((PROJECT_DIR / CONFIG_PATH).read_bytes()).hexdigest()
    record = lineage(local.second, sha, local.second, config_sha)
    assert check_source_commit(record, LocalCodeCommit(local.data_dir)) == sha


def test_a_lineage_whose_configuration_digest_is_not_the_commits_is_refused(local: Local) -> None:
    sha = pack_commit(local.work, local.second).sha256
    config_sha = hashlib.sha256((PROJECT_DIR / CONFIG_PATH).read_bytes()).hexdigest()
    with pytest.raises(SourceMismatchError, match="configuration digest disagree") as caught:
        check_source_commit(lineage(local.second, sha, local.second, "b" * 64), LocalCodeCommit(local.data_dir))
    assert config_sha in str(caught.value)
    assert "b" * 64 in str(caught.value)


def test_a_commit_configuration_without_a_source_commit_is_refused(local: Local) -> None:
    with pytest.raises(SourceMismatchError, match="names no source commit"):
        check_source_commit(lineage(local.second, "a" * 64, None, "b" * 64), LocalCodeCommit(local.data_dir))
