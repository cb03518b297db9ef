"""PNG charts of a bias report, for people: one figure per stage, one panel per Clarify metric.

Each panel shows one metric for every facet (a bar per facet, its value written on it), the
configured limits as dashed lines, and the metric's parity value (0, or 1 for DI) as a thin line.
A bar outside its limits is drawn in red; an undefined metric is written as "undefined".

The charts are drawn from the ``analysis.json`` document itself, so they show exactly what was
reported. Output is deterministic: the Agg renderer, matplotlib's default style (no user
``matplotlibrc``), and no timestamp or software version in the PNG metadata.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from governed_mlops.domain.bias_names import STAGE_METRICS, STAGE_SECTIONS
from governed_mlops.errors import JobInputError
from governed_mlops_ml.plotting import render_png

__all__ = ["plot_stage"]

_COLUMNS = 4
_PANEL_INCHES = (4.2, 3.3)
_DPI = 100
_TITLE_INCHES = 0.8
#: Figure margins (left, right, top, bottom) and gaps between panels (across, down), in inches: room
#: for the y tick labels and axis label, the suptitle, and a row's facet ticks, x label and the next title.
_MARGIN_INCHES = (0.8, 0.2, 0.75, 0.75)
_GAP_INCHES = (0.85, 1.05)
#: At most this many y intervals per panel: fewer tick labels to lay out and draw, still easy to read.
_Y_INTERVALS = 5
#: A panel title longer than this wraps onto a second line (the widest panel title that fits its panel at 10 pt).
_TITLE_CHARACTERS = 48
_Y_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)  # matplotlib's automatic ticks' steps: 0.05, 0.1, 0.25...
_WITHIN = "#4C72B0"
_OUTSIDE = "#C44E52"
_LIMIT = "#C44E52"
_STAGE_TITLES = {
    "pre": "Pre-training bias metrics (observed labels)",
    "post": "Post-training bias metrics (predictions)",
}
# Metrics whose parity (no bias) value is 1; every other metric's is 0.
_PARITY_ONE = frozenset({"DI"})


def plot_stage(report: Mapping[str, Any], stage: str, path: Path) -> Path:
    """Draw ``stage`` (``"pre"`` or ``"post"``) of an ``analysis.json`` document into the PNG ``path``.

    Raises:
        JobInputError: the stage is unknown or the report has no section for it.
    """
    if stage not in STAGE_SECTIONS:
        raise JobInputError(f"unknown stage {stage!r}; expected one of {sorted(STAGE_SECTIONS)}")
    section = report.get(STAGE_SECTIONS[stage])
    if not isinstance(section, Mapping):
        raise JobInputError(f"bias report has no {STAGE_SECTIONS[stage]} section to plot")
    if not section.get("facets") and section.get("not_assessed_reason"):
        return _plot_not_assessed(section, stage, path)
    facets = _facet_rows(section)
    metrics = [name for name in STAGE_METRICS[stage] if any(name in row["metrics"] for row in facets)]
    rows = max(1, math.ceil(len(metrics) / _COLUMNS))
    # matplotlib's default style, whatever matplotlibrc the container or user provides.
    with mpl.style.context("default"):
        figure = Figure(figsize=_figure_inches(rows), dpi=_DPI)
        FigureCanvasAgg(figure)
        grid = figure.add_gridspec(rows, _COLUMNS, **_grid_spacing(rows))
        for position, metric in enumerate(metrics):
            _draw_metric(figure.add_subplot(grid[divmod(position, _COLUMNS)]), metric, facets)
        label = f"{section.get('label', '?')} = {section.get('label_value_or_threshold', '?')}"
        figure.suptitle(f"{_STAGE_TITLES[stage]} — favourable outcome: {label}", fontsize=14)
        path.parent.mkdir(parents=True, exist_ok=True)
        render_png(figure, path)
    return path


def _plot_not_assessed(section: Mapping[str, Any], stage: str, path: Path) -> Path:
    """A one-panel chart that says no attribute was analysed, and why (so no reader mistakes it for a pass)."""
    with mpl.style.context("default"):
        figure = Figure(figsize=(_PANEL_INCHES[0] * 2, _PANEL_INCHES[1]), dpi=_DPI)
        FigureCanvasAgg(figure)
        reason = textwrap.fill(f"Not assessed: {section['not_assessed_reason']}", 2 * _TITLE_CHARACTERS)
        figure.text(0.5, 0.55, reason, ha="center", va="center", fontsize=11, wrap=True)
        figure.suptitle(_STAGE_TITLES[stage], fontsize=14)
        path.parent.mkdir(parents=True, exist_ok=True)
        render_png(figure, path)
    return path


def _figure_inches(rows: int) -> tuple[float, float]:
    return _PANEL_INCHES[0] * _COLUMNS, _PANEL_INCHES[1] * rows + _TITLE_INCHES


def _grid_spacing(rows: int) -> dict[str, float]:
    """Fixed margins and gaps (in inches, as fractions of the figure and of a panel), not a layout engine.

    matplotlib's constrained layout measured every text of every panel before drawing them and took
    half of the chart's time; the panels' contents are alike (a title, two-line facet ticks, an axis
    label each side), so margins sized for them once do the same job.
    """
    width, height = _figure_inches(rows)
    left, right, top, bottom = _MARGIN_INCHES
    gap_x, gap_y = _GAP_INCHES
    panel_width = (width - left - right - (_COLUMNS - 1) * gap_x) / _COLUMNS
    panel_height = (height - top - bottom - (rows - 1) * gap_y) / rows
    return {
        "left": left / width,
        "right": 1 - right / width,
        "top": 1 - top / height,
        "bottom": bottom / height,
        "wspace": gap_x / panel_width,
        "hspace": gap_y / panel_height,
    }


def _facet_rows(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (facet, value_or_threshold): its tick label and ``{metric: entry}``."""
    facets = section.get("facets")
    if not isinstance(facets, Mapping) or not facets:
        raise JobInputError("bias report section lists no facets")
    rows = []
    for name, entries in facets.items():
        for entry in entries:
            metrics = {metric["name"]: metric for metric in entry.get("metrics", [])}
            rows.append({"label": f"{name}\n{entry.get('value_or_threshold', '')}", "metrics": metrics})
    return rows


def _draw_metric(axes: Axes, metric: str, facets: list[dict[str, Any]]) -> None:
    positions = list(range(len(facets)))
    entries = [row["metrics"].get(metric, {}) for row in facets]
    values = [entry.get("value") for entry in entries]
    parity = 1.0 if metric in _PARITY_ONE else 0.0
    colours = [
        _OUTSIDE if _outside(value, entry.get("limit")) else _WITHIN
        for value, entry in zip(values, entries, strict=True)
    ]
    heights = [0.0 if value is None else float(value) - parity for value in values]
    bars = axes.bar(positions, heights, bottom=parity, color=colours, width=0.6)
    axes.axhline(parity, color="black", linewidth=0.8)
    for bar, value in zip(bars, values, strict=True):
        text = "undefined" if value is None else f"{float(value):.3f}"
        top = bar.get_y() + bar.get_height()
        axes.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, top),
            xytext=(0, 3 if bar.get_height() >= 0 else -3),
            textcoords="offset points",
            ha="center",
            va="bottom" if bar.get_height() >= 0 else "top",
            fontsize=8,
        )
    _draw_limits(axes, entries)
    description = next((entry.get("description") for entry in entries if entry.get("description")), metric)
    # An explicit y turns off matplotlib's automatic title placement, which measures the x axis of every panel
    # on each draw to dodge ticks on top; these panels have none there, so the title sits where it would anyway.
    axes.set_title(textwrap.fill(str(description), _TITLE_CHARACTERS), fontsize=10, y=1.0)
    axes.set_xticks(positions, [row["label"] for row in facets], fontsize=8)
    axes.set_xlabel("facet (facet d selector)", fontsize=8)
    axes.set_ylabel(f"{metric} value", fontsize=8)
    axes.margins(y=0.2)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=_Y_INTERVALS, steps=_Y_STEPS))


def _draw_limits(axes: Axes, entries: list[dict[str, Any]]) -> None:
    """Dashed lines for each facet's min / max, spanning that facet's bar slot."""
    drawn = False
    for position, entry in enumerate(entries):
        limit = entry.get("limit") or {}
        for bound in ("min", "max"):
            if limit.get(bound) is None:
                continue
            axes.hlines(
                float(limit[bound]),
                position - 0.45,
                position + 0.45,
                colors=_LIMIT,
                linestyles="dashed",
                linewidth=1.2,
                label="_nolegend_" if drawn else "limit",
            )
            drawn = True
    if drawn:
        axes.legend(loc="best", fontsize=7)


def _outside(value: Any, limit: Mapping[str, float] | None) -> bool:
    if not limit:
        return False
    if value is None:
        return True
    low, high = limit.get("min"), limit.get("max")
    return (low is not None and value < low) or (high is not None and value > high)
