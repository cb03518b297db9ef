"""The jobs' ``sourcedir.tar.gz`` from any tree of files: a checkout, a git commit, a CodeCommit commit.

The job scripts (``jobs/*.py``) import ``governed_mlops_ml``, which imports a few pure modules of the
Lambda layer (``governed_mlops.errors``, ``governed_mlops.domain.bias_names``...). The archive holds
the job scripts at its top level and the transitive closure of their first-party imports (every
``import`` statement, including those inside functions), and nothing else: no tests, no other layer
module, no ``__pycache__``. Its bytes depend only on the names and contents of those files (sorted
entries, fixed mode, owner and mtime, gzip mtime 0), so its sha256 names the code version: the
same commit packed anywhere gives the same digest, and a one-line change under ``jobs/`` a new one.

Pure: reading the tree is the caller's (:class:`SourceTree`), so the Lambda that reads a pushed
commit through the CodeCommit API, the local git hook path and ``mlops reproduce`` share this code.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import posixpath
import tarfile
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from governed_mlops.errors import ConfigError

#: The nodes that hold statements in their lists (a statement's body, an except clause, a match case).
_STATEMENT_HOLDERS = (ast.stmt, ast.excepthandler, ast.match_case)

__all__ = [
    "JOBS_DIR",
    "JOB_PACKAGE_ROOTS",
    "Listing",
    "PackedSource",
    "SourceTree",
    "content_addressed_key",
    "deterministic_tar_gz",
    "job_code_files",
    "pack_sourcedir",
]

#: Where the job scripts live in the repository.
JOBS_DIR = "jobs"
#: First-party packages a job may import, and the repository folder each package lives in.
JOB_PACKAGE_ROOTS: dict[str, str] = {
    "governed_mlops": "layers/common/python",
    "governed_mlops_ml": "src",
}
#: Key prefix of packed sources in the artifacts bucket: ``source/<sha256>/sourcedir.tar.gz``.
SOURCE_PREFIX = "source/"
#: The file name the jobs expect in their code channel (script mode's submit directory, ``tar -xzf``).
SOURCEDIR_NAME = "sourcedir.tar.gz"


@dataclass(frozen=True)
class Listing:
    """What one folder holds directly: regular files and subfolders (names, not paths)."""

    files: frozenset[str]
    folders: frozenset[str]


class SourceTree(Protocol):
    """One version of the repository's files (paths are ``/``-separated, relative to its root)."""

    def listing(self, folder: str) -> Listing | None:
        """What ``folder`` (``""`` is the root) holds directly; None if there is no such folder."""
        ...

    def read(self, path: str) -> bytes:
        """The bytes of the file at ``path`` (which :meth:`listing` listed)."""
        ...


class _CachedTree:
    """Each folder listed and each file read once (a CodeCommit tree costs one API call per listing or read)."""

    def __init__(self, tree: SourceTree) -> None:
        self._tree = tree
        self._listings: dict[str, Listing | None] = {}
        self._files: dict[str, bytes] = {}

    def listing(self, folder: str) -> Listing | None:
        if folder not in self._listings:
            self._listings[folder] = self._tree.listing(folder)
        return self._listings[folder]

    def read(self, path: str) -> bytes:
        if path not in self._files:
            self._files[path] = self._tree.read(path)
        return self._files[path]


@dataclass(frozen=True)
class PackedSource:
    """A packed sourcedir: the archive, its sha256 and which repository files went into it."""

    data: bytes
    sha256: str
    #: Name inside the archive -> path in the repository.
    files: Mapping[str, str]


def content_addressed_key(sha256: str) -> str:
    """``source/<sha256>/sourcedir.tar.gz``: the key names the bytes, so one key never holds two versions of code.

    The file keeps the name the jobs expect: a SageMaker channel copies an S3 prefix's objects under
    their own names, and the training job's submit directory and the processing jobs' ``tar -xzf``
    both name ``sourcedir.tar.gz``.
    """
    return f"{SOURCE_PREFIX}{sha256}/{SOURCEDIR_NAME}"


def deterministic_tar_gz(files: Mapping[str, bytes]) -> bytes:
    """A gzipped tar of ``name -> bytes`` whose bytes depend only on the names and contents.

    Entries are sorted by name; every entry has mode 0644, owner 0:0 with empty owner names and
    mtime 0, and the gzip header's mtime is 0.
    """
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def _module_file(tree: SourceTree, module: str) -> str | None:
    """The repository path of a first-party ``module`` (package ``__init__`` or plain module), if it exists.

    Only folders that exist are listed: the parent's listing says whether ``name/`` or ``name.py`` is there.
    """
    parts = module.split(".")
    base = posixpath.join(JOB_PACKAGE_ROOTS[parts[0]], *parts)
    folder, name = posixpath.split(base)
    parent = tree.listing(folder)
    if parent is None:
        return None
    if name in parent.folders:
        package = tree.listing(base)
        if package is not None and "__init__.py" in package.files:
            return f"{base}/__init__.py"
    if f"{name}.py" in parent.files:
        return f"{base}.py"
    return None


def _statements(tree: ast.Module) -> Iterator[ast.AST]:
    """The module's statements at any depth, in ``ast.walk``'s order, without walking its expressions.

    Imports are statements; a statement's children that can hold statements are lists of statements,
    exception handlers or match cases. Walking every expression node as well took most of the time a
    runtime spends packing the job code at each start.
    """
    todo: deque[ast.AST] = deque([tree])
    while todo:
        node = todo.popleft()
        yield node
        for _, value in ast.iter_fields(node):
            if isinstance(value, list):
                todo.extend(child for child in value if isinstance(child, _STATEMENT_HOLDERS))


def _imports(source: bytes, path: str, module: str) -> list[tuple[str, bool]]:
    """Every module ``source`` may import, with whether it must exist.

    ``from package import name`` yields ``package`` (required) and ``package.name`` (only a module
    when such a file exists: usually ``name`` is a class or function).
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise ConfigError(f"{path}: not valid Python ({exc.msg}, line {exc.lineno}); fix it and commit again") from exc
    package = module if path.endswith("/__init__.py") else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, True) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.append((base, True))
            found += [(f"{base}.{alias.name}", False) for alias in node.names if alias.name != "*"]
    return found


def job_code_files(tree: SourceTree) -> dict[str, str]:
    """Name inside the sourcedir -> repository path: the job scripts and the first-party modules they import.

    Raises:
        ConfigError: the tree has no ``jobs/*.py``, or a shipped module imports a first-party module
            that does not exist (or is not valid Python).
    """
    jobs = tree.listing(JOBS_DIR)
    scripts = sorted(name for name in (jobs.files if jobs else ()) if name.endswith(".py"))
    if not scripts:
        raise ConfigError(
            f"no job scripts ({JOBS_DIR}/*.py) in this version of the repository: the pipeline trains from them, "
            "so the commit must contain the project's jobs/ folder"
        )
    files: dict[str, str] = {}
    pending: list[tuple[str, str]] = []
    for script in scripts:
        path = f"{JOBS_DIR}/{script}"
        files[script] = path
        pending.append((path, script.removesuffix(".py")))
    resolved: dict[str, str] = {}
    while pending:
        path, module = pending.pop()
        for name, required in _imports(tree.read(path), path, module):
            if name.partition(".")[0] not in JOB_PACKAGE_ROOTS:
                continue
            parts = name.split(".")
            root = JOB_PACKAGE_ROOTS[parts[0]]
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first: they ship too.
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                found = resolved.get(prefix) or _module_file(tree, prefix)
                if found is None:
                    if required or depth < len(parts):
                        raise ConfigError(
                            f"{path}: imports {name}, but {prefix} is not a module under {root}/ "
                            "in this version of the repository"
                        )
                    break
                if prefix not in resolved:
                    resolved[prefix] = found
                    files[found.removeprefix(root + "/")] = found
                    pending.append((found, prefix))
                if depth < len(parts) and not found.endswith("/__init__.py"):
                    # A plain module has no submodules: what follows is a name defined in it.
                    if required:
                        raise ConfigError(f"{path}: imports {name}, but {prefix} is a module, not a package")
                    break
    return dict(sorted(files.items()))


def pack_sourcedir(tree: SourceTree) -> PackedSource:
    """The deterministic ``sourcedir.tar.gz`` of ``tree`` (:func:`job_code_files`), with its sha256."""
    tree = _CachedTree(tree)
    files = job_code_files(tree)
    data = deterministic_tar_gz({name: tree.read(path) for name, path in files.items()})
    return PackedSource(data=data, sha256=hashlib.sha256(data).hexdigest(), files=files)
