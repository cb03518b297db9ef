"""SVG charts of a bias report, for people: one chart per stage, one panel per Clarify metric.

Each panel shows one metric for every facet (a bar per facet from the metric's parity value, 0 or
1 for DI, its value written on it), the configured limits as dashed red lines across that facet's
slot, and the parity value as a thin black line. A bar outside its limits is drawn in red; an
undefined metric gets no bar and is written "undefined" (and counts as outside any limit, as the
bias gate counts it). The chart's ``<title>`` names it and its ``<desc>`` lists every value with
its limits in words, for screen readers and text search.

The charts are drawn from the ``analysis.json`` document itself, so they show exactly what was
reported. Output is deterministic byte for byte (see :mod:`governed_mlops_ml.svg`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governed_mlops.domain.bias_names import STAGE_METRICS, STAGE_SECTIONS
from governed_mlops.errors import JobInputError
from governed_mlops_ml.svg import Drawing, nice_ticks, text_width

__all__ = ["OUTSIDE_COLOUR", "WITHIN_COLOUR", "chart_file", "plot_stage"]

_COLUMNS = 4
#: One panel's box and the band above the panels for the chart's title, in SVG user units (px).
_PANEL = (420.0, 340.0)
_HEADER = 60.0
#: The plot area inside a panel: room for the title above, tick labels and the y label left, the facet
#: labels (up to three lines) and the x label below.
_PLOT_MARGINS = (78.0, 20.0, 56.0, 84.0)  # left, right, top, bottom
_TITLE_SIZE = 13.0
_SUPTITLE_SIZE = 18.0
_LABEL_SIZE = 11.0
_VALUE_SIZE = 11.0
_TITLE_CHARACTERS = 48
#: At most this many y intervals per panel.
_Y_INTERVALS = 5
#: Room left above and below the data, as a share of its range (matplotlib's ``margins(y=0.2)``).
_Y_MARGIN = 0.2
_BAR_SHARE = 0.6
_LIMIT_SHARE = 0.9
_LABEL_LINES = 3
_NARROW = 0.9
WITHIN_COLOUR = "#4C72B0"
OUTSIDE_COLOUR = "#C44E52"
_LIMIT_COLOUR = OUTSIDE_COLOUR
_MUTED = "#555555"
_STAGE_TITLES = {
    "pre": "Pre-training bias metrics (observed labels)",
    "post": "Post-training bias metrics (predictions)",
}
# Metrics whose parity (no bias) value is 1; every other metric's is 0.
_PARITY_ONE = frozenset({"DI"})


def chart_file(stage: str) -> str:
    """Name of the stage's chart: ``pre_training_bias.svg`` or ``post_training_bias.svg``."""
    return f"{stage}_training_bias.svg"


def plot_stage(report: Mapping[str, Any], stage: str, path: Path) -> Path:
    """Draw ``stage`` (``"pre"`` or ``"post"``) of an ``analysis.json`` document into the SVG file ``path``.

    Raises:
        JobInputError: the stage is unknown or the report has no section for it.
    """
    if stage not in STAGE_SECTIONS:
        raise JobInputError(f"unknown stage {stage!r}; expected one of {sorted(STAGE_SECTIONS)}")
    section = report.get(STAGE_SECTIONS[stage])
    if not isinstance(section, Mapping):
        raise JobInputError(f"bias report has no {STAGE_SECTIONS[stage]} section to plot")
    if not section.get("facets") and section.get("not_assessed_reason"):
        data = _not_assessed(section, stage)
    else:
        data = _stage_chart(section, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _stage_chart(section: Mapping[str, Any], stage: str) -> bytes:
    facets = _facet_rows(section)
    metrics = [name for name in STAGE_METRICS[stage] if any(name in row.metrics for row in facets)]
    rows = max(1, math.ceil(len(metrics) / _COLUMNS))
    drawing = Drawing(_PANEL[0] * _COLUMNS, _PANEL[1] * rows + _HEADER)
    label = f"{section.get('label', '?')} = {section.get('label_value_or_threshold', '?')}"
    title = f"{_STAGE_TITLES[stage]} — favourable outcome: {label}"
    drawing.text(drawing.width / 2, _HEADER / 2 + _SUPTITLE_SIZE / 3, title, size=_SUPTITLE_SIZE, anchor="middle")
    described = []
    for position, metric in enumerate(metrics):
        row, column = divmod(position, _COLUMNS)
        panel = _Panel(drawing, column * _PANEL[0], _HEADER + row * _PANEL[1])
        described.append(panel.draw(metric, facets))
    return drawing.to_bytes(title, " ".join(described))


def _not_assessed(section: Mapping[str, Any], stage: str) -> bytes:
    """A chart that says no attribute was analysed, and why (so no reader mistakes it for a pass)."""
    drawing = Drawing(_PANEL[0] * 2, _PANEL[1])
    reason = f"Not assessed: {section['not_assessed_reason']}"
    drawing.text(drawing.width / 2, _HEADER / 2 + _SUPTITLE_SIZE / 3, _STAGE_TITLES[stage], size=18, anchor="middle")
    lines = textwrap.wrap(reason, 2 * _TITLE_CHARACTERS) or [reason]
    top = drawing.height / 2 - (len(lines) - 1) * _TITLE_SIZE * 0.6
    drawing.text(drawing.width / 2, top, lines, size=_TITLE_SIZE, anchor="middle", css_class="not-assessed")
    return drawing.to_bytes(_STAGE_TITLES[stage], reason)


@dataclass(frozen=True)
class _Facet:
    name: str
    value: str
    metrics: Mapping[str, Mapping[str, Any]]


def _facet_rows(section: Mapping[str, Any]) -> list[_Facet]:
    """One row per (facet, value_or_threshold) with its ``{metric: entry}``."""
    facets = section.get("facets")
    if not isinstance(facets, Mapping) or not facets:
        raise JobInputError("bias report section lists no facets")
    rows = []
    for name, entries in facets.items():
        for entry in entries:
            metrics = {metric["name"]: metric for metric in entry.get("metrics", [])}
            rows.append(_Facet(str(name), str(entry.get("value_or_threshold", "")), metrics))
    return rows


def _value(entry: Mapping[str, Any]) -> float | None:
    """The entry's value as a float; ``None`` when it is undefined (missing, null or NaN)."""
    value = entry.get("value")
    if value is None or isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _outside(value: float | None, limit: Mapping[str, float] | None) -> bool:
    if not limit:
        return False
    if value is None:
        return True
    low, high = limit.get("min"), limit.get("max")
    return (low is not None and value < low) or (high is not None and value > high)


def _limits(entry: Mapping[str, Any]) -> list[float]:
    limit = entry.get("limit") or {}
    return [float(limit[bound]) for bound in ("min", "max") if limit.get(bound) is not None]


def _value_text(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _limit_words(entry: Mapping[str, Any], outside: bool) -> str:
    limit = entry.get("limit") or {}
    bounds = [f"{bound} {float(limit[bound]):g}" for bound in ("min", "max") if limit.get(bound) is not None]
    if not bounds:
        return "no limit"
    return f"{'outside' if outside else 'within'} the limits {' and '.join(bounds)}"


class _Panel:
    """One metric's panel, its top-left corner at ``(left, top)``."""

    def __init__(self, drawing: Drawing, left: float, top: float) -> None:
        self.drawing = drawing
        margin_left, margin_right, margin_top, margin_bottom = _PLOT_MARGINS
        self.left, self.right = left + margin_left, left + _PANEL[0] - margin_right
        self.top, self.bottom = top + margin_top, top + _PANEL[1] - margin_bottom
        self.panel_top = top
        self.low, self.high = 0.0, 1.0

    def y(self, value: float) -> float:
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)

    def draw(self, metric: str, facets: Sequence[_Facet]) -> str:
        """Draw the panel; return what it shows in words (for the chart's ``<desc>``)."""
        entries = [row.metrics.get(metric, {}) for row in facets]
        values = [_value(entry) for entry in entries]
        parity = 1.0 if metric in _PARITY_ONE else 0.0
        self._scale(parity, values, entries)
        description = next((str(entry["description"]) for entry in entries if entry.get("description")), metric)
        title_lines = textwrap.wrap(description, _TITLE_CHARACTERS) or [description]
        self.drawing.text(
            (self.left + self.right) / 2,
            self.panel_top + 20 + (2 - len(title_lines)) * _TITLE_SIZE * 0.6,
            title_lines,
            size=_TITLE_SIZE,
            anchor="middle",
            bold=True,
        )
        self._axes(metric)
        slot = (self.right - self.left) / len(facets)
        words = []
        for index, (row, entry, value) in enumerate(zip(facets, entries, values, strict=True)):
            centre = self.left + slot * (index + 0.5)
            outside = _outside(value, entry.get("limit"))
            self._bar(centre, slot, parity, value, outside)
            self._limit_lines(centre, slot, entry)
            self._facet_label(centre, slot, row)
            words.append(f"{row.name} {row.value}: {_value_text(value)} ({_limit_words(entry, outside)})")
        base = self.y(parity)
        self.drawing.line(self.left, base, self.right, base, stroke="#000000", width=0.8, css_class="parity")
        if any(_limits(entry) for entry in entries):
            self._legend()
        return f"{description}: {'; '.join(words)}."

    def _scale(self, parity: float, values: Sequence[float | None], entries: Sequence[Mapping[str, Any]]) -> None:
        shown = [parity]
        shown += [value for value in values if value is not None and math.isfinite(value)]
        shown += [bound for entry in entries for bound in _limits(entry)]
        low, high = min(shown), max(shown)
        span = high - low or max(abs(high), 1.0)
        self.low, self.high = low - _Y_MARGIN * span, high + _Y_MARGIN * span

    def _axes(self, metric: str) -> None:
        drawing = self.drawing
        drawing.line(self.left, self.top, self.left, self.bottom, stroke="#000000", width=0.8)
        drawing.line(self.left, self.bottom, self.right, self.bottom, stroke="#000000", width=0.8)
        for tick, text in nice_ticks(self.low, self.high, _Y_INTERVALS):
            y = self.y(tick)
            drawing.line(self.left - 4, y, self.left, y, stroke="#000000", width=0.8)
            drawing.text(self.left - 6, y + _LABEL_SIZE / 3, text, size=10, anchor="end")
        middle = (self.top + self.bottom) / 2
        drawing.text(self.left - 52, middle, f"{metric} value", size=_LABEL_SIZE, anchor="middle", rotate=True)
        drawing.text(
            (self.left + self.right) / 2,
            self.bottom + _PLOT_MARGINS[3] - 8,
            "facet (facet d selector)",
            size=_LABEL_SIZE,
            anchor="middle",
        )

    def _bar(self, centre: float, slot: float, parity: float, value: float | None, outside: bool) -> None:
        base = self.y(parity)
        if value is None or not math.isfinite(value):
            # No bar: an undefined (or infinite) value is written at the parity line, in the bar's colour.
            colour = OUTSIDE_COLOUR if outside else _MUTED
            text = _value_text(value) if value is None else f"{value:g}"
            self.drawing.text(centre, base - 4, text, size=_VALUE_SIZE, anchor="middle", fill=colour, css_class="value")
            return
        end = self.y(value)
        colour = OUTSIDE_COLOUR if outside else WITHIN_COLOUR
        width = slot * _BAR_SHARE
        kind = "bar outside" if outside else "bar within"
        self.drawing.rect(centre - width / 2, min(base, end), width, abs(base - end), fill=colour, css_class=kind)
        label_y = end - 4 if value >= parity else end + _VALUE_SIZE + 2
        self.drawing.text(centre, label_y, _value_text(value), size=_VALUE_SIZE, anchor="middle", css_class="value")

    def _limit_lines(self, centre: float, slot: float, entry: Mapping[str, Any]) -> None:
        half = slot * _LIMIT_SHARE / 2
        for bound in _limits(entry):
            y = self.y(bound)
            self.drawing.line(
                centre - half, y, centre + half, y, stroke=_LIMIT_COLOUR, width=1.2, dashed=True, css_class="limit"
            )

    def _facet_label(self, centre: float, slot: float, row: _Facet) -> None:
        # DejaVu Sans' lower case and digits are narrower than the wide estimate that sizes margins.
        characters = max(4, int(slot / (text_width("x", _LABEL_SIZE) * _NARROW)))
        lines = textwrap.wrap(row.name, characters, break_long_words=True)[: _LABEL_LINES - 1] or [row.name]
        lines.append(textwrap.shorten(row.value, characters, placeholder="…") if row.value else "")
        self.drawing.text(centre, self.bottom + 16, lines, size=_LABEL_SIZE, anchor="middle", css_class="facet")

    def _legend(self) -> None:
        # Between the panel's title and its plot area, where no bar or value label can be.
        right, y = self.right, self.top - 8
        self.drawing.text(right, y + 4, "limit", size=10, anchor="end")
        start = right - text_width("limit", 10) - 28
        self.drawing.line(start, y, start + 22, y, stroke=_LIMIT_COLOUR, width=1.2, dashed=True)
