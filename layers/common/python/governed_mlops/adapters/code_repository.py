"""Where the training code comes from: CodeCommit in AWS, the working git repository locally.

:meth:`CodeRepository.source_tree` gives one commit's files, read through ``GetFolder``/``GetFile``
in AWS and from the git objects locally (``git ls-tree`` / ``git cat-file``); nothing is checked
out, so what is packed is exactly what the commit holds.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from governed_mlops.domain.sourcedir import Listing, SourceTree
from governed_mlops.errors import CommitNotFoundError, RepositoryNotFoundError

if TYPE_CHECKING:
    from mypy_boto3_codecommit import CodeCommitClient
else:
    CodeCommitClient = Any


_GIT = shutil.which("git") or "git"
_FULL_COMMIT = frozenset("0123456789abcdef")
#: A full git commit id: 40 hex digits (SHA-1).
_COMMIT_ID_LENGTH = 40
#: CodeCommit's errors for a commit it does not have (vs. a repository it does not have).
_NO_COMMIT = frozenset({"CommitDoesNotExistException", "InvalidCommitException", "CommitIdDoesNotExistException"})


class CodeRepository(Protocol):
    def branch_head(self, repository: str, branch: str) -> str: ...

    def changed_paths(self, repository: str, before: str, after: str) -> list[str] | None:
        """Paths a commit range changed; None when the range cannot be resolved (caller assumes all)."""
        ...

    def source_tree(self, repository: str, commit: str) -> SourceTree:
        """The files of ``commit`` (a full 40-hex commit id).

        Raises:
            CommitNotFoundError: the repository has no such commit.
            RepositoryNotFoundError: the repository cannot be read.
        """
        ...


class SourceRepository(Protocol):
    def source_tree(self, repository: str, commit: str, *, required: bool = True) -> SourceTree | None:
        """The files of ``commit``; None only locally, where the repository may not hold the commit.

        Args:
            required: the caller cannot go on without this commit's files (a pushed commit, a run whose
                configuration was read from it). With ``required=False`` (a data arrival's or drift
                run's branch head), an adapter whose repository may simply not have been given that
                commit answers None instead of raising. Only the local one can: CodeCommit holds every
                commit, so there a missing commit is always an error.

        Raises:
            CommitNotFoundError: the repository has no such commit (and it was required, or the
                repository is CodeCommit).
        """
        ...


#: Locally, ``<data dir>/git/<repository>.remote`` holds the path of the repository the git hook serves.
LOCAL_REMOTES_DIR = "git"


def local_remote_pointer(data_dir: Path, repository: str) -> Path:
    """The file naming the local git repository that stands in for CodeCommit repository ``repository``."""
    return data_dir / LOCAL_REMOTES_DIR / f"{repository}.remote"


def _check_commit_id(commit: str) -> None:
    if len(commit) != _COMMIT_ID_LENGTH or not set(commit) <= _FULL_COMMIT:
        raise CommitNotFoundError(f"{commit!r} is not a full commit id (40 lowercase hex digits)")


class CodeCommitTree:
    """One commit of a CodeCommit repository, read through ``GetFolder`` and ``GetFile`` (cached per call)."""

    def __init__(self, client: CodeCommitClient, repository: str, commit: str) -> None:
        self._cc, self._repository, self._commit = client, repository, commit
        self._folders: dict[str, Listing | None] = {}

    def _error(self, exc: ClientError, what: str) -> Exception:
        code = exc.response["Error"]["Code"]
        if code in _NO_COMMIT:
            return CommitNotFoundError(
                f"commit {self._commit} is not in CodeCommit repository {self._repository!r} ({code}): "
                "push it, or name a commit the repository has"
            )
        return RepositoryNotFoundError(f"cannot read {what} of {self._repository}@{self._commit[:12]}: {code}")

    def listing(self, folder: str) -> Listing | None:
        if folder not in self._folders:
            try:
                answer = self._cc.get_folder(
                    repositoryName=self._repository, commitSpecifier=self._commit, folderPath=folder or "/"
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "FolderDoesNotExistException":
                    self._folders[folder] = None
                    return None
                raise self._error(exc, f"folder {folder or '/'}") from exc
            if answer["commitId"] != self._commit:
                answered = answer["commitId"]
                raise CommitNotFoundError(f"{self._repository} answered for commit {answered}, not {self._commit}")
            # Symbolic links and submodules are listed apart: only regular files are packed.
            self._folders[folder] = Listing(
                files=frozenset(str(f["relativePath"]) for f in answer.get("files", [])),
                folders=frozenset(str(f["relativePath"]) for f in answer.get("subFolders", [])),
            )
        return self._folders[folder]

    def read(self, path: str) -> bytes:
        try:
            answer = self._cc.get_file(repositoryName=self._repository, commitSpecifier=self._commit, filePath=path)
        except ClientError as exc:
            raise self._error(exc, path) from exc
        content = answer["fileContent"]  # boto3 decodes the base64 blob
        return content if isinstance(content, bytes) else base64.b64decode(content)


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

    def source_tree(self, repository: str, commit: str, *, required: bool = True) -> CodeCommitTree:  # noqa: ARG002
        """The commit's files through ``GetFolder``/``GetFile``; every commit is there, required or not."""
        _check_commit_id(commit)
        return CodeCommitTree(self._cc, repository, commit)


class GitTree:
    """One commit of a local git repository, read from its objects (no checkout, no working tree)."""

    def __init__(self, git_dir: Path, commit: str) -> None:
        self._git_dir, self._commit = git_dir, commit
        self._folders: dict[str, Listing | None] = {}

    def _git(self, *args: str) -> bytes:
        return subprocess.run(
            [_GIT, "-C", str(self._git_dir), *args],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout

    def check(self) -> GitTree:
        try:
            self._git("cat-file", "-e", f"{self._commit}^{{commit}}")
        except (OSError, subprocess.CalledProcessError) as exc:
            raise CommitNotFoundError(
                f"commit {self._commit} is not in the git repository {self._git_dir}: push it there first"
            ) from exc
        return self

    def listing(self, folder: str) -> Listing | None:
        if folder not in self._folders:
            spec = f"{self._commit}:{folder}" if folder else f"{self._commit}^{{tree}}"
            try:
                entries = self._git("ls-tree", "-z", spec)
            except subprocess.CalledProcessError:
                self._folders[folder] = None  # not a folder of this commit
                return None
            files, folders = set(), set()
            for entry in filter(None, entries.split(b"\0")):
                meta, _, name = entry.partition(b"\t")
                mode, kind, _ = meta.split(b" ", 2)
                if kind == b"blob" and mode in {b"100644", b"100755"}:  # regular files, as CodeCommit's "files"
                    files.add(name.decode())
                elif kind == b"tree":
                    folders.add(name.decode())
            self._folders[folder] = Listing(frozenset(files), frozenset(folders))
        return self._folders[folder]

    def read(self, path: str) -> bytes:
        try:
            return self._git("cat-file", "blob", f"{self._commit}:{path}")
        except subprocess.CalledProcessError as exc:
            raise CommitNotFoundError(f"{path} is not a file of commit {self._commit} in {self._git_dir}") from exc


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

    def source_tree(self, repository: str, commit: str) -> GitTree:  # noqa: ARG002
        """The commit's files in the working repository's objects."""
        _check_commit_id(commit)
        return GitTree(self._path, commit).check()

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


class LocalCodeCommit:
    """Locally, CodeCommit repository X is the git repository ``mlops git-hook install`` made for X.

    A push that reached the runtime through the hook names a commit that repository holds; a push
    event written by hand (``mlops trigger events/codecommit_push.json``) names a repository the hook
    never made, and then there is no tree (None): the run keeps the release step's sourcedir and its
    lineage says so (``source_commit`` None). In AWS there is no such case: CodeCommit holds every commit.
    """

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir

    def source_tree(self, repository: str, commit: str, *, required: bool = True) -> GitTree | None:
        """The commit in the hook's repository; None for a repository the hook never made.

        A data arrival's or drift run's commit is the working repository's HEAD, which need not have
        been pushed to the hook's repository: not ``required``, such a commit answers None (the run
        uses the published configuration and the release's job code, and its lineage says so).
        """
        pointer = local_remote_pointer(self._data_dir, repository)
        if not pointer.is_file():
            return None
        git = LocalGitRepository(Path(pointer.read_text(encoding="utf-8").strip()))
        try:
            return git.source_tree(repository, commit)
        except CommitNotFoundError:
            if required:
                raise
            return None
