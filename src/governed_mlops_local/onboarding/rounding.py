"""Rounding limits to a number of decimals or significant digits, in a chosen direction."""

from __future__ import annotations

import math


def round_down(value: float, digits: int) -> float:
    """Round down to ``digits`` decimals (negative: tens, hundreds), ignoring float noise below 1e-9."""
    scale = 10.0**digits
    return math.floor(round(value * scale, 9)) / scale


def round_up(value: float, digits: int) -> float:
    """Round up to ``digits`` decimals (negative: tens, hundreds), ignoring float noise below 1e-9."""
    scale = 10.0**digits
    return math.ceil(round(value * scale, 9)) / scale


def round_down_significant(value: float, digits: int) -> float:
    """Round down to ``digits`` significant digits (``0.1537`` -> ``0.15``; ``1000`` -> ``1000``)."""
    if value <= 0:
        return 0.0
    return round_down(value, digits - 1 - math.floor(math.log10(value)))
