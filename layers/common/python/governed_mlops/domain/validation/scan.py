"""Validate a tabular CSV dataset against the pipeline configuration: the streaming scan and the report.

One pass over the file decodes and parses rows as a stream, counts each column's values (see
:mod:`.profiles`) and tracks row-level problems; the checks of :mod:`.checks` then turn the counts
into issues. :func:`raise_for_report` turns a failed report into one :class:`DataValidationError`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Final

from governed_mlops.config import PipelineConfig
from governed_mlops.domain.validation.checks import (
    check_column,
    check_duplicates,
    check_leakage,
    check_rows,
    check_target,
)
from governed_mlops.domain.validation.messages import Findings, join, shorten
from governed_mlops.domain.validation.profiles import (
    DuplicateTracker,
    LeakageTracker,
    Profiles,
    Records,
)
from governed_mlops.domain.validation.values import missing_limit
from governed_mlops.errors import DataValidationError
from governed_mlops.models import ObjectDigest, ValidationIssue, ValidationReport

__all__ = ["DATASET_STATISTICS_KEY", "raise_for_report", "validate_dataset"]

#: Key of the dataset-level entry of ``ValidationReport.statistics`` (row counts, extra columns).
DATASET_STATISTICS_KEY: Final = "__dataset__"

_DELIMITERS: Final = (",", ";", "\t", "|")
_DELIMITER_NAMES: Final = {",": "',' (comma)", ";": "';' (semicolon)", "\t": "a tab", "|": "'|' (pipe)"}
_DELIMITER_YAML: Final = {",": "','", ";": "';'", "\t": "'\\t'", "|": "'|'"}


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
        self.findings = Findings()
        self.header: list[str] = []
        self.rows = 0
        self.statistics: dict[str, dict[str, float | int | str | None]] = {}

    @property
    def issues(self) -> list[ValidationIssue]:
        return self.findings.issues

    def run(self, data: bytes) -> None:
        # Decoding streams through TextIOWrapper: a 100 MB object is never copied into one str.
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="", errors="strict")
        dataset = self.config.dataset
        records = Records(csv.reader(text, delimiter=dataset.delimiter, skipinitialspace=dataset.skip_initial_space))
        try:
            self._check_bytes(data)
            self.header = self._read_header(records)
            profiles = Profiles(self.header, self.config)
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
        findings, config = self.findings, self.config
        check_rows(findings, config, self.header, self.rows, profiles)
        for profile in profiles.all:
            profile.finish()
            check_column(findings, config, profile)
        check_target(findings, config, profiles)
        check_leakage(findings, profiles)
        check_duplicates(findings, config, self.rows, profiles)
        self._fill_statistics(profiles)

    # -- bytes and header ------------------------------------------------------------------------

    def _check_bytes(self, data: bytes) -> None:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self.findings.add(
                "encoding",
                "The file is UTF-16 encoded (it starts with a UTF-16 byte order mark). "
                "Export or re-save it as UTF-8 (a UTF-8 BOM is fine).",
            )
            raise _UnreadableError
        nul = data.find(b"\x00")
        if nul >= 0:
            # NUL bytes mean a binary file or UTF-16 without a BOM; the csv module would accept them.
            line = data.count(b"\n", 0, nul) + 1
            self.findings.add(
                "encoding",
                f"The file contains NUL bytes (first at byte {nul}, line {line}), so it is "
                "binary or UTF-16, not UTF-8 text. "
                "Export or re-save it as UTF-8 CSV.",
            )
            raise _UnreadableError

    def _report_encoding(self, data: bytes) -> None:
        offset = _first_undecodable_byte(data)
        line = data.count(b"\n", 0, offset) + 1
        self.findings.add(
            "encoding",
            f"The file is not valid UTF-8: byte 0x{data[offset]:02X} at offset {offset} "
            f"(line {line}) cannot be decoded. Export or re-save it as UTF-8 (a UTF-8 BOM is fine); "
            "files from spreadsheet programs are often Latin-1 or Windows-1252.",
        )

    def _read_header(self, records: Records) -> list[str]:
        header = records.next_nonblank()
        if header is None:
            self.findings.add(
                "empty",
                "The file is empty: it has no header row and no data. Upload the CSV export "
                "with a header row followed by the data rows.",
            )
            raise _UnreadableError
        return header

    def _check_header(self, profiles: Profiles) -> None:
        header, dataset = self.header, self.config.dataset
        expected = [*dataset.features, dataset.target]
        if not set(expected) & set(header):
            delimiter = _guess_delimiter(header, expected, dataset.delimiter)
            if delimiter is not None:
                configured = _DELIMITER_NAMES[dataset.delimiter]
                self.findings.add(
                    "delimiter",
                    f"The header row is not separated by {configured} (dataset.delimiter): it contains "
                    f"{_DELIMITER_NAMES[delimiter]} between the column names. Export the file with "
                    f"{configured} as the field delimiter, or set dataset.delimiter: {_DELIMITER_YAML[delimiter]} "
                    "in the model's configuration.",
                )
            else:
                self.findings.add(
                    "header",
                    f"The first row ({shorten(','.join(header))}) contains none of the "
                    f"expected column names (such as {dataset.target!r}); the header row seems to be "
                    "missing or wrong. Make the first row name the columns.",
                )
            raise _UnreadableError
        for position, name in enumerate(header, start=1):
            if name.strip() == "":
                self.findings.add(
                    "header",
                    f"Column {position} has an empty name in the header row. Name it or "
                    "remove it (a trailing comma at the end of every line causes this).",
                )
        seen: dict[str, list[int]] = {}
        for position, name in enumerate(header, start=1):
            seen.setdefault(name, []).append(position)
        for name, positions in seen.items():
            if len(positions) > 1 and name.strip():
                self.findings.add(
                    "duplicate_header",
                    f"The column name appears {len(positions)} times in the header "
                    f"(positions {join(str(p) for p in positions)}). Rename or remove the duplicates "
                    "so that every column name is unique.",
                    name,
                )
        for name in expected:
            if name in seen:
                continue
            hint = _near_match(name, header)
            hint_text = f" The header has {hint!r}, which differs only in case or surrounding spaces." if hint else ""
            if name == dataset.target:
                self.findings.add(
                    "target_missing",
                    f"The target column is not in the header, so there is nothing to "
                    f"learn.{hint_text} Add the column, or set dataset.target to the right column name.",
                    name,
                )
            else:
                kind = "numeric" if name in dataset.numeric_features else "categorical"
                self.findings.add(
                    "missing_column",
                    f"The {kind} feature is not in the header.{hint_text} Add the "
                    f"column, or remove it from dataset.{kind}_features in the configuration.",
                    name,
                )
        profiles.unexpected = [name for name in seen if name not in set(expected) and name.strip()]

    # -- rows ------------------------------------------------------------------------------------

    def _scan_rows(self, records: Records, profiles: Profiles) -> None:
        width = len(self.header)
        slots = profiles.slots
        counters = [profile.counts for profile in slots]
        target = profiles.target
        leak = LeakageTracker(profiles.features, target.position) if target is not None else None
        duplicates = DuplicateTracker([p.position for p in profiles.modelled])
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
            self.findings.add(
                "field_length",
                f"A field ending at or after line {line} is longer than {csv.field_size_limit()} "
                "characters, the CSV reader's limit; this is usually an unclosed quote that swallows "
                "the rest of the file. Fix the quoting at the source.",
            )
        else:
            self.findings.add("csv_syntax", f"The CSV cannot be parsed at line {line}: {exc}. Fix the file's quoting.")

    # -- statistics ------------------------------------------------------------------------------

    def _fill_statistics(self, profiles: Profiles) -> None:
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


def _guess_delimiter(header: Sequence[str], expected: Sequence[str], configured: str) -> str | None:
    """Return the other delimiter the header row seems to use, if any."""
    line = configured.join(header)
    for delimiter in (d for d in _DELIMITERS if d != configured):
        if delimiter in line and (len(header) == 1 or set(line.split(delimiter)) & set(expected)):
            return delimiter
    return None


def _near_match(name: str, header: Iterable[str]) -> str | None:
    wanted = name.strip().casefold()
    return next((column for column in header if column.strip().casefold() == wanted), None)
