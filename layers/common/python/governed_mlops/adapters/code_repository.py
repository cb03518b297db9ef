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

    def changed_paths(self, repository: str, before: str, after: str) -> list[str] | None:
        """Paths a commit range changed; None when the range cannot be resolved (caller assumes all)."""
        ...


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

    def changed_paths(self, repository: str, before: str, after: str) -> list[str] | None:
        """``GetDifferences`` between two commits: every path added, modified, deleted or renamed."""
        paths: set[str] = set()
        try:
            pages = self._cc.get_paginator("get_differences").paginate(
                repositoryName=repository, beforeCommitSpecifier=before, afterCommitSpecifier=after
            )
            for page in pages:
                for difference in page.get("differences", []):
                    for blob in ("beforeBlob", "afterBlob"):
                        path = difference.get(blob, {}).get("path")
                        if path:
                            paths.add(str(path))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"CommitDoesNotExistException", "InvalidCommitException"}:
                return None
            raise RepositoryNotFoundError(
                f"cannot diff {before[:12]}..{after[:12]} in CodeCommit repository {repository!r}: "
                f"{exc.response['Error']['Code']}"
            ) from exc
        return sorted(paths)


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

    def changed_paths(self, repository: str, before: str, after: str) -> list[str] | None:  # noqa: ARG002
        """``git diff --name-only before after`` in the working repository; None if either is unknown."""
        try:
            answer = subprocess.run(
                [_GIT, "-C", str(self._path), "diff", "--name-only", "--no-renames", before, after, "--"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return sorted(line for line in answer.stdout.splitlines() if line)
