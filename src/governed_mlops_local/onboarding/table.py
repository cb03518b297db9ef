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


@dataclass(frozen=True)
class Table:
    """A CSV as the Validate Data stage sees it: header, every field a string, blank lines skipped."""

    source: str
    sha256: str
    header: list[str]
    frame: pd.DataFrame

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
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = [(reader.line_num, row) for row in reader if row]
    except csv.Error as exc:
        raise UnreadableDataError(f"{source} cannot be parsed as CSV at line {reader.line_num}: {exc}") from exc
    if not records:
        raise UnreadableDataError(f"{source} has no header row")
    header = records[0][1]
    _check_header(header, source)
    width = len(header)
    ragged = [(line, len(row)) for line, row in records[1:] if len(row) != width]
    if ragged:
        shown = ", ".join(f"line {line} has {fields}" for line, fields in ragged[:3])
        raise UnreadableDataError(
            f"{source}: {len(ragged)} row(s) have a different number of fields from the header ({width}): {shown}; "
            "quote fields that contain commas"
        )
    rows = [row for _, row in records[1:]]
    if not rows:
        raise UnreadableDataError(f"{source} has a header row but no data rows")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return Table(source=source, sha256=hashlib.sha256(data).hexdigest(), header=header, frame=frame)


def _check_header(header: list[str], source: str) -> None:
    if len(header) < _MIN_COLUMNS:
        line = header[0] if header else ""
        used = [name for delimiter, name in _CSV_DELIMITERS.items() if delimiter in line]
        hint = f"; the header seems to be separated by {used[0]}: export with commas" if used else ""
        raise UnreadableDataError(
            f"{source} has only one column ({shorten(line)}): a comma-separated file with a target and at "
            f"least one feature is needed{hint}"
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
