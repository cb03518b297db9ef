"""Parsed state machine programs kept on disk between runtimes, as Python keeps ``.pyc`` files.

moto's interpreter parses a definition with ANTLR before it can run it: ~0.6 s of CPU for the
pipeline's 81 KB definition, in every fresh runtime, for a definition that changes only with a commit.
The parsed program is a plain object tree (the in-memory cache deep-copies it for every execution);
pickled it is ~120 KB and loads in ~10 ms. :class:`ProgramStore` keeps one file per definition and
moto version under the checkout's ``.cache/`` (git-ignored), next to the code it was parsed from.

A file is used only if this OS user owns it and nobody else may write to it (loading a pickle runs
code, so the file is trusted exactly as the checkout's own files are); anything unreadable, foreign
or corrupt is ignored and the definition is parsed as if no file were there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
from pathlib import Path
from typing import Any

from moto import __version__ as moto_version

from governed_mlops.adapters.fileio import atomic_write

#: Under the project directory (``.cache/`` is git-ignored).
STORE_DIR = Path(".cache") / "asl-programs"
_SUFFIX = ".pickle"


class ProgramStore:
    """Parsed programs by definition text (and moto version), as files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_project(cls, project_dir: Path) -> ProgramStore:
        return cls(project_dir / STORE_DIR)

    def path(self, definition: str) -> Path:
        key = hashlib.sha256(f"moto {moto_version}\n{definition}".encode()).hexdigest()
        return self.directory / f"{key}{_SUFFIX}"

    def load(self, definition: str) -> Any | None:
        """The program parsed from ``definition`` by this moto version, or None if no usable file has it."""
        path = self.path(definition)
        try:
            with path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                    return None  # not this user's own file: never unpickled
                return pickle.load(handle)  # noqa: S301 - this user's own file, written by save() below
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a torn or stale file costs a parse, nothing else
            return None

    def save(self, definition: str, program: Any) -> None:
        """Keep ``program`` for the next runtime; a store that cannot be written is skipped."""
        with contextlib.suppress(OSError, pickle.PicklingError, RecursionError, TypeError, AttributeError):
            data = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path(definition), data)
