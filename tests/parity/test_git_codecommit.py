"""The parity tier's CodeCommit (tests/parity/codecommit.py) answers from git as the CodeCommit API does.

Each call goes through a real boto3 client to moto (so botocore parses the answers against the
CodeCommit service model, base64 file content included); the pipeline's adapter then packs a commit
read this way to the same bytes as the local git path and as the checkout it was copied from.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from governed_mlops.adapters.code_repository import CodeCommitRepository, LocalGitRepository
from governed_mlops.domain.sourcedir import pack_sourcedir
from governed_mlops.errors import CommitNotFoundError
from governed_mlops_local.packaging import build_sourcedir
from tests.parity.codecommit import GitCodeCommit
from tests.parity.stack import HARNESS_CREDENTIALS
from tests.parity.world import PROJECT_DIR, checkout_files

pytestmark = pytest.mark.parity
REGION = "us-east-1"


@pytest.fixture
def codecommit(tmp_path: Path) -> Iterator[tuple[GitCodeCommit, str, str, str]]:
    """A repository whose first commit is this checkout's job code and models, the second one line more.

    Its own moto context (not the package's parity_aws): nothing it creates outlives the test.
    """
    emulation = GitCodeCommit(tmp_path / "git", region=REGION, account="123456789012", credentials=HARNESS_CREDENTIALS)
    name = f"repo-{uuid.uuid4().hex[:8]}"
    with mock_aws(), emulation.installed():
        emulation.create(name)
        first = emulation.commit(name, checkout_files(), "first")
        train = emulation.read(name, first, "jobs/train.py")
        second = emulation.commit(name, {"jobs/train.py": train + b"# one line\n"}, "second", parent=first)
        emulation.push(name, "main", first, pusher_arn="arn:aws:iam::123456789012:user/alice")
        yield emulation, name, first, second


def _client() -> object:
    return boto3.client("codecommit", region_name=REGION, **HARNESS_CREDENTIALS)


def test_get_folder_lists_files_and_subfolders_of_the_commit(codecommit: tuple[GitCodeCommit, str, str, str]) -> None:
    _, name, first, _ = codecommit
    answer = _client().get_folder(repositoryName=name, commitSpecifier=first, folderPath="/")  # type: ignore[attr-defined]
    assert answer["commitId"] == first
    assert {f["relativePath"] for f in answer["subFolders"]} == {"jobs", "layers", "models", "src"}
    jobs = _client().get_folder(repositoryName=name, commitSpecifier=first, folderPath="jobs")  # type: ignore[attr-defined]
    assert {f["absolutePath"] for f in jobs["files"]} >= {"jobs/train.py", "jobs/evaluate.py"}
    assert {f["fileMode"] for f in jobs["files"]} == {"NORMAL"}


def test_get_file_returns_the_commits_bytes(codecommit: tuple[GitCodeCommit, str, str, str]) -> None:
    _, name, first, second = codecommit
    old = _client().get_file(repositoryName=name, commitSpecifier=first, filePath="jobs/train.py")  # type: ignore[attr-defined]
    new = _client().get_file(repositoryName=name, commitSpecifier=second, filePath="jobs/train.py")  # type: ignore[attr-defined]
    assert old["fileContent"] == (PROJECT_DIR / "jobs" / "train.py").read_bytes()
    assert new["fileContent"] == old["fileContent"] + b"# one line\n"
    assert new["fileSize"] == len(new["fileContent"])


@pytest.mark.parametrize(
    ("operation", "arguments", "code"),
    [
        ("get_folder", {"commitSpecifier": "0" * 40, "folderPath": "jobs"}, "CommitDoesNotExistException"),
        ("get_folder", {"folderPath": "no/such/folder"}, "FolderDoesNotExistException"),
        ("get_file", {"filePath": "jobs/nothing.py"}, "FileDoesNotExistException"),
        ("get_file", {"commitSpecifier": "f" * 40, "filePath": "jobs/train.py"}, "CommitDoesNotExistException"),
    ],
    ids=["folder-bad-commit", "missing-folder", "missing-file", "file-bad-commit"],
)
def test_errors_carry_codecommits_codes(
    codecommit: tuple[GitCodeCommit, str, str, str], operation: str, arguments: dict[str, str], code: str
) -> None:
    _, name, _, _ = codecommit
    with pytest.raises(ClientError) as caught:
        getattr(_client(), operation)(repositoryName=name, **arguments)
    assert caught.value.response["Error"]["Code"] == code


def test_an_unknown_repository_is_repository_does_not_exist(codecommit: tuple[GitCodeCommit, str, str, str]) -> None:
    with pytest.raises(ClientError) as caught:
        _client().get_folder(repositoryName="nobody-made-this", folderPath="/")  # type: ignore[attr-defined]
    assert caught.value.response["Error"]["Code"] == "RepositoryDoesNotExistException"


def test_differences_and_branch_come_from_git(codecommit: tuple[GitCodeCommit, str, str, str]) -> None:
    _, name, first, second = codecommit
    assert CodeCommitRepository(_client()).changed_paths(name, first, second) == ["jobs/train.py"]  # type: ignore[arg-type]
    assert CodeCommitRepository(_client()).branch_head(name, "main") == first  # type: ignore[arg-type]


def test_the_api_path_the_git_path_and_the_checkout_pack_to_one_sha256(
    codecommit: tuple[GitCodeCommit, str, str, str],
) -> None:
    emulation, name, first, second = codecommit
    through_api = CodeCommitRepository(_client())  # type: ignore[arg-type]
    through_git = LocalGitRepository(emulation.git_dir(name))
    checkout = hashlib.sha256(build_sourcedir(PROJECT_DIR)).hexdigest()

    assert pack_sourcedir(through_api.source_tree(name, first)).sha256 == checkout
    assert pack_sourcedir(through_git.source_tree(name, first)).sha256 == checkout
    assert (
        pack_sourcedir(through_api.source_tree(name, second)).sha256
        == pack_sourcedir(through_git.source_tree(name, second)).sha256
        != checkout
    )


def test_a_commit_the_repository_lacks_is_commit_not_found(codecommit: tuple[GitCodeCommit, str, str, str]) -> None:
    emulation, name, _, _ = codecommit
    with pytest.raises(CommitNotFoundError, match="is not in CodeCommit repository"):
        pack_sourcedir(CodeCommitRepository(_client()).source_tree(name, "1" * 40))  # type: ignore[arg-type]
    # CodeCommit holds every commit: a branch head it lacks is an error too, not a fallback
    with pytest.raises(CommitNotFoundError, match="is not in CodeCommit repository"):
        pack_sourcedir(CodeCommitRepository(_client()).source_tree(name, "1" * 40, required=False))  # type: ignore[arg-type]
    with pytest.raises(CommitNotFoundError, match="is not in the git repository"):
        LocalGitRepository(emulation.git_dir(name)).source_tree(name, "1" * 40)
    with pytest.raises(CommitNotFoundError, match="not a full commit id"):
        CodeCommitRepository(_client()).source_tree(name, "HEAD")  # type: ignore[arg-type]
