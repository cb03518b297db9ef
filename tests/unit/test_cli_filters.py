"""``--since`` parsing and the execution filters of ``mlops executions`` (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import pytest

from governed_mlops_local.cli.executions import filter_executions, parse_since

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90s", datetime(2026, 5, 1, 11, 58, 30, tzinfo=UTC)),
        ("2h", datetime(2026, 5, 1, 10, 0, tzinfo=UTC)),
        ("1.5d", datetime(2026, 4, 30, 0, 0, tzinfo=UTC)),
        ("1w", datetime(2026, 4, 24, 12, 0, tzinfo=UTC)),
        ("2026-04-30", datetime(2026, 4, 30, tzinfo=UTC)),
        ("2026-04-30T08:15:00+02:00", datetime(2026, 4, 30, 6, 15, tzinfo=UTC)),
    ],
    ids=["seconds", "hours", "fractional-days", "weeks", "naive-date-is-utc", "offset-time"],
)
def test_parse_since_reads_durations_and_iso_times(value: str, expected: datetime):
    assert parse_since(value, now=NOW) == expected


@pytest.mark.parametrize("value", ["yesterday", "2h30m", "-2h", ""], ids=["word", "compound", "negative", "empty"])
def test_parse_since_refuses_anything_else(value: str):
    with pytest.raises(click.BadParameter):
        parse_since(value, now=NOW)


ROWS = [
    {"name": "c", "status": "FAILED", "startDate": "2026-05-01T11:00:00+00:00"},
    {"name": "b", "status": "SUCCEEDED", "startDate": "2026-05-01T09:00:00"},
    {"name": "a", "status": "INTERRUPTED", "startDate": datetime(2026, 4, 1, tzinfo=UTC)},
]


def test_filter_executions_by_status_is_case_insensitive_and_repeatable():
    kept = filter_executions(ROWS, ("failed", "INTERRUPTED"))
    assert [r["name"] for r in kept] == ["c", "a"]


def test_filter_executions_since_compares_naive_start_dates_as_utc():
    kept = filter_executions(ROWS, since=datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    assert [r["name"] for r in kept] == ["c", "b"]


def test_filter_executions_without_filters_keeps_every_row():
    assert filter_executions(ROWS) == ROWS
