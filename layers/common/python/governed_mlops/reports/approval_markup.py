"""HTML building blocks of the approver's pages (pure): every argument that is text gets escaped here.

:mod:`governed_mlops.reports.approval_page` assembles the pages from these; its stylesheet gives the classes used
here (``badge``, ``pass``/``fail``/``warn``, ``muted``, ``scroll``) their look.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any


def facts_rows(pairs: list[tuple[str, str]]) -> str:
    """Table rows of escaped headings and pre-rendered values."""
    return "".join(f"<tr><th scope='row'>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def scroll_table(inner: str, testid: str | None = None) -> str:
    """A table in a box of its own that scrolls sideways when the screen is narrower than the table."""
    attribute = f" data-testid='{testid}'" if testid else ""
    return f"<div class='scroll'><table{attribute}>{inner}</table></div>"


def pill(style: str, text: str) -> str:
    """A badge: ``style`` is one of the stylesheet's ``pass``/``fail``/``warn``."""
    return f"<span class='badge {style}'>{escape(text)}</span>"


def result_pill(passed: bool | None, missing: str = "no limit") -> str:
    """✓ Pass / ✗ Fail as a badge, or why there is no result (``missing``)."""
    if passed is None:
        return f"<span class='muted'>{escape(missing)}</span>"
    return pill("pass", "✓ Pass") if passed else pill("fail", "✗ Fail")


def minute_when(moment: datetime | None) -> str:
    """A timestamp for people, to the minute in UTC (``—`` when there is none)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def num4(value: Any) -> str:
    """A number to four decimals; ``n/a`` for anything that is not one."""
    return f"{float(value):.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def verdict_class(passed: Any) -> str:
    """The style class of a result: ``pass``, ``fail`` or ``muted`` when there is none."""
    return "muted" if passed is None else ("pass" if passed else "fail")


def verdict_text(passed: Any, missing: str) -> str:
    """PASS / FAIL, or ``missing`` when there is no result."""
    return missing if passed is None else ("PASS" if passed else "FAIL")


def feature_text(pairs: list[Any], rank: int) -> str:
    """The feature at ``rank`` with its value, or ``—`` past the end of the list."""
    if rank >= len(pairs):
        return "—"
    name, value = pairs[rank]
    return f"{escape(str(name))} ({num4(value)})"
