"""Build the SageMaker script-mode ``sourcedir.tar.gz`` from a checkout or from a git commit.

Both go through the layer's packer (:mod:`governed_mlops.domain.sourcedir`): the job scripts and
exactly the first-party code they import, archived deterministically. The Prepare Data function
packs a pushed commit with the same code (reading it through CodeCommit's API), so a checkout of
that commit, the commit in a local git repository and the commit in CodeCommit give one sha256.
"""

from __future__ import annotations

from pathlib import Path

from governed_mlops.adapters.code_repository import LocalGitRepository
from governed_mlops.domain.sourcedir import JOB_PACKAGE_ROOTS, Listing, PackedSource, pack_sourcedir
from governed_mlops.domain.sourcedir import job_code_files as files_of

__all__ = ["JOB_PACKAGE_ROOTS", "DirectoryTree", "build_sourcedir", "job_code_files", "pack_commit"]


class DirectoryTree:
    """A checkout's files as a :class:`~governed_mlops.domain.sourcedir.SourceTree` (working tree, not git)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def listing(self, folder: str) -> Listing | None:
        path = self._root / folder if folder else self._root
        if not path.is_dir():
            return None
        entries = [p for p in path.iterdir() if not p.is_symlink()]
        return Listing(
            files=frozenset(p.name for p in entries if p.is_file()),
            folders=frozenset(p.name for p in entries if p.is_dir()),
        )

    def read(self, path: str) -> bytes:
        return (self._root / path).read_bytes()


def job_code_files(project_dir: Path) -> dict[str, Path]:
    """Path inside the sourcedir -> source file: the job scripts and the first-party modules they import."""
    return {name: project_dir / path for name, path in files_of(DirectoryTree(project_dir)).items()}


def build_sourcedir(project_dir: Path) -> bytes:
    """The checkout's job code as ``sourcedir.tar.gz`` (what ``mlops package-jobs`` releases)."""
    return pack_sourcedir(DirectoryTree(project_dir)).data


def pack_commit(git_dir: Path, commit: str) -> PackedSource:
    """The job code of ``commit`` in the git repository at ``git_dir`` (bare or not), from its objects.

    Raises:
        CommitNotFoundError: the repository has no such commit (or ``commit`` is not a full commit id).
        ConfigError: the commit has no job scripts, or they import a module it does not contain.
    """
    return pack_sourcedir(LocalGitRepository(git_dir).source_tree("local", commit))
