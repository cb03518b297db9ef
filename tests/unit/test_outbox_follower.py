"""OutboxFollower: each published message once, in order, without reading old ones again."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from governed_mlops.adapters.approvals import LocalOutbox, OutboxFollower


def test_each_message_is_returned_once_in_publish_order(tmp_path: Path) -> None:
    outbox, follower = LocalOutbox(tmp_path), OutboxFollower(tmp_path)
    first = outbox.publish("first", "m1", {})
    second = outbox.publish("second", "m2", {})
    assert [m["message_id"] for m in follower.new_messages()] == [first, second]
    third = outbox.publish("third", "m3", {"link": "http://127.0.0.1/approvals/x"})
    assert [m["message_id"] for m in follower.new_messages()] == [third]
    assert follower.new_messages() == []


def test_a_message_already_returned_is_never_read_again(tmp_path: Path) -> None:
    # Given: a message the follower has returned, whose file is then no longer JSON
    outbox, follower = LocalOutbox(tmp_path), OutboxFollower(tmp_path)
    outbox.publish("old", "m1", {})
    follower.new_messages()
    for path in (tmp_path / "outbox").glob("*.json"):
        path.write_text("not json any more")
    # When: a new message arrives
    new = outbox.publish("new", "m2", {})
    # Then: only the new file is read (reading the old one again would fail to parse)
    assert [m["message_id"] for m in follower.new_messages()] == [new]


def test_no_outbox_yet_means_no_messages(tmp_path: Path) -> None:
    assert OutboxFollower(tmp_path).new_messages() == []


def _set_mtime(directory: Path, mtime_ns: int) -> None:
    os.utime(directory, ns=(mtime_ns, mtime_ns))


def test_an_outbox_unchanged_since_it_settled_is_not_listed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a follower that has read the outbox, last changed ten seconds ago
    outbox, follower = LocalOutbox(tmp_path), OutboxFollower(tmp_path)
    outbox.publish("old", "m1", {})
    _set_mtime(tmp_path / "outbox", time.time_ns() - 10 * 10**9)
    assert len(follower.new_messages()) == 1

    # When: it looks again and nothing changed, the directory is not listed (stat only)
    def no_listing(self: Path) -> Iterator[Path]:
        raise AssertionError(f"listed {self}")

    monkeypatch.setattr(Path, "iterdir", no_listing)
    assert follower.new_messages() == []
    monkeypatch.undo()

    # Then: a message published later is found, its change moved the directory's modification time
    new = outbox.publish("new", "m2", {})
    assert [m["message_id"] for m in follower.new_messages()] == [new]


def test_a_message_added_within_the_same_clock_tick_as_the_last_change_is_still_found(tmp_path: Path) -> None:
    # Given: a follower that has just read a recently changed outbox
    outbox, follower = LocalOutbox(tmp_path), OutboxFollower(tmp_path)
    outbox.publish("first", "m1", {})
    listed_at = (tmp_path / "outbox").stat().st_mtime_ns
    follower.new_messages()
    # When: another message arrives and the directory's modification time stays what it was (a coarse clock)
    second = outbox.publish("second", "m2", {})
    _set_mtime(tmp_path / "outbox", listed_at)
    # Then: the change is recent, so the follower lists the directory anyway
    assert [m["message_id"] for m in follower.new_messages()] == [second]
