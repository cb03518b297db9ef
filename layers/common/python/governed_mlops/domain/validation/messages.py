"""How validation issues quote values and list examples: short, bounded text for a Step Functions cause."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from governed_mlops.config import ValueRange
from governed_mlops.models import ValidationIssue

__all__ = ["EXAMPLES", "Findings", "examples", "join", "range_text", "shorten"]

EXAMPLES: Final = 3  # examples quoted per issue: enough to find the problem, short enough to read
_SHOWN_VALUE_CHARS: Final = 40  # a 100 kB field must not be echoed into a Step Functions cause


class Findings:
    """The issues found so far, in the order they were found."""

    def __init__(self) -> None:
        self.issues: list[ValidationIssue] = []

    def add(self, check: str, message: str, column: str | None = None) -> None:
        """One problem: its check name, what is wrong and what to do, and the column where there is one."""
        self.issues.append(ValidationIssue(check=check, column=column, message=message))


def examples(examples: Sequence[tuple[int, str]]) -> str:
    return join(f"line {line}: {shorten(value)}" for line, value in examples)


def shorten(value: str) -> str:
    shown = repr(value)
    if len(shown) <= _SHOWN_VALUE_CHARS:
        return shown
    return f"{shown[: _SHOWN_VALUE_CHARS - 1]}…' ({len(value)} characters)"


def join(parts: Iterable[str]) -> str:
    return ", ".join(parts)


def range_text(bounds: ValueRange | None) -> str:
    if bounds is None:
        return "(none)"
    low = "-inf" if bounds.min is None else f"{bounds.min:g}"
    high = "inf" if bounds.max is None else f"{bounds.max:g}"
    return f"[{low}, {high}]"
