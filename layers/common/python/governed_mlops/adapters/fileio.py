"""Crash-safe file primitives shared by the local adapters."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never a torn one.

    ``durable`` also flushes the file to disk before it replaces the old one (~10 ms on these disks), so
    it survives a power cut; a copy that can be made again from another file need not pay for that.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: Idle connections kept open across transactions, all databases together (each holds three file handles).
_MAX_IDLE_CONNECTIONS = 16


@dataclass(frozen=True)
class _Idle:
    connection: sqlite3.Connection
    file_id: tuple[int, int]  # (st_dev, st_ino) of the database file it was opened on


class _ConnectionPool:
    """Idle SQLite connections by database path, reused by later transactions in this process.

    Opening a connection and closing it again costs ~1 ms for a read and ~20 ms for a write on
    these disks: closing the last connection to a WAL database checkpoints it (with fsyncs) and
    deletes the WAL, so every short-lived transaction paid for a checkpoint. A kept connection
    makes a transaction cost what its statements cost (~0.2 ms for an insert). Durability is what
    ``synchronous=NORMAL`` in WAL mode gives either way: a committed transaction survives a crash
    of the process; the WAL is checkpointed every 1,000 pages and when the process exits.

    A connection is reused only for the same database file (device and inode: a directory deleted
    and made again holds a new file, while the kept connection pins the old inode so its number
    cannot be reused), only in the process that opened it (a forked child starts with an empty
    pool, and leaves its parent's connections alone), by one transaction at a time, and with the
    defaults a new connection has (row and text factories reset).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: OrderedDict[str, list[_Idle]] = OrderedDict()
        self._pid = os.getpid()
        #: A forked child's copies of its parent's connections: never used, never closed.
        self._inherited: list[_Idle] = []

    def take(self, path: Path) -> tuple[sqlite3.Connection, tuple[int, int]]:
        file_id = _file_id(path)
        stale: list[_Idle] = []
        with self._lock:
            if self._pid != os.getpid():
                self._inherited.extend(idle for kept in self._idle.values() for idle in kept)
                self._idle.clear()
                self._pid = os.getpid()
            found: _Idle | None = None
            kept = self._idle.get(str(path), [])
            while kept and found is None:
                idle = kept.pop()
                if idle.file_id == file_id:
                    found = idle
                else:
                    stale.append(idle)
            if not kept:
                self._idle.pop(str(path), None)  # no empty lists: eviction takes the oldest list's first
        for idle in stale:
            idle.connection.close()
        if found is not None:
            # What an earlier transaction set on it (executions.py sets a row factory) does not carry over.
            found.connection.row_factory = None
            found.connection.text_factory = str
            return found.connection, file_id
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn, _file_id(path)

    def give_back(self, path: Path, conn: sqlite3.Connection, file_id: tuple[int, int]) -> None:
        evicted = [_Idle(conn, file_id)]  # closed unless kept
        with self._lock:
            if self._pid == os.getpid():
                self._idle.setdefault(str(path), []).append(evicted.pop())
                self._idle.move_to_end(str(path))
                while sum(len(kept) for kept in self._idle.values()) > _MAX_IDLE_CONNECTIONS:
                    oldest = next(iter(self._idle))
                    if self._idle[oldest]:
                        evicted.append(self._idle[oldest].pop(0))
                    if not self._idle[oldest]:
                        del self._idle[oldest]
        for idle in evicted:
            idle.connection.close()


def _file_id(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (stat.st_dev, stat.st_ino)


_pool = _ConnectionPool()


@contextmanager
def sqlite_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A SQLite connection in WAL mode; the ``with`` block is one transaction.

    The connection comes from a per-process pool (see :class:`_ConnectionPool`): a transaction does
    not pay for opening the database and checkpointing it on close.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn, file_id = _pool.take(path)
    ended = False  # the transaction was committed or rolled back: the connection is clean again
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            ended = True
            raise
        conn.execute("COMMIT")
        ended = True
    finally:
        if ended:
            _pool.give_back(path, conn, file_id)
        else:
            conn.close()  # BEGIN, COMMIT or ROLLBACK failed: never handed out again
