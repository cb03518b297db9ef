"""Validate a tabular CSV dataset against the pipeline configuration ("Validate Data" stage).

Pure: standard library only, no I/O. The whole file is checked in one streaming pass and every
problem found becomes one :class:`ValidationIssue` whose message says what is wrong, where, and
what to do about it; bad data never raises. :func:`raise_for_report` turns a failed report into
one :class:`DataValidationError` listing every issue, so the Step Functions cause shows them all.

Memory stays bounded on large files: rows are decoded and parsed as a stream, each column keeps
counts for at most :data:`MAX_TRACKED_DISTINCT` distinct values (later new values are folded into
running totals, so counts, sums and extremes stay exact), and duplicate detection keeps one hash
per row rather than the row.

Check names (``ValidationIssue.check``): encoding, empty, header, delimiter, duplicate_header,
missing_column, target_missing, csv_syntax, ragged_rows, field_length, min_rows, type,
missing_values, all_missing, constant_column, range, target_not_binary, positive_label_absent,
class_balance, leakage, duplicate_rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final, Protocol

from governed_mlops.config import PipelineConfig, ValueRange
from governed_mlops.errors import DataValidationError
from governed_mlops.models import ObjectDigest, ValidationIssue, ValidationReport

__all__ = [
    "DATASET_STATISTICS_KEY",
    "MAX_TRACKED_DISTINCT",
    "MISSING_TOKENS",
    "is_missing",
    "missing_limit",
    "raise_for_report",
    "validate_dataset",
]

#: Exactly the strings pandas' ``read_csv`` reads as NaN by default, so what this stage counts as
#: missing is what the training job will see as missing. Matching is case-sensitive on purpose:
#: ``none`` is a real category of the German credit data, while ``None`` is pandas' missing marker.
MISSING_TOKENS: Final = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)

#: Per column, counts are kept for this many distinct values; beyond it, values are aggregated.
MAX_TRACKED_DISTINCT: Final = 10_000

#: Key of the dataset-level entry of ``ValidationReport.statistics`` (row counts, extra columns).
DATASET_STATISTICS_KEY: Final = "__dataset__"

_EXAMPLES: Final = 3  # examples quoted per issue: enough to find the problem, short enough to read
_TOP_VALUES: Final = 5
_SHOWN_VALUE_CHARS: Final = 40  # a 100 kB field must not be echoed into a Step Functions cause
_OTHER_DELIMITERS: Final = (";", "\t", "|")
_DELIMITER_NAMES: Final = {";": "';' (semicolon)", "\t": "a tab", "|": "'|' (pipe)"}
_BINARY: Final = 2


def is_missing(value: str) -> bool:
    """Whether a raw CSV field counts as a missing value (blank or one of :data:`MISSING_TOKENS`)."""
    return value in MISSING_TOKENS or value.strip() == ""


def missing_limit(config: PipelineConfig, column: str) -> float:
    """Share of rows allowed to miss feature ``column``: 0 for policy ``reject``, else the column's
    ``dataset.missing.<column>.max_fraction`` or, when it sets none, ``validation.max_missing_fraction``."""
    entry = config.dataset.missing.get(column)
    if entry is not None and entry.policy == "reject":
        return 0.0
    if entry is not None and entry.max_fraction is not None:
        return entry.max_fraction
    return config.validation.max_missing_fraction


def validate_dataset(data: bytes, config: PipelineConfig, digest: ObjectDigest) -> ValidationReport:
    """Check a CSV dataset against ``config`` and report every problem found.

    Never raises for bad data: the report has ``passed=False`` and one issue per problem, each
    naming its check, its column where there is one, what is wrong and what to do. Columns not
    named in the configuration are allowed; they appear in the statistics only.

    Args:
        data: the raw object bytes (UTF-8, optionally with a BOM; comma-separated; header row).
        config: the pipeline configuration naming target, features, ranges and limits.
        digest: identity of the object, copied into the report for lineage.

    Missing values are judged per feature by its missing-value policy (``dataset.missing``): at most
    :func:`missing_limit` of the rows may miss it, and a ``reject`` feature may miss none (the issue
    names the column, the policy and the first rows).

    Returns:
        The validation report, with per-column statistics (type, missing and distinct counts,
        min/max/mean for numeric columns, top values otherwise; for features also the missing-value
        policy applied and its limit) and a dataset-level entry under :data:`DATASET_STATISTICS_KEY`.

    """
    scan = _Scan(config)
    scan.run(data)
    issues = scan.issues
    return ValidationReport(
        dataset=digest,
        config_sha256=config.sha256(),
        passed=not issues,
        rows=scan.rows,
        columns=scan.header,
        issues=issues,
        statistics=scan.statistics,
    )


def raise_for_report(report: ValidationReport) -> None:
    """Raise :class:`DataValidationError` listing every issue when the report did not pass.

    The message reads ``"N problems: [check] column: message; [check] message; ..."``.
    """
    if report.passed and not report.issues:
        return
    parts = [
        f"[{issue.check}] {issue.column}: {issue.message}" if issue.column else f"[{issue.check}] {issue.message}"
        for issue in report.issues
    ]
    count = len(report.issues)
    summary = "; ".join(parts) if parts else "the report is marked as failed but lists no issue"
    raise DataValidationError(f"{count} problem{'' if count == 1 else 's'}: {summary}")


# --------------------------------------------------------------------------------------------------
# Streaming scan


class _UnreadableError(Exception):
    """A problem after which the rest of the file cannot be interpreted (raised and caught internally)."""


class _Scan:
    """One pass over the file; collects issues and statistics."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.issues: list[ValidationIssue] = []
        self.header: list[str] = []
        self.rows = 0
        self.statistics: dict[str, dict[str, float | int | str | None]] = {}

    def issue(self, check: str, message: str, column: str | None = None) -> None:
        self.issues.append(ValidationIssue(check=check, column=column, message=message))

    def run(self, data: bytes) -> None:
        # Decoding streams through TextIOWrapper: a 100 MB object is never copied into one str.
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="", errors="strict")
        records = _Records(csv.reader(text))
        try:
            self._check_bytes(data)
            self.header = self._read_header(records)
            profiles = _Profiles(self.header, self.config)
            self._check_header(profiles)
            self._scan_rows(records, profiles)
        except _UnreadableError:
            return
        except UnicodeDecodeError:
            self._report_encoding(data)
            return
        except csv.Error as exc:
            self._report_csv_error(exc, records.line)
            return
        profiles.blank_lines = records.blank_lines
        self._check_rows(profiles)
        for profile in profiles.all:
            profile.finish()
            self._check_column(profile)
        self._check_target(profiles)
        self._check_leakage(profiles)
        self._check_duplicates(profiles)
        self._fill_statistics(profiles)

    # -- bytes and header ------------------------------------------------------------------------

    def _check_bytes(self, data: bytes) -> None:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self.issue(
                "encoding",
                "The file is UTF-16 encoded (it starts with a UTF-16 byte order mark). "
                "Export or re-save it as UTF-8 (a UTF-8 BOM is fine).",
            )
            raise _UnreadableError
        nul = data.find(b"\x00")
        if nul >= 0:
            # NUL bytes mean a binary file or UTF-16 without a BOM; the csv module would accept them.
            line = data.count(b"\n", 0, nul) + 1
            self.issue(
                "encoding",
                f"The file contains NUL bytes (first at byte {nul}, line {line}), so it is "
                "binary or UTF-16, not UTF-8 text. "
                "Export or re-save it as UTF-8 CSV.",
            )
            raise _UnreadableError

    def _report_encoding(self, data: bytes) -> None:
        offset = _first_undecodable_byte(data)
        line = data.count(b"\n", 0, offset) + 1
        self.issue(
            "encoding",
            f"The file is not valid UTF-8: byte 0x{data[offset]:02X} at offset {offset} "
            f"(line {line}) cannot be decoded. Export or re-save it as UTF-8 (a UTF-8 BOM is fine); "
            "files from spreadsheet programs are often Latin-1 or Windows-1252.",
        )

    def _read_header(self, records: _Records) -> list[str]:
        header = records.next_nonblank()
        if header is None:
            self.issue(
                "empty",
                "The file is empty: it has no header row and no data. Upload the CSV export "
                "with a header row followed by the data rows.",
            )
            raise _UnreadableError
        return header

    def _check_header(self, profiles: _Profiles) -> None:
        header, dataset = self.header, self.config.dataset
        expected = [*dataset.features, dataset.target]
        if not set(expected) & set(header):
            delimiter = _guess_delimiter(header, expected)
            if delimiter is not None:
                self.issue(
                    "delimiter",
                    f"The header row is not comma-separated: it contains "
                    f"{_DELIMITER_NAMES[delimiter]} between the column names. Export the file with "
                    "commas (',') as the field delimiter.",
                )
            else:
                self.issue(
                    "header",
                    f"The first row ({_shorten(','.join(header))}) contains none of the "
                    f"expected column names (such as {dataset.target!r}); the header row seems to be "
                    "missing or wrong. Make the first row name the columns.",
                )
            raise _UnreadableError
        for position, name in enumerate(header, start=1):
            if name.strip() == "":
                self.issue(
                    "header",
                    f"Column {position} has an empty name in the header row. Name it or "
                    "remove it (a trailing comma at the end of every line causes this).",
                )
        seen: dict[str, list[int]] = {}
        for position, name in enumerate(header, start=1):
            seen.setdefault(name, []).append(position)
        for name, positions in seen.items():
            if len(positions) > 1 and name.strip():
                self.issue(
                    "duplicate_header",
                    f"The column name appears {len(positions)} times in the header "
                    f"(positions {_join(str(p) for p in positions)}). Rename or remove the duplicates "
                    "so that every column name is unique.",
                    name,
                )
        for name in expected:
            if name in seen:
                continue
            hint = _near_match(name, header)
            hint_text = f" The header has {hint!r}, which differs only in case or surrounding spaces." if hint else ""
            if name == dataset.target:
                self.issue(
                    "target_missing",
                    f"The target column is not in the header, so there is nothing to "
                    f"learn.{hint_text} Add the column, or set dataset.target to the right column name.",
                    name,
                )
            else:
                kind = "numeric" if name in dataset.numeric_features else "categorical"
                self.issue(
                    "missing_column",
                    f"The {kind} feature is not in the header.{hint_text} Add the "
                    f"column, or remove it from dataset.{kind}_features in the configuration.",
                    name,
                )
        profiles.unexpected = [name for name in seen if name not in set(expected) and name.strip()]

    # -- rows ------------------------------------------------------------------------------------

    def _scan_rows(self, records: _Records, profiles: _Profiles) -> None:
        width = len(self.header)
        slots = profiles.slots
        counters = [profile.counts for profile in slots]
        target = profiles.target
        leak = _LeakageTracker(profiles.features, target.position) if target is not None else None
        duplicates = _DuplicateTracker([p.position for p in profiles.modelled])
        limit = self.config.validation.max_field_length
        for line, row in records:
            self.rows += 1
            if len(row) != width:
                profiles.ragged.add(line, len(row), flagged=any("\n" in value for value in row))
                continue
            if max(map(len, row)) > limit:
                profiles.record_long_fields(row, line, limit)
            # Hot loop (rows x columns): a value seen before costs two dict operations and no call.
            for value, counts, profile in zip(row, counters, slots, strict=True):
                if value in counts:
                    counts[value] += 1
                else:
                    profile.observe_new(value, line)
            if leak is not None:
                leak.observe(row)
            duplicates.observe(row, line)
        profiles.leakage = leak
        profiles.duplicates = duplicates

    def _report_csv_error(self, exc: csv.Error, line: int) -> None:
        if "field larger than field limit" in str(exc):
            self.issue(
                "field_length",
                f"A field ending at or after line {line} is longer than {csv.field_size_limit()} "
                "characters, the CSV reader's limit; this is usually an unclosed quote that swallows "
                "the rest of the file. Fix the quoting at the source.",
            )
        else:
            self.issue("csv_syntax", f"The CSV cannot be parsed at line {line}: {exc}. Fix the file's quoting.")

    def _check_rows(self, profiles: _Profiles) -> None:
        limits = self.config.validation
        ragged = profiles.ragged
        if ragged.count:
            width = len(self.header)
            shown = _join(f"line {line} has {fields}" for line, fields in ragged.examples)
            unclosed = ragged.flagged
            hint = " A field spans several lines, which suggests an unclosed quote." if unclosed else ""
            self.issue(
                "ragged_rows",
                f"{ragged.count} row(s) have a different number of fields from "
                f"the header ({width}): {shown}.{hint} Quote fields that contain commas and remove stray "
                "delimiters; these rows were left out of all other checks.",
            )
        if self.rows == 0:
            self.issue("empty", "The file has a header row but no data rows. Upload the full export.")
        elif self.rows < limits.min_rows:
            self.issue(
                "min_rows",
                f"The file has only {self.rows} data row(s); at least {limits.min_rows} are "
                "required (validation.min_rows). Upload the full dataset.",
            )
        for profile in profiles.slots:
            long_fields = profile.long_fields
            if long_fields.count:
                self.issue(
                    "field_length",
                    f"{long_fields.count} value(s) are longer than "
                    f"{limits.max_field_length} characters (validation.max_field_length); the longest has "
                    f"{long_fields.largest}, first at line {long_fields.examples[0][0]}. This usually means a broken "
                    "export (e.g. an unclosed quote); fix the source or raise the limit.",
                    profile.name,
                )

    # -- columns ---------------------------------------------------------------------------------

    def _check_column(self, profile: _ColumnProfile) -> None:
        if profile.role == "unexpected" or profile.rows == 0:
            return
        name, tally = profile.name, profile.tally
        if tally.missing == profile.rows:
            self.issue(
                "all_missing",
                "Every value is missing (empty, NA, NaN, null, ...). Check the export, or "
                "remove the column from the configuration.",
                name,
            )
            return
        if profile.role == "target":
            if tally.missing:
                self.issue(
                    "missing_values",
                    f"The target is missing in {tally.missing} row(s), first at "
                    f"{_examples(tally.missing_examples)}. Every row needs a label: fill them in or "
                    "drop those rows.",
                    name,
                )
            return
        self._check_missing(profile)
        if profile.distinct == 1 and not profile.capped:
            self.issue(
                "constant_column",
                f"Every row has the same value {_shorten(profile.only_value())}, so the "
                "column carries no information. Check the export, or remove the column from the "
                "configuration.",
                name,
            )
        if profile.numeric:
            if tally.non_numeric:
                self.issue(
                    "type",
                    f"The column is declared numeric but {tally.non_numeric} value(s) are not "
                    f"finite numbers: {_examples(tally.non_numeric_examples)}. Correct these values, or "
                    "declare the column in dataset.categorical_features.",
                    name,
                )
            if tally.out_of_range:
                self.issue(
                    "range",
                    f"{tally.out_of_range} value(s) are outside the configured range "
                    f"{_range_text(profile.value_range)}: {_examples(tally.out_of_range_examples)}. "
                    f"Correct the values, or widen dataset.ranges.{name} if they are genuine.",
                    name,
                )

    def _check_missing(self, feature: _ColumnProfile) -> None:
        name, tally, dataset = feature.name, feature.tally, self.config.dataset
        if not tally.missing:
            return
        policy = dataset.missing_policy(name)
        if policy == "reject":
            self.issue(
                "missing_values",
                f"Column {name!r} has missing-value policy reject (dataset.missing.{name}.policy), but "
                f"{tally.missing} row(s) miss a value, first at {_examples(tally.missing_examples)}. Every "
                "row needs a value: fill them in at the source, drop those rows, or choose another policy.",
                name,
            )
            return
        limit = missing_limit(self.config, name)
        fraction = tally.missing / feature.rows
        if fraction > limit:
            entry = dataset.missing.get(name)
            source = (
                f"dataset.missing.{name}.max_fraction"
                if entry is not None and entry.max_fraction is not None
                else "validation.max_missing_fraction"
            )
            self.issue(
                "missing_values",
                f"{fraction:.1%} of the values ({tally.missing} of {feature.rows}) are "
                f"missing, above the limit of {limit:.1%} ({source}) for missing-value policy {policy}; "
                f"first at {_examples(tally.missing_examples)}. Fill the gaps at the source, raise the "
                "limit knowingly, or remove the column from the configuration.",
                name,
            )

    def _check_target(self, profiles: _Profiles) -> None:
        target, dataset = profiles.target, self.config.dataset
        if target is None or target.rows in (0, target.tally.missing):
            return
        labels = target.label_counts()
        shown = _join(f"{_shorten(label)} ({count})" for label, count in labels[:10])
        if len(labels) != _BINARY or target.capped:
            self.issue(
                "target_not_binary",
                f"The target must have exactly 2 distinct values but has "
                f"{len(labels)}{' or more' if target.capped else ''}: {shown}. Fix or remove the rows "
                "with other values, or choose a binary target.",
                target.name,
            )
        # Past the distinct cap the label may sit among the untracked values; not binary is reported already.
        if dataset.positive_label not in dict(labels) and not target.capped:
            self.issue(
                "positive_label_absent",
                f"The positive label {dataset.positive_label!r} "
                f"(dataset.positive_label) never occurs in the target, whose values are {shown}. Fix the "
                "labels in the data or dataset.positive_label in the configuration.",
                target.name,
            )
        if len(labels) == _BINARY and not target.capped:
            labelled = sum(count for _, count in labels)
            minority, minority_count = labels[-1]
            fraction = minority_count / labelled
            if fraction < self.config.validation.min_minority_fraction:
                self.issue(
                    "class_balance",
                    f"The minority class {_shorten(minority)} is only {fraction:.1%} of "
                    f"the labelled rows ({minority_count} of {labelled}), below the limit of "
                    f"{self.config.validation.min_minority_fraction:.1%} (validation.min_minority_fraction). "
                    "Add examples of the minority class or lower the limit knowingly.",
                    target.name,
                )

    def _check_leakage(self, profiles: _Profiles) -> None:
        if profiles.leakage is None or profiles.target is None:
            return
        target_name = profiles.target.name
        for name, mapping in profiles.leakage.bijections():
            if all(value == label for value, label in mapping):
                relation = f"is identical to the target {target_name!r}"
            else:
                pairs = _join(f"{_shorten(value)} = {_shorten(label)}" for value, label in mapping)
                relation = f"is a one-to-one relabelling of the target {target_name!r} ({pairs})"
            self.issue(
                "leakage",
                f"The feature {relation}, so it gives the answer away and the model would be useless in "
                "production. Remove it from the features (or from the data).",
                name,
            )

    def _check_duplicates(self, profiles: _Profiles) -> None:
        duplicates = profiles.duplicates
        parsed = self.rows - profiles.ragged.count
        if duplicates is None or parsed == 0 or not duplicates.count:
            return
        limit = self.config.validation.max_duplicate_fraction
        fraction = duplicates.count / parsed
        if fraction > limit:
            self.issue(
                "duplicate_rows",
                f"{duplicates.count} row(s) ({fraction:.1%}) repeat an earlier row in "
                f"every feature and the target (first at line {duplicates.first_line}), above the limit "
                f"of {limit:.1%} (validation.max_duplicate_fraction). Remove the duplicated records; "
                "they inflate hold-out metrics when copies land in both train and test.",
            )

    # -- statistics ------------------------------------------------------------------------------

    def _fill_statistics(self, profiles: _Profiles) -> None:
        for profile in profiles.all:
            self.statistics[profile.name] = profile.statistics()
        for feature in profiles.features:
            self.statistics[feature.name] |= {
                "missing_policy": self.config.dataset.missing_policy(feature.name),
                "max_missing_fraction": missing_limit(self.config, feature.name),
            }
        duplicates = profiles.duplicates
        self.statistics[DATASET_STATISTICS_KEY] = {
            "rows": self.rows,
            "columns": len(self.header),
            "ragged_rows": profiles.ragged.count,
            "blank_lines": profiles.blank_lines,
            "duplicate_rows": duplicates.count if duplicates is not None else 0,
            "unexpected_columns": json.dumps(profiles.unexpected),
        }


# --------------------------------------------------------------------------------------------------
# Building blocks


class _CsvReader(Protocol):
    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


class _Records:
    """Non-blank CSV records with the line each starts on; counts the blank lines skipped.

    The start line (not the reader's ``line_num``, which is where a record ends) is what a person
    opening the file needs when a quoted field spans lines.
    """

    def __init__(self, reader: _CsvReader) -> None:
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
class _Occurrences:
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
        if len(self.examples) < _EXAMPLES:
            self.examples.append((line, size))


@dataclass
class _Tally:
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
            _keep_example(self.missing_examples, line, value)
            return
        if not self.numeric:
            return
        number = parse_number(value)
        if number is None:
            self.non_numeric += count
            _keep_example(self.non_numeric_examples, line, value)
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
            _keep_example(self.out_of_range_examples, line, value)


class _ColumnProfile:
    """Counts of one column's values (up to :data:`MAX_TRACKED_DISTINCT` distinct ones) and their tally."""

    def __init__(self, name: str, position: int, role: str, numeric: bool, value_range: ValueRange | None) -> None:
        self.name = name
        self.position = position
        self.role = role  # "feature", "target", "unexpected" or "duplicate" (a later copy of a name)
        self.numeric = numeric
        self.value_range = value_range
        self.counts: dict[str, int] = {}
        self.first_line: dict[str, int] = {}
        self.tally = _Tally(numeric=numeric, value_range=value_range)
        self.overflow_rows = 0
        self.long_fields = _Occurrences()
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
            del examples[_EXAMPLES:]
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


class _Profiles:
    """The column profiles of one file, by role, plus row-level findings."""

    def __init__(self, header: Sequence[str], config: PipelineConfig) -> None:
        dataset = config.dataset
        self.all: list[_ColumnProfile] = []
        self.features: list[_ColumnProfile] = []
        self.target: _ColumnProfile | None = None
        #: One profile per header position; later copies of a duplicated name get a profile that is
        #: counted but never reported (the duplicate is an issue of its own), keeping the scan loop simple.
        self.slots: list[_ColumnProfile] = []
        seen: set[str] = set()
        for position, name in enumerate(header):
            if name in seen:
                self.slots.append(_ColumnProfile(name, position, "duplicate", False, None))
                continue
            seen.add(name)
            if name in dataset.numeric_features:
                profile = _ColumnProfile(name, position, "feature", True, dataset.ranges.get(name))
                self.features.append(profile)
            elif name in dataset.categorical_features:
                profile = _ColumnProfile(name, position, "feature", False, None)
                self.features.append(profile)
            elif name == dataset.target:
                profile = _ColumnProfile(name, position, "target", False, None)
                self.target = profile
            else:
                profile = _ColumnProfile(name, position, "unexpected", False, None)
            self.all.append(profile)
            self.slots.append(profile)
        self.modelled = [*self.features, *([self.target] if self.target else [])]
        self.unexpected: list[str] = []
        self.ragged = _Occurrences()
        self.blank_lines = 0
        self.leakage: _LeakageTracker | None = None
        self.duplicates: _DuplicateTracker | None = None

    def record_long_fields(self, row: Sequence[str], line: int, limit: int) -> None:
        for value, profile in zip(row, self.slots, strict=True):
            if len(value) > limit:
                profile.long_fields.add(line, len(value))


class _LeakageTracker:
    """Finds features whose non-missing values map one-to-one onto the two target labels.

    A feature stays a candidate while each of its values has co-occurred with a single label and it
    has at most two values; most features drop out within a few rows, so the cost is small.
    """

    _SKIP: Final = "\x00missing"  # marks a missing feature value (NUL cannot occur: such files are refused)

    def __init__(self, features: Sequence[_ColumnProfile], target_position: int) -> None:
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
                elif sum(1 for v in mapping.values() if v != self._SKIP) >= _BINARY:
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
            if len(pairs) == _BINARY and pairs[0][1] != pairs[1][1]:
                found.append((name, pairs))
        return found


class _DuplicateTracker:
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


# --------------------------------------------------------------------------------------------------
# Helpers


def _first_undecodable_byte(data: bytes) -> int:
    """Offset of the first byte that is not valid UTF-8 (decoded in 1 MiB steps to bound memory)."""
    view, position, step = memoryview(data), 0, 1 << 20
    while position < len(data):
        end = min(position + step, len(data))
        try:
            _, consumed = codecs.utf_8_decode(view[position:end], "strict", end == len(data))
        except UnicodeDecodeError as exc:
            return position + exc.start
        position += consumed
    return max(len(data) - 1, 0)


def _guess_delimiter(header: Sequence[str], expected: Sequence[str]) -> str | None:
    """Return the other delimiter the header row seems to use, if any."""
    line = ",".join(header)
    for delimiter in _OTHER_DELIMITERS:
        if delimiter in line and (len(header) == 1 or set(line.split(delimiter)) & set(expected)):
            return delimiter
    return None


def _near_match(name: str, header: Iterable[str]) -> str | None:
    wanted = name.strip().casefold()
    return next((column for column in header if column.strip().casefold() == wanted), None)


def parse_number(value: str) -> float | None:
    """Parse a finite float, or return None; refuses forms Python accepts but data exports should not use."""
    if "_" in value:  # float("1_000") is 1000.0 in Python but a typo in data
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _keep_example(examples: list[tuple[int, str]], line: int, value: str) -> None:
    examples.append((line, value))
    if len(examples) > 8 * _EXAMPLES:  # keep the earliest lines without holding every bad value
        examples.sort()
        del examples[_EXAMPLES:]


def _examples(examples: Sequence[tuple[int, str]]) -> str:
    return _join(f"line {line}: {_shorten(value)}" for line, value in examples)


def _shorten(value: str) -> str:
    shown = repr(value)
    if len(shown) <= _SHOWN_VALUE_CHARS:
        return shown
    return f"{shown[: _SHOWN_VALUE_CHARS - 1]}…' ({len(value)} characters)"


def _join(parts: Iterable[str]) -> str:
    return ", ".join(parts)


def _range_text(bounds: ValueRange | None) -> str:
    if bounds is None:
        return "(none)"
    low = "-inf" if bounds.min is None else f"{bounds.min:g}"
    high = "inf" if bounds.max is None else f"{bounds.max:g}"
    return f"[{low}, {high}]"
