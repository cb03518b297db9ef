"""Where the training code comes from: CodeCommit in AWS, the working git repository locally."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from governed_mlops.errors import RepositoryNotFoundError

if TYPE_CHECKING:
    from mypy_boto3_codecommit import CodeCommitClient
else:
    CodeCommitClient = Any


_GIT = shutil.which("git") or "git"


class CodeRepository(Protocol):
    def branch_head(self, repository: str, branch: str) -> str: ...


class CodeCommitRepository:
    def __init__(self, client: CodeCommitClient) -> None:
        self._cc = client

    def branch_head(self, repository: str, branch: str) -> str:
        try:
            return str(self._cc.get_branch(repositoryName=repository, branchName=branch)["branch"]["commitId"])
        except ClientError as exc:
            raise RepositoryNotFoundError(
                f"cannot read branch {branch!r} of CodeCommit repository {repository!r}: "
                f"{exc.response['Error']['Code']}"
            ) from exc


class LocalGitRepository:
    """Locally "the main branch head" is the working repository's HEAD commit."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def branch_head(self, repository: str, branch: str) -> str:
        try:
            answer = subprocess.run(
                [_GIT, "-C", str(self._path), "rev-parse", "--verify", "HEAD^{commit}"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            raise RepositoryNotFoundError(
                f"{self._path} is not a git repository with a commit (needed as the code version of "
                f"{repository}@{branch}): run 'git init && git commit' there"
            ) from exc
        return answer.stdout.strip()
