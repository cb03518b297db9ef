"""Reading a CSV the way the Validate Data stage reads it: UTF-8 with an optional BOM, every field a string,
blank lines skipped, its notions of a missing value and of a number."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass
from typing import Final, cast

import pandas as pd

from governed_mlops.domain.validation import MISSING_TOKENS
from governed_mlops_local.onboarding.errors import UnreadableDataError
from governed_mlops_local.onboarding.wording import shorten

#: A target and at least one feature.
_MIN_COLUMNS = 2

_CSV_DELIMITERS: Final = {";": "semicolons", "\t": "tabs", "|": "pipes"}
_DELIMITER_WORDS: Final = {",": "commas", **_CSV_DELIMITERS}
#: Share of the values after a separator that must start with a space for the spaces to be read as padding.
_SPACED_SHARE: Final = 0.95


@dataclass(frozen=True)
class Table:
    """A CSV as the Validate Data stage sees it: header, every field a string, blank lines skipped."""

    source: str
    sha256: str
    header: list[str]
    frame: pd.DataFrame
    #: The field separator the file uses: a comma, or the one a one-column comma reading shows instead.
    delimiter: str = ","
    #: Every value after a separator starts with a space that is not part of it (``39, State-gov, ...``).
    skip_initial_space: bool = False

    @property
    def rows(self) -> int:
        return len(self.frame)


def read_table(data: bytes, source: str) -> Table:
    """Parse CSV bytes into a :class:`Table`.

    Raises:
        UnreadableDataError: empty, not UTF-8, binary, not comma-separated (one column), malformed
            quoting, rows with another number of fields than the header, empty or repeated column
            names, or no data rows. Each message says what to fix.
    """
    if not data.strip():
        raise UnreadableDataError(f"{source} is empty: expected a CSV with a header row and data rows")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise UnreadableDataError(f"{source} is binary or UTF-16, not UTF-8 text: re-save it as UTF-8 CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDataError(
            f"{source} is not valid UTF-8 (byte 0x{data[exc.start]:02X} at offset {exc.start}); re-save it as "
            "UTF-8 (spreadsheet exports are often Latin-1 or Windows-1252)"
        ) from exc
    records = _records(text, source, ",")
    if not records:
        raise UnreadableDataError(f"{source} has no header row")
    delimiter = ","
    if len(records[0][1]) < _MIN_COLUMNS and (other := _other_delimiter(records[0][1])) is not None:
        # UCI's Bank Marketing and many European exports separate fields with semicolons.
        delimiter = other
        records = _records(text, source, delimiter)
    skip_initial_space = _spaced_after_separators(records[1:])
    if skip_initial_space:
        records = _records(text, source, delimiter, skip_initial_space=True)
    header = records[0][1]
    _check_header(header, source)
    width = len(header)
    ragged = [(line, len(row)) for line, row in records[1:] if len(row) != width]
    if ragged:
        shown = ", ".join(f"line {line} has {fields}" for line, fields in ragged[:3])
        raise UnreadableDataError(
            f"{source}: {len(ragged)} row(s) have a different number of fields from the header ({width}): {shown}; "
            f"quote fields that contain {_DELIMITER_WORDS[delimiter]}"
        )
    rows = [row for _, row in records[1:]]
    if not rows:
        raise UnreadableDataError(f"{source} has a header row but no data rows")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return Table(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        header=header,
        frame=frame,
        delimiter=delimiter,
        skip_initial_space=skip_initial_space,
    )


def _spaced_after_separators(rows: list[tuple[int, list[str]]]) -> bool:
    """Whether (nearly) every value after a separator starts with one space, as in ``39, State-gov, 77516``."""
    after = [value for _, row in rows for value in row[1:]]
    spaced = sum(1 for value in after if value.startswith(" "))
    return bool(after) and spaced >= _SPACED_SHARE * len(after)


def _records(
    text: str, source: str, delimiter: str, *, skip_initial_space: bool = False
) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=skip_initial_space)
    try:
        return [(reader.line_num, row) for row in reader if row]
    except csv.Error as exc:
        raise UnreadableDataError(f"{source} cannot be parsed as CSV at line {reader.line_num}: {exc}") from exc


def _other_delimiter(header: list[str]) -> str | None:
    """The separator a header read as one comma-separated column holds instead, if exactly one does."""
    line = header[0] if header else ""
    used = [delimiter for delimiter in _CSV_DELIMITERS if delimiter in line]
    return used[0] if len(used) == 1 else None


def _check_header(header: list[str], source: str) -> None:
    if len(header) < _MIN_COLUMNS:
        line = header[0] if header else ""
        used = [name for delimiter, name in _CSV_DELIMITERS.items() if delimiter in line]
        hint = f"; the header seems to be separated by {' and '.join(used)}: export with commas" if used else ""
        raise UnreadableDataError(
            f"{source} has only one column ({shorten(line)}): a comma-, semicolon-, tab- or pipe-separated file "
            f"with a target and at least one feature is needed{hint}"
        )
    empty = [position for position, name in enumerate(header, start=1) if not name.strip()]
    if empty:
        raise UnreadableDataError(
            f"{source}: column(s) {', '.join(map(str, empty))} have an empty name in the header row (a trailing "
            "comma on every line causes this); name or remove them"
        )
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise UnreadableDataError(f"{source}: column names appear more than once in the header: {repeated}")


def missing_mask(values: pd.Series) -> pd.Series:
    """The Validate Data stage's notion of missing: a pandas NA token, or blank."""
    text = values.astype(str)
    return cast("pd.Series", text.isin(MISSING_TOKENS) | (text.str.strip() == ""))
