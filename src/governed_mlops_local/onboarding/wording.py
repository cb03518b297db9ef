"""How values and numbers are quoted in messages and YAML comments."""

from __future__ import annotations

from typing import Final

_SHOWN_CHARS: Final = 40
_SHOWN_VALUES: Final = 10


def counts_text(counts: dict[str, int]) -> str:
    """The first values with their counts (``'a' (3), 'b' (1)``), and how many more there are."""
    shown = ", ".join(f"{shorten(value)} ({count:,})" for value, count in list(counts.items())[:_SHOWN_VALUES])
    more = len(counts) - _SHOWN_VALUES
    return f"{shown}, and {more} more" if more > 0 else shown


def shorten(value: str) -> str:
    """``value`` quoted, cut to a readable length."""
    shown = repr(value)
    return shown if len(shown) <= _SHOWN_CHARS else f"{shown[: _SHOWN_CHARS - 1]}...'"


def pct(fraction: float) -> str:
    """A share as a percentage with one decimal."""
    return f"{fraction:.1%}"


def fmt(number: float) -> str:
    """A number as short as it reads (``25``, ``0.5``)."""
    return f"{number:g}"
