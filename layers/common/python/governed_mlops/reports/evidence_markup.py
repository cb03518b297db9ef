"""HTML building blocks of the evidence page (pure): every argument that is text gets escaped here.

:mod:`governed_mlops.reports.evidence_html` assembles the page from these; its stylesheet gives the classes used
here (``badge``, ``pass``/``fail``/``na``, ``num``, ``muted``) their look.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape

from governed_mlops.models import ObjectDigest

__all__ = [
    "code",
    "data_table",
    "digest_cell",
    "esc",
    "facts_table",
    "fmt",
    "key_value_table",
    "muted",
    "num",
    "pill",
    "result_cell",
    "section_block",
    "when",
]

_NUMERIC = " class='num'"


def when(moment: datetime) -> str:
    """A timestamp for people: ``2026-11-28 15:35:52 UTC`` (the lineage table keeps the exact ISO form)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def esc(value: object) -> str:
    """``value`` as HTML text, quotes included (None is empty)."""
    return escape("" if value is None else str(value), quote=True)


def fmt(value: object) -> str:
    """A number to four decimals; anything else as its text (None is ``n/a``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a" if value is None else str(value)
    return f"{value:.4f}"


def code(text: str) -> str:
    """``text`` escaped inside ``<code>``."""
    return f"<code>{esc(text)}</code>"


def muted(text: str) -> str:
    """``text`` escaped and de-emphasised."""
    return f"<span class='muted'>{esc(text)}</span>"


def num(text: str) -> str:
    """A pre-formatted number cell marker (escaped); :func:`data_table` right-aligns its column."""
    return esc(text)


def pill(style: str, text: str) -> str:
    """A badge: ``style`` is one of the stylesheet's ``pass``/``fail``/``warn``/``na``."""
    return f"<span class='badge {style}'>{esc(text)}</span>"


def result_cell(passed: bool | None, missing: str = "Not checked") -> str:
    """A result ``<td>`` that says ✓ Pass / ✗ Fail in words as well as colour, or why there is none."""
    if passed is None:
        return f"<td class='na'>— {esc(missing)}</td>"
    return "<td class='pass'>✓ Pass</td>" if passed else "<td class='fail'>✗ Fail</td>"


def digest_cell(digest: ObjectDigest) -> str:
    """An object's pinned URI, sha256 and size."""
    return (
        f"{code(digest.ref.pinned_uri)}<br>sha256 {code(digest.sha256)} "
        f"<span class='muted'>({digest.size:,} bytes)</span>"
    )


def section_block(anchor: str, title: str, body: str) -> str:
    """A page section with its heading, labelled for assistive technology and linkable by ``anchor``."""
    heading = f"<h2 id='{esc(anchor)}-title'>{esc(title)}</h2>"
    return f"\n<section id='{esc(anchor)}' aria-labelledby='{esc(anchor)}-title'>\n{heading}\n{body}\n</section>"


def facts_table(caption: str, rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table of row headings and pre-rendered values."""
    body = "".join(f"<tr><th scope='row'>{esc(name)}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<table><caption>{esc(caption)}</caption><tbody>{body}</tbody></table>"


def key_value_table(caption: str, headers: tuple[str, str], pairs: Sequence[tuple[str, str]], empty: str) -> str:
    """A table of escaped keys and code-formatted values; ``empty`` says why there are none."""
    return data_table(caption, headers, [[esc(key), code(value)] for key, value in pairs], empty=empty)


def data_table(
    caption: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    empty: str = "Nothing to show.",
    numeric_columns: tuple[int, ...] = (),
) -> str:
    """A table of pre-rendered cells; a cell that already is a ``<td ...>`` element is kept as is."""
    if not rows:
        return f"<p class='muted'>{esc(caption)}: {esc(empty)}</p>"
    head = "".join(
        f"<th scope='col'{_NUMERIC if position in numeric_columns else ''}>{esc(text)}</th>"
        for position, text in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            cell if cell.startswith("<td") else f"<td{_NUMERIC if position in numeric_columns else ''}>{cell}</td>"
            for position, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
