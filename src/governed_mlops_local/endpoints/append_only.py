"""Append-only JSON lines files (invocation measurements, data capture), written off the request path.

A write to a file can wait on the disk: an ``fsync`` elsewhere on the file system (a state write of
an update, another process) holds the journal, and an append waits for it, up to hundreds of ms on a
busy machine. A request thread only queues its line; one writer thread per :class:`Appender` does the
writes. Whoever reads the files in this process calls :meth:`Appender.flush` first, so it sees every
line queued before.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path

__all__ = ["Appender"]

logger = logging.getLogger(__name__)

_Line = tuple[Path, bytes]


def _append_once(path: Path, line: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class Appender:
    """Appends whole lines to files, each with one ``write`` on an ``O_APPEND`` descriptor (safe across threads
    and processes: readers never see two records interleaved), from a background thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Line | None] = queue.SimpleQueue()
        self._fds: dict[Path, int] = {}
        self._done = threading.Condition()
        self._queued = 0
        self._written = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def append(self, path: Path, line: bytes) -> None:
        """Queue ``line`` (one or more whole lines) for ``path``; returns at once."""
        with self._done:
            if self._closed:  # a request answered while the hosting closes: written now, as it was queued
                _append_once(path, line)
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="append-only-writer", daemon=True)
                self._thread.start()
            self._queued += 1
            self._queue.put((path, line))

    def flush(self) -> None:
        """Wait until every line queued so far is written."""
        with self._done:
            target = self._queued
            self._done.wait_for(lambda: self._written >= target)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while True:  # what queued meanwhile goes out with it: one write per file
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                self._write(batch)
            except Exception:  # the writer must outlive any one batch, or flush() would wait forever
                logger.exception("could not append %d line(s)", len(batch))
            with self._done:
                self._written += len(batch)
                self._done.notify_all()

    def _write(self, batch: list[_Line]) -> None:
        by_path: dict[Path, list[bytes]] = {}
        for path, line in batch:
            by_path.setdefault(path, []).append(line)
        for path, lines in by_path.items():
            try:
                fd = self._fds.get(path)
                if fd is None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    self._fds[path] = fd
                os.write(fd, b"".join(lines))
            except OSError:
                # The request was answered long ago: say what was lost rather than stop writing the others.
                logger.exception("could not append %d line(s) to %s", len(lines), path)

    def close(self) -> None:
        """Write what is queued, stop the writer and close the files."""
        with self._done:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
