"""A minimal SVG writer for the job charts: rectangles, lines and text, written as text, no renderer.

The charts used to be matplotlib PNGs; drawing twelve text-heavy panels with Agg took a second per
bias job, most of a pipeline run's compute. Written directly, an SVG costs milliseconds, and it keeps
what a reader needs: every label, value and limit is text (searchable, zoomable, read by screen
readers through ``<title>`` and ``<desc>``), and the output is deterministic byte for byte: numbers
are written with a fixed number of decimals, attributes in a fixed order, and nothing depends on
the time, the host's fonts or a library version.

Only what :mod:`governed_mlops.reports.images` accepts is written (the pages embed nothing else):
``svg``, ``title``, ``desc``, ``g``, ``rect``, ``line``, ``text`` and ``tspan``, presentation
attributes only, no scripts, links or external references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

__all__ = ["FONT_FAMILY", "Drawing", "nice_ticks", "number", "text_width"]

FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif"
#: Average advance of a character of DejaVu Sans / Verdana, as a share of the font size: enough to
#: size margins and wrap titles (a wide estimate: labels never run into each other).
_CHARACTER_WIDTH = 0.62
_DECIMALS = 2
#: Tick steps: 1, 2, 2.5 or 5 times a power of ten (matplotlib's automatic ticks' steps).
_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
_QUARTER = 2.5
_SLACK = 1e-9


def number(value: float) -> str:
    """``value`` with at most two decimals and no trailing zeros (``-0`` written ``0``): SVG user units."""
    text = f"{value:.{_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def text_width(text: str, size: float) -> float:
    """Estimated width of ``text`` at font ``size`` (user units)."""
    return len(text) * size * _CHARACTER_WIDTH


def nice_ticks(low: float, high: float, intervals: int) -> list[tuple[float, str]]:
    """Ticks over ``[low, high]`` on a 1/2/2.5/5 x 10^k step, at most ``intervals`` of them apart, with their labels."""
    if not (math.isfinite(low) and math.isfinite(high) and high > low and intervals > 0):
        raise ValueError(
            f"ticks need a finite range low < high and intervals > 0, got {low!r}, {high!r}, {intervals!r}"
        )
    raw = (high - low) / intervals
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(factor * power for factor in _STEPS if factor * power >= raw * (1 - _SLACK))
    decimals = max(0, -math.floor(math.log10(step) + _SLACK)) + (1 if round(step / power, 6) == _QUARTER else 0)
    first, last = math.ceil(low / step - _SLACK), math.floor(high / step + _SLACK)
    ticks = []
    for index in range(first, last + 1):
        text = f"{index * step:.{decimals}f}"
        ticks.append((index * step, "0" if float(text) == 0 else text))
    return ticks


def _attributes(pairs: Sequence[tuple[str, str | float | None]]) -> str:
    parts = []
    for name, value in pairs:
        if value is None:
            continue
        shown = number(value) if isinstance(value, int | float) else value
        parts.append(f" {name}={quoteattr(shown)}")
    return "".join(parts)


class Drawing:
    """Elements added in drawing order (later ones on top), written out by :meth:`to_bytes`."""

    def __init__(self, width: float, height: float) -> None:
        if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
            raise ValueError(f"a drawing needs a positive finite size, got {width!r} x {height!r}")
        self.width = width
        self.height = height
        self._elements: list[str] = []

    def rect(self, x: float, y: float, width: float, height: float, *, fill: str, css_class: str | None = None) -> None:
        """A filled rectangle; ``css_class`` names what it is (e.g. ``bar within``) for readers of the source."""
        attributes = _attributes(
            [("class", css_class), ("x", x), ("y", y), ("width", max(width, 0.0)), ("height", max(height, 0.0))]
        )
        self._elements.append(f"<rect{attributes}{_attributes([('fill', fill)])}/>")

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        *,
        stroke: str,
        width: float = 1.0,
        dashed: bool = False,
        css_class: str | None = None,
    ) -> None:
        """A straight line; ``dashed`` draws it 5 units on, 3 off."""
        attributes = _attributes(
            [
                ("class", css_class),
                ("x1", x1),
                ("y1", y1),
                ("x2", x2),
                ("y2", y2),
                ("stroke", stroke),
                ("stroke-width", width),
                ("stroke-dasharray", "5 3" if dashed else None),
            ]
        )
        self._elements.append(f"<line{attributes}/>")

    def text(  # noqa: PLR0913 - position, content, then how it is set
        self,
        x: float,
        y: float,
        lines: str | Sequence[str],
        *,
        size: float,
        anchor: str = "start",
        bold: bool = False,
        fill: str = "#000000",
        rotate: bool = False,
        css_class: str | None = None,
    ) -> None:
        """Text whose first baseline is at ``y``; a sequence is set as lines ``1.2 * size`` apart.

        ``anchor`` is SVG's ``text-anchor`` (start, middle, end); ``rotate`` turns it a quarter to the
        left around ``(x, y)`` (a y-axis label).
        """
        rows = [lines] if isinstance(lines, str) else list(lines)
        attributes = _attributes(
            [
                ("class", css_class),
                ("x", x),
                ("y", y),
                ("font-size", size),
                ("text-anchor", None if anchor == "start" else anchor),
                ("font-weight", "bold" if bold else None),
                ("fill", fill),
                ("transform", f"rotate(-90 {number(x)} {number(y)})" if rotate else None),
            ]
        )
        if len(rows) == 1:
            self._elements.append(f"<text{attributes}>{escape(rows[0])}</text>")
            return
        spans = "".join(
            f"<tspan{_attributes([('x', x), ('dy', None if index == 0 else size * 1.2)])}>{escape(row)}</tspan>"
            for index, row in enumerate(rows)
        )
        self._elements.append(f"<text{attributes}>{spans}</text>")

    def to_bytes(self, title: str, description: str) -> bytes:
        """The SVG document (UTF-8), named by ``title`` and described by ``description`` for screen readers."""
        head = (
            '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" role="img" aria-labelledby="chart-title chart-desc"'
            f"{_attributes([('width', self.width), ('height', self.height)])}"
            f' viewBox="0 0 {number(self.width)} {number(self.height)}" font-family={quoteattr(FONT_FAMILY)}>'
        )
        parts = [
            head,
            f'<title id="chart-title">{escape(title)}</title>',
            f'<desc id="chart-desc">{escape(description)}</desc>',
            f'<rect x="0" y="0" width="{number(self.width)}" height="{number(self.height)}" fill="#ffffff"/>',
            *self._elements,
            "</svg>\n",
        ]
        return "\n".join(parts).encode("utf-8")
