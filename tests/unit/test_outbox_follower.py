"""OutboxFollower: each published message once, in order, without reading old ones again."""

from __future__ import annotations

from pathlib import Path

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
