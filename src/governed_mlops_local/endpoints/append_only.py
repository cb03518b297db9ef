"""Append-only JSON lines files (invocation measurements, data capture)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["Appender"]


class Appender:
    """Appends whole lines to files with one ``write`` on an ``O_APPEND`` descriptor (safe across threads and
    processes: readers never see two records interleaved)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: dict[Path, int] = {}

    def append(self, path: Path, line: bytes) -> None:
        with self._lock:
            fd = self._fds.get(path)
            if fd is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._fds[path] = fd
            os.write(fd, line)

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
