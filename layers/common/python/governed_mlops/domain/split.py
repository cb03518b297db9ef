"""Deterministic stratified train/test split of a validated CSV dataset ("Prepare Data" stage).

Pure: standard library only, no I/O. The same bytes and configuration always give byte-identical
train and test files, so a run can be reproduced and its artefacts compared by hash.
"""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass
from operator import itemgetter

from governed_mlops.config import PipelineConfig
from governed_mlops.domain.validation import is_missing
from governed_mlops.errors import DataValidationError

#: A class needs at least this many rows to have one on each side of the split.
_ROWS_TO_SPLIT = 2

__all__ = ["SplitResult", "holdout_rows_for_class", "split_dataset"]


@dataclass(frozen=True)
class SplitResult:
    """The two CSV files of a split (UTF-8, header row, LF line endings) and their row counts."""

    train_csv: bytes
    test_csv: bytes
    train_rows: int
    test_rows: int


class _LineCollector(list[bytes]):
    """A csv writer target that keeps each written record as its UTF-8 bytes.

    Encoding record by record means the output files are joined straight from these lines, with no
    intermediate str as large as the file.
    """

    def write(self, text: str) -> int:
        self.append(text.encode("utf-8"))
        return len(text)


def holdout_rows_for_class(class_rows: int, test_fraction: float) -> int:
    """Return how many of one class's rows go to the test set.

    ``class_rows * test_fraction`` rounded half up (not Python's round-half-to-even, whose result
    would depend on the parity of the count). A class with at least two rows keeps at least one
    row on each side, so both sets contain every label; that moves the count by less than one row.
    """
    count = math.floor(class_rows * test_fraction + 0.5)
    if class_rows >= _ROWS_TO_SPLIT:
        count = min(max(count, 1), class_rows - 1)
    return count


def bias_only_columns(config: PipelineConfig) -> list[str]:
    """Facet and group columns that are not model features (protected attributes the model must not
    see but the bias checks must): kept in the split files, ignored by training."""
    if config.bias is None:
        return []
    wanted = [facet.column for facet in config.bias.facets]
    if config.bias.group_column:
        wanted.append(config.bias.group_column)
    features = set(config.dataset.features)
    return [c for c in dict.fromkeys(wanted) if c not in features and c != config.dataset.target]


def split_dataset(data: bytes, config: PipelineConfig) -> SplitResult:
    """Split a validated dataset into train and test CSV files, stratified by the target.

    Output columns are the configured features (numeric, then categorical, in configuration order),
    then bias-only facet/group columns (see :func:`bias_only_columns`), then the target; other
    columns are dropped. Missing values (see
    :func:`governed_mlops.domain.validation.is_missing`) are written as empty fields so the
    training job sees one spelling of "missing". Rows keep their order from the input file.

    Each class is shuffled with one ``random.Random(config.split.seed)`` (classes in sorted label
    order) and :func:`holdout_rows_for_class` of its rows go to the test set.

    Raises:
        DataValidationError: the data cannot be split as configured (not UTF-8, no header, a
            configured column absent, a row with the wrong number of fields, a missing target).
            Validate Data reports these in detail; this is a guard, not a second validator.

    """
    columns = [*config.dataset.features, *bias_only_columns(config), config.dataset.target]
    lines = _LineCollector()
    # lineterminator "\n" keeps the output identical whatever the input used (CRLF or LF).
    writer = csv.writer(lines, lineterminator="\n")
    writer.writerow(columns)
    header_line = lines.pop()
    rows_by_label: dict[str, list[int]] = {}
    # Rows are streamed and kept only as their encoded output line: memory stays near the file size.
    reader = csv.reader(
        io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""),
        delimiter=config.dataset.delimiter,
        skipinitialspace=config.dataset.skip_initial_space,
    )
    try:
        header = next((row for row in reader if row), None)
        if header is None:
            raise DataValidationError("cannot split: the file is empty")
        project = itemgetter(*_positions(header, columns))
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                message = f"line {reader.line_num} has {len(row)} fields; the header has {len(header)}"
                raise DataValidationError(f"cannot split: {message}")
            values = ["" if is_missing(value) else value for value in project(row)]
            label = values[-1]
            if label == "":
                raise DataValidationError(
                    f"cannot split: the target {columns[-1]!r} is missing at line {reader.line_num}"
                )
            rows_by_label.setdefault(label, []).append(len(lines))
            writer.writerow(values)
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"cannot split: the file is not UTF-8 ({exc.reason})") from exc
    except csv.Error as exc:
        raise DataValidationError(f"cannot split: CSV error at line {reader.line_num}: {exc}") from exc

    rng = random.Random(config.split.seed)  # noqa: S311 - reproducible sampling, not security
    test_indices: set[int] = set()
    for label in sorted(rows_by_label):
        indices = rows_by_label[label]
        shuffled = indices.copy()
        rng.shuffle(shuffled)
        test_indices.update(shuffled[: holdout_rows_for_class(len(indices), config.split.test_fraction)])

    train_lines = [header_line]
    test_lines = [header_line]
    for index, text in enumerate(lines):
        (test_lines if index in test_indices else train_lines).append(text)
    return SplitResult(
        train_csv=b"".join(train_lines),
        test_csv=b"".join(test_lines),
        train_rows=len(train_lines) - 1,
        test_rows=len(test_lines) - 1,
    )


def _positions(header: list[str], columns: list[str]) -> list[int]:
    first: dict[str, int] = {}
    for position, name in enumerate(header):
        first.setdefault(name, position)
    absent = [name for name in columns if name not in first]
    if absent:
        raise DataValidationError(f"cannot split: configured columns not in the header: {absent}")
    return [first[name] for name in columns]
