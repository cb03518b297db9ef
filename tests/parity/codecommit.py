"""CodeCommit for the parity tier, answered from a real git repository.

moto stores CodeCommit repositories but no commits: it has no ``GetBranch``, ``GetDifferences``,
``GetFolder``, ``GetFile`` or ``GetCommit``. :class:`GitCodeCommit` keeps one git repository per
CodeCommit repository; the harness makes real commits in it (:meth:`GitCodeCommit.commit`) and a
push moves the branch (:meth:`GitCodeCommit.push`, which returns the EventBridge event CodeCommit
sends). While :meth:`GitCodeCommit.installed` is active, moto's CodeCommit answers those five
operations from the git objects in the shapes and with the error codes of the CodeCommit API
reference (botocore's service model), so a function reads a pushed commit exactly as it would in AWS.

Only what the pipeline calls is modelled: no paging (``GetDifferences`` answers in one page), no
``MaxResults``, no merge or pull-request operations.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

GIT = shutil.which("git") or "git"
_FILE_MODES = {"100644": "NORMAL", "100755": "EXECUTABLE", "120000": "SYMLINK"}
_AUTHOR = {"name": "Alice Engineer", "email": "alice@example.com"}


class CodeCommitError(Exception):
    """A CodeCommit error code and message (turned into moto's JSON error response when installed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _path(value: str | None) -> str:
    """CodeCommit's paths: ``/``, ``""`` and ``/a/b/`` name the root and ``a/b``."""
    return (value or "").strip("/")


class GitCodeCommit:
    """CodeCommit repositories held as git repositories under ``root`` (one per repository name)."""

    def __init__(self, root: Path, *, region: str, account: str, credentials: Mapping[str, str]) -> None:
        self._root = root
        self._region, self._account = region, account
        self._client = boto3.client("codecommit", region_name=region, **credentials)
        self.heads: dict[tuple[str, str], str] = {}

    # -- the harness's side: repositories, commits, pushes ------------------------------------------
    def git_dir(self, repository: str) -> Path:
        return self._root / f"{repository}.git"

    def git(self, repository: str, *args: str, data: bytes | None = None) -> bytes:
        completed = subprocess.run(
            [GIT, "-C", str(self.git_dir(repository)), *args],
            input=data,
            capture_output=True,
            check=False,
            timeout=60,
            env={
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": "/dev/null",
                "HOME": str(self._root),
                "GIT_AUTHOR_NAME": _AUTHOR["name"],
                "GIT_AUTHOR_EMAIL": _AUTHOR["email"],
                "GIT_COMMITTER_NAME": _AUTHOR["name"],
                "GIT_COMMITTER_EMAIL": _AUTHOR["email"],
                "PATH": "/usr/bin:/bin",
            },
        )
        if completed.returncode != 0:
            raise subprocess.CalledProcessError(
                completed.returncode, ["git", *args], completed.stdout, completed.stderr
            )
        return completed.stdout

    def create(self, repository: str) -> None:
        """The CodeCommit repository (moto) and its git repository (empty, no commit yet).

        moto's backends are process-wide: a world deployed earlier in this worker (same repository
        parameter, another stack) may have left the repository behind; this world starts from its own.
        """
        try:
            self._client.create_repository(repositoryName=repository)
        except self._client.exceptions.RepositoryNameExistsException:
            self._client.delete_repository(repositoryName=repository)
            self._client.create_repository(repositoryName=repository)
        self.git_dir(repository).mkdir(parents=True)
        self.git(repository, "init", "--quiet", "--bare")

    def commit(self, repository: str, files: Mapping[str, bytes], message: str, *, parent: str | None = None) -> str:
        """A commit whose tree is ``parent``'s with ``files`` written (path -> bytes); returns its id."""
        index = self.git_dir(repository) / f"index-{uuid.uuid4().hex}"
        try:
            # Never checked out: a throwaway index builds the tree.
            read = ["read-tree", parent] if parent else ["read-tree", "--empty"]
            self._with_index(repository, index, *read)
            for path, data in sorted(files.items()):
                blob = self.git(repository, "hash-object", "-w", "--stdin", data=data).decode().strip()
                self._with_index(repository, index, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
            tree = self._with_index(repository, index, "write-tree").decode().strip()
        finally:
            index.unlink(missing_ok=True)
        args = ["commit-tree", tree, "-m", message, *(["-p", parent] if parent else [])]
        return self.git(repository, *args).decode().strip()

    def _with_index(self, repository: str, index: Path, *args: str) -> bytes:
        completed = subprocess.run(
            [GIT, "-C", str(self.git_dir(repository)), *args],
            capture_output=True,
            check=True,
            timeout=60,
            env={
                "GIT_INDEX_FILE": str(index),
                "GIT_CONFIG_NOSYSTEM": "1",
                "HOME": str(self._root),
                "PATH": "/usr/bin:/bin",
            },
        )
        return completed.stdout

    def read(self, repository: str, commit: str, path: str) -> bytes:
        return self.git(repository, "cat-file", "blob", f"{commit}:{path}")

    def set_branch(self, repository: str, branch: str, commit: str) -> None:
        """Point ``branch`` at ``commit``; a repository's first branch becomes its default (as CodeCommit's)."""
        if not any(name == repository for name, _ in self.heads):
            self.git(repository, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
        self.git(repository, "update-ref", f"refs/heads/{branch}", commit)
        self.heads[(repository, branch)] = commit

    def push(self, repository: str, branch: str, commit: str, *, pusher_arn: str) -> dict[str, Any]:
        """Move ``branch`` to ``commit`` and return CodeCommit's ``Repository State Change`` event."""
        old = self.heads.get((repository, branch))
        self.set_branch(repository, branch, commit)
        metadata = self._client.get_repository(repositoryName=repository)["repositoryMetadata"]
        detail = {
            "callerUserArn": pusher_arn,
            "commitId": commit,
            "event": "referenceUpdated" if old else "referenceCreated",
            "oldCommitId": old or "",
            "referenceFullName": f"refs/heads/{branch}",
            "referenceName": branch,
            "referenceType": "branch",
            "repositoryId": metadata["repositoryId"],
            "repositoryName": repository,
        }
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CodeCommit Repository State Change",
            "source": "aws.codecommit",
            "account": self._account,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [f"arn:aws:codecommit:{self._region}:{self._account}:{repository}"],
            "detail": detail,
        }

    # -- the API's side: what CodeCommit answers --------------------------------------------------
    def _repository(self, name: str | None, known: Any) -> str:
        if not name:
            raise CodeCommitError("RepositoryNameRequiredException", "A repository name is required.")
        if name not in known or not self.git_dir(name).is_dir():
            raise CodeCommitError("RepositoryDoesNotExistException", f"{name} does not exist")
        return name

    def resolve(self, repository: str, specifier: str | None) -> str:
        """A full commit id for a commit id, branch name or (None) the default branch's head."""
        spec = specifier or self.git(repository, "symbolic-ref", "--short", "HEAD").decode().strip()
        try:
            return self.git(repository, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}").decode().strip()
        except subprocess.CalledProcessError:
            raise CodeCommitError(
                "CommitDoesNotExistException", f"Could not find commit for specifier {spec} in {repository}"
            ) from None

    def _tree_entries(self, repository: str, commit: str, folder: str) -> list[tuple[str, str, str, str]]:
        """``(mode, type, object id, name)`` of the entries directly in ``folder`` at ``commit``."""
        spec = f"{commit}:{folder}" if folder else f"{commit}^{{tree}}"
        try:
            kind = self.git(repository, "cat-file", "-t", spec).decode().strip()
        except subprocess.CalledProcessError:
            kind = ""
        if kind != "tree":
            raise CodeCommitError("FolderDoesNotExistException", f"Folder {folder or '/'} does not exist")
        entries = []
        for raw in filter(None, self.git(repository, "ls-tree", "-z", spec).split(b"\0")):
            meta, _, name = raw.partition(b"\t")
            mode, kind, object_id = meta.decode().split(" ")
            entries.append((mode, kind, object_id, name.decode()))
        return entries

    def get_folder(self, repository: str, specifier: str | None, folder_path: str | None) -> dict[str, Any]:
        if folder_path is None:
            raise CodeCommitError("PathRequiredException", "folderPath is required")
        commit, folder = self.resolve(repository, specifier), _path(folder_path)
        entries = self._tree_entries(repository, commit, folder)
        tree_id = self.git(repository, "rev-parse", f"{commit}:{folder}" if folder else f"{commit}^{{tree}}")
        answer: dict[str, Any] = {
            "commitId": commit,
            "folderPath": folder_path,
            "treeId": tree_id.decode().strip(),
            "subFolders": [],
            "files": [],
            "symbolicLinks": [],
            "subModules": [],
        }
        for mode, kind, object_id, name in entries:
            absolute = f"{folder}/{name}" if folder else name
            if kind == "tree":
                answer["subFolders"].append({"treeId": object_id, "absolutePath": absolute, "relativePath": name})
            elif kind == "commit":
                answer["subModules"].append({"commitId": object_id, "absolutePath": absolute, "relativePath": name})
            else:
                entry = {
                    "blobId": object_id,
                    "absolutePath": absolute,
                    "relativePath": name,
                    "fileMode": _FILE_MODES[mode],
                }
                answer["symbolicLinks" if mode == "120000" else "files"].append(entry)
        return answer

    def get_file(self, repository: str, specifier: str | None, file_path: str | None) -> dict[str, Any]:
        if not file_path:
            raise CodeCommitError("PathRequiredException", "filePath is required")
        commit, path = self.resolve(repository, specifier), _path(file_path)
        folder, _, name = path.rpartition("/")
        try:
            entries = self._tree_entries(repository, commit, folder)
        except CodeCommitError:
            entries = []
        found = next((e for e in entries if e[3] == name and e[1] == "blob"), None)
        if found is None:
            raise CodeCommitError("FileDoesNotExistException", f"{file_path} does not exist at commit {commit}")
        mode, _, blob, _ = found
        content = self.git(repository, "cat-file", "blob", blob)
        return {
            "commitId": commit,
            "blobId": blob,
            "filePath": path,
            "fileMode": _FILE_MODES[mode],
            "fileSize": len(content),
            "fileContent": base64.b64encode(content).decode(),
        }

    def get_commit(self, repository: str, commit_id: str | None) -> dict[str, Any]:
        if not commit_id:
            raise CodeCommitError("CommitIdRequiredException", "commitId is required")
        try:
            raw = self.git(repository, "cat-file", "commit", commit_id).decode()
        except subprocess.CalledProcessError:
            raise CodeCommitError("CommitIdDoesNotExistException", f"{commit_id} does not exist") from None
        header, _, message = raw.partition("\n\n")
        fields = [line.split(" ", 1) for line in header.splitlines()]
        return {
            "commit": {
                "commitId": commit_id,
                "treeId": next(v for k, v in fields if k == "tree"),
                "parents": [v for k, v in fields if k == "parent"],
                "message": message,
            }
        }

    def get_differences(self, repository: str, before: str | None, after: str) -> dict[str, Any]:
        new = self.resolve(repository, after)
        old = self.resolve(repository, before) if before else None
        if old is None:
            names = self.git(repository, "ls-tree", "-r", "-z", "--name-only", new).split(b"\0")
            return {"differences": [{"afterBlob": {"path": n.decode()}, "changeType": "A"} for n in names if n]}
        listing = self.git(repository, "diff", "--no-renames", "--name-status", "-z", old, new).split(b"\0")
        differences = []
        for status, path in zip(listing[0::2], listing[1::2], strict=False):
            change, name = status.decode(), path.decode()
            blob = {"path": name}
            if change == "A":
                differences.append({"afterBlob": blob, "changeType": "A"})
            elif change == "D":
                differences.append({"beforeBlob": blob, "changeType": "D"})
            else:
                differences.append({"beforeBlob": blob, "afterBlob": blob, "changeType": "M"})
        return {"differences": differences}

    def get_branch(self, repository: str, branch: str) -> dict[str, Any]:
        try:
            commit = self.git(repository, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").decode().strip()
        except subprocess.CalledProcessError:
            raise CodeCommitError("BranchDoesNotExistException", f"{branch} does not exist in {repository}") from None
        return {"branch": {"branchName": branch, "commitId": commit}}

    @contextlib.contextmanager
    def installed(self) -> Iterator[GitCodeCommit]:
        """moto's CodeCommit answers GetBranch, GetDifferences, GetFolder, GetFile and GetCommit from git."""
        from moto.codecommit.responses import CodeCommitResponse
        from moto.core.exceptions import JsonRESTError

        def operation(handler: Any) -> Any:
            def answer(response: CodeCommitResponse) -> str:
                try:
                    repository = self._repository(
                        response._get_param("repositoryName"), response.codecommit_backend.repositories
                    )
                    return json.dumps(handler(repository, response._get_param))
                except CodeCommitError as exc:
                    raise JsonRESTError(exc.code, str(exc)) from exc

            return answer

        handlers = {
            "get_branch": operation(lambda r, p: self.get_branch(r, p("branchName"))),
            "get_differences": operation(
                lambda r, p: self.get_differences(r, p("beforeCommitSpecifier"), p("afterCommitSpecifier"))
            ),
            "get_folder": operation(lambda r, p: self.get_folder(r, p("commitSpecifier"), p("folderPath"))),
            "get_file": operation(lambda r, p: self.get_file(r, p("commitSpecifier"), p("filePath"))),
            "get_commit": operation(lambda r, p: self.get_commit(r, p("commitId"))),
        }
        for name, handler in handlers.items():
            assert not hasattr(CodeCommitResponse, name), f"moto now has CodeCommit {name}: drop the emulation"
            setattr(CodeCommitResponse, name, handler)
        try:
            yield self
        finally:
            for name in handlers:
                delattr(CodeCommitResponse, name)
