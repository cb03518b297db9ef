"""sqlite_connection keeps connections open between transactions, and never hands one to the wrong file."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from governed_mlops.adapters import fileio
from governed_mlops.adapters.fileio import sqlite_connection


def _create(db: Path) -> None:
    with sqlite_connection(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")


def _values(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:  # an independent reader: what is really in the file
        return [row[0] for row in conn.execute("SELECT v FROM t ORDER BY rowid")]


def test_a_later_transaction_reuses_the_connection_of_an_earlier_one(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    _create(db)
    with sqlite_connection(db) as first:
        first.execute("INSERT INTO t VALUES ('a')")
    with sqlite_connection(db) as second:
        second.execute("INSERT INTO t VALUES ('b')")
    assert second is first
    assert _values(db) == ["a", "b"]


def test_a_transaction_that_raised_is_rolled_back_and_its_connection_stays_usable(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    _create(db)
    used: list[sqlite3.Connection] = []

    def failing_transaction() -> None:
        with sqlite_connection(db) as conn:
            used.append(conn)
            conn.execute("INSERT INTO t VALUES ('rolled back')")
            raise LookupError("the caller's own error")

    with pytest.raises(LookupError):
        failing_transaction()
    with sqlite_connection(db) as again:
        again.execute("INSERT INTO t VALUES ('kept')")
    assert again is used[0]
    assert _values(db) == ["kept"]


def test_a_database_deleted_and_made_again_gets_a_new_connection(tmp_path: Path) -> None:
    # Given: a kept connection to a data directory's database, then the directory is removed and made anew
    data = tmp_path / "data"
    db = data / "index.db"
    _create(db)
    with sqlite_connection(db) as old:
        old.execute("INSERT INTO t VALUES ('old')")
    shutil.rmtree(data)
    # When: the same path is used again
    _create(db)
    with sqlite_connection(db) as new:
        new.execute("INSERT INTO t VALUES ('new')")
    # Then: the write is in the new file, not in the unlinked one the old connection still holds
    assert new is not old
    assert _values(db) == ["new"]


def test_a_forked_child_never_uses_its_parent_s_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "index.db"
    _create(db)
    with sqlite_connection(db) as parents:
        parents.execute("INSERT INTO t VALUES ('parent')")
    # The pool sees another process id, as in a child after os.fork().
    monkeypatch.setattr(os, "getpid", lambda: -2)
    with sqlite_connection(db) as childs:
        childs.execute("INSERT INTO t VALUES ('child')")
    assert childs is not parents
    assert _values(db) == ["parent", "child"]


def test_idle_connections_are_bounded_across_databases(tmp_path: Path) -> None:
    limit = fileio._MAX_IDLE_CONNECTIONS
    first = tmp_path / "db-0.db"
    _create(first)
    with sqlite_connection(first) as oldest:
        pass
    for number in range(1, limit + 1):
        _create(tmp_path / f"db-{number}.db")
    # The least recently used database's connection was closed to stay within the bound.
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        oldest.execute("SELECT 1")


def test_a_row_factory_one_transaction_set_does_not_reach_the_next(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    _create(db)
    with sqlite_connection(db) as first:
        first.execute("INSERT INTO t VALUES ('a')")
        first.row_factory = sqlite3.Row
    with sqlite_connection(db) as second:
        row = second.execute("SELECT v FROM t").fetchone()
    assert second is first
    assert row == ("a",)
    assert type(row) is tuple


def test_many_databases_given_back_while_another_s_only_connection_is_in_use(tmp_path: Path) -> None:
    # Given: the only kept connection of one database is taken by a transaction still open
    busy = tmp_path / "busy.db"
    _create(busy)
    with sqlite_connection(busy) as conn:
        conn.execute("INSERT INTO t VALUES ('still open')")
        # When: more connections than the bound are given back meanwhile (other threads, other databases)
        for number in range(fileio._MAX_IDLE_CONNECTIONS + 2):
            _create(tmp_path / f"other-{number}.db")
    # Then: nothing failed (the busy database's emptied list was not taken for the oldest idle one)
    assert _values(busy) == ["still open"]
