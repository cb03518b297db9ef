"""The building blocks of the streaming scan: records with their lines, per-column counts and tallies, and the
row-level trackers (ragged rows, leakage, duplicates). Memory stays bounded however large the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final, Protocol

from governed_mlops.config import PipelineConfig, ValueRange
from governed_mlops.domain.validation.messages import EXAMPLES
from governed_mlops.domain.validation.values import is_missing, parse_number

__all__ = [
    "BINARY",
    "MAX_TRACKED_DISTINCT",
    "ColumnProfile",
    "DuplicateTracker",
    "LeakageTracker",
    "Occurrences",
    "Profiles",
    "Records",
    "Tally",
]

#: Per column, counts are kept for this many distinct values; beyond it, values are aggregated.
MAX_TRACKED_DISTINCT: Final = 10_000
_TOP_VALUES: Final = 5  # most frequent values a categorical column's statistics list
BINARY: Final = 2  # a binary target has exactly two labels


class CsvReader(Protocol):
    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


class Records:
    """Non-blank CSV records with the line each starts on; counts the blank lines skipped.

    The start line (not the reader's ``line_num``, which is where a record ends) is what a person
    opening the file needs when a quoted field spans lines.
    """

    def __init__(self, reader: CsvReader) -> None:
        self._reader = reader
        self.blank_lines = 0

    @property
    def line(self) -> int:
        return self._reader.line_num

    def next_nonblank(self) -> list[str] | None:
        for row in self._reader:
            if row:
                return row
            self.blank_lines += 1
        return None

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        start = self._reader.line_num + 1
        for row in self._reader:
            if row:
                yield start, row
            else:
                # Blank lines (a trailing newline, an empty line between blocks) carry no record.
                self.blank_lines += 1
            start = self._reader.line_num + 1


@dataclass
class Occurrences:
    """How often a row-level problem occurred, with its first few (line, size) examples.

    Bounded on purpose: a wrongly delimited 100 MB file makes every row ragged.
    """

    count: int = 0
    largest: int = 0
    flagged: bool = False
    examples: list[tuple[int, int]] = field(default_factory=list)

    def add(self, line: int, size: int, *, flagged: bool = False) -> None:
        self.count += 1
        self.largest = max(self.largest, size)
        self.flagged = self.flagged or flagged
        if len(self.examples) < EXAMPLES:
            self.examples.append((line, size))


@dataclass
class Tally:
    """Aggregates over a column's values.

    Fed (value, count, first line) so one code path serves both the tracked distinct values and the
    values folded in after the distinct cap.
    """

    numeric: bool
    value_range: ValueRange | None
    missing: int = 0
    missing_examples: list[tuple[int, str]] = field(default_factory=list)
    non_numeric: int = 0
    non_numeric_examples: list[tuple[int, str]] = field(default_factory=list)
    out_of_range: int = 0
    out_of_range_examples: list[tuple[int, str]] = field(default_factory=list)
    numbers: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, value: str, count: int, line: int) -> None:
        if is_missing(value):
            self.missing += count
            keep_example(self.missing_examples, line, value)
            return
        if not self.numeric:
            return
        number = parse_number(value)
        if number is None:
            self.non_numeric += count
            keep_example(self.non_numeric_examples, line, value)
            return
        self.numbers += count
        self.total += number * count
        self.minimum = min(self.minimum, number)
        self.maximum = max(self.maximum, number)
        bounds = self.value_range
        if bounds is not None and (
            (bounds.min is not None and number < bounds.min) or (bounds.max is not None and number > bounds.max)
        ):
            self.out_of_range += count
            keep_example(self.out_of_range_examples, line, value)


class ColumnProfile:
    """Counts of one column's values (up to :data:`MAX_TRACKED_DISTINCT` distinct ones) and their tally."""

    def __init__(self, name: str, position: int, role: str, numeric: bool, value_range: ValueRange | None) -> None:
        self.name = name
        self.position = position
        self.role = role  # "feature", "target", "unexpected" or "duplicate" (a later copy of a name)
        self.numeric = numeric
        self.value_range = value_range
        self.counts: dict[str, int] = {}
        self.first_line: dict[str, int] = {}
        self.tally = Tally(numeric=numeric, value_range=value_range)
        self.overflow_rows = 0
        self.long_fields = Occurrences()
        self.rows = 0
        self.distinct = 0

    @property
    def capped(self) -> bool:
        return self.overflow_rows > 0

    def observe_new(self, value: str, line: int) -> None:
        """Count a value not among the tracked ones (the scan counts tracked values itself, for speed)."""
        if len(self.counts) < MAX_TRACKED_DISTINCT:
            self.counts[value] = 1
            self.first_line[value] = line
        else:
            # Past the cap the value is tallied at once: totals stay exact, memory stays bounded.
            self.overflow_rows += 1
            self.tally.add(value, 1, line)

    def finish(self) -> None:
        for value, count in self.counts.items():
            self.tally.add(value, count, self.first_line[value])
        for examples in (
            self.tally.missing_examples,
            self.tally.non_numeric_examples,
            self.tally.out_of_range_examples,
        ):
            examples.sort()
            del examples[EXAMPLES:]
        self.rows = sum(self.counts.values()) + self.overflow_rows
        self.distinct = sum(1 for value in self.counts if not is_missing(value))

    def label_counts(self) -> list[tuple[str, int]]:
        """Non-missing tracked values, most frequent first (ties by value, for stable messages)."""
        present = [(value, count) for value, count in self.counts.items() if not is_missing(value)]
        return sorted(present, key=lambda item: (-item[1], item[0]))

    def only_value(self) -> str:
        return next(value for value in self.counts if not is_missing(value))

    def statistics(self) -> dict[str, float | int | str | None]:
        tally = self.tally
        stats: dict[str, float | int | str | None] = {
            "role": self.role,
            "type": "numeric" if self.numeric else "categorical",
            "rows": self.rows,
            "missing": tally.missing,
            "missing_fraction": round(tally.missing / self.rows, 6) if self.rows else None,
            "distinct": self.distinct,
            # 1 when the column had more distinct values than are tracked: distinct is then a lower bound.
            "distinct_capped": int(self.capped),
        }
        if self.numeric:
            stats |= {
                "non_numeric": tally.non_numeric,
                "out_of_range": tally.out_of_range,
                "min": tally.minimum if tally.numbers else None,
                "max": tally.maximum if tally.numbers else None,
                "mean": round(tally.total / tally.numbers, 6) if tally.numbers else None,
            }
        else:
            # JSON text because statistics values are scalars; category names may contain ':' or ','.
            stats["top_values"] = json.dumps(dict(self.label_counts()[:_TOP_VALUES]))
        return stats


class Profiles:
    """The column profiles of one file, by role, plus row-level findings."""

    def __init__(self, header: Sequence[str], config: PipelineConfig) -> None:
        dataset = config.dataset
        self.all: list[ColumnProfile] = []
        self.features: list[ColumnProfile] = []
        self.target: ColumnProfile | None = None
        #: One profile per header position; later copies of a duplicated name get a profile that is
        #: counted but never reported (the duplicate is an issue of its own), keeping the scan loop simple.
        self.slots: list[ColumnProfile] = []
        seen: set[str] = set()
        for position, name in enumerate(header):
            if name in seen:
                self.slots.append(ColumnProfile(name, position, "duplicate", False, None))
                continue
            seen.add(name)
            if name in dataset.numeric_features:
                profile = ColumnProfile(name, position, "feature", True, dataset.ranges.get(name))
                self.features.append(profile)
            elif name in dataset.categorical_features:
                profile = ColumnProfile(name, position, "feature", False, None)
                self.features.append(profile)
            elif name == dataset.target:
                profile = ColumnProfile(name, position, "target", False, None)
                self.target = profile
            else:
                profile = ColumnProfile(name, position, "unexpected", False, None)
            self.all.append(profile)
            self.slots.append(profile)
        self.modelled = [*self.features, *([self.target] if self.target else [])]
        self.unexpected: list[str] = []
        self.ragged = Occurrences()
        self.blank_lines = 0
        self.leakage: LeakageTracker | None = None
        self.duplicates: DuplicateTracker | None = None

    def record_long_fields(self, row: Sequence[str], line: int, limit: int) -> None:
        for value, profile in zip(row, self.slots, strict=True):
            if len(value) > limit:
                profile.long_fields.add(line, len(value))


class LeakageTracker:
    """Finds features whose non-missing values map one-to-one onto the two target labels.

    A feature stays a candidate while each of its values has co-occurred with a single label and it
    has at most two values; most features drop out within a few rows, so the cost is small.
    """

    _SKIP: Final = "\x00missing"  # marks a missing feature value (NUL cannot occur: such files are refused)

    def __init__(self, features: Sequence[ColumnProfile], target_position: int) -> None:
        self._candidates: dict[str, tuple[int, dict[str, str]]] = {p.name: (p.position, {}) for p in features}
        self._target_position = target_position
        self._target_missing: dict[str, bool] = {}

    def observe(self, row: Sequence[str]) -> None:
        if not self._candidates:
            return
        label = row[self._target_position]
        missing_label = self._target_missing.get(label)
        if missing_label is None:
            missing_label = self._target_missing[label] = is_missing(label)
        if missing_label:
            return
        dropped: list[str] = []
        for name, (position, mapping) in self._candidates.items():
            value = row[position]
            seen = mapping.get(value)
            if seen is None:
                if is_missing(value):
                    mapping[value] = self._SKIP
                elif sum(1 for v in mapping.values() if v != self._SKIP) >= BINARY:
                    dropped.append(name)
                else:
                    mapping[value] = label
            elif seen not in (label, self._SKIP):
                dropped.append(name)
        for name in dropped:
            del self._candidates[name]

    def bijections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Each leaking feature with its (value, label) pairs, in header order."""
        found = []
        for name, (_, mapping) in self._candidates.items():
            pairs = sorted((value, label) for value, label in mapping.items() if label != self._SKIP)
            if len(pairs) == BINARY and pairs[0][1] != pairs[1][1]:
                found.append((name, pairs))
        return found


class DuplicateTracker:
    """Counts rows equal to an earlier row over the modelled columns (features and target).

    Keeps one 64-bit hash per distinct row, not the row; a hash collision could only over-count, and
    at 2**-64 per pair that is negligible next to the limits used.
    """

    def __init__(self, positions: Sequence[int]) -> None:
        self._key = itemgetter(*positions) if positions else None
        self._seen: set[int] = set()
        self.count = 0
        self.first_line: int | None = None

    def observe(self, row: Sequence[str], line: int) -> None:
        if self._key is None:
            return
        fingerprint = hash(self._key(row))
        if fingerprint in self._seen:
            self.count += 1
            if self.first_line is None:
                self.first_line = line
        else:
            self._seen.add(fingerprint)


def keep_example(examples: list[tuple[int, str]], line: int, value: str) -> None:
    examples.append((line, value))
    if len(examples) > 8 * EXAMPLES:  # keep the earliest lines without holding every bad value
        examples.sort()
        del examples[EXAMPLES:]
