"""SVG figure of the explainability report: the global feature importances as horizontal bars.

Written directly as SVG text (see :mod:`governed_mlops_ml.svg`): every feature name and value is
text, the ``<desc>`` lists them in order for screen readers, and the same importance values always
give the same bytes, so they can be recorded in the model's lineage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from governed_mlops.errors import JobInputError
from governed_mlops_ml.explain import humanise_feature_name
from governed_mlops_ml.svg import Drawing, nice_ticks, text_width

__all__ = ["BAR_COLOUR", "DEFAULT_TOP_N", "SUMMARY_PLOT_FILE", "importance_bar_svg"]

DEFAULT_TOP_N = 15
"""How many features the summary plot shows (the most important ones)."""
SUMMARY_PLOT_FILE = "shap_summary.svg"
"""The summary plot's file name in the explain job's output."""

BAR_COLOUR = "#1f5f8b"
_GRID = "#dddddd"
_PLOT_WIDTH = 560.0
_ROW = 42.0
_BAR_SHARE = 0.7
#: Above the bars: the title; below: the tick labels and the axis label.
_TOP, _BOTTOM = 50.0, 64.0
_RIGHT = 30.0
_FONT = 13.0
_TITLE_FONT = 16.0
_VALUE_FONT = 12.0
_X_INTERVALS = 5
#: Room right of the longest bar for its value, as a share of the largest importance.
_HEADROOM = 1.15


def importance_bar_svg(
    importance: Sequence[tuple[str, float]],
    *,
    title: str,
    x_label: str = "Mean |SHAP value| (log-odds)",
    top_n: int = DEFAULT_TOP_N,
) -> bytes:
    """A horizontal bar chart of the ``top_n`` largest importances, largest at the top, as SVG bytes.

    ``importance`` is ``[(feature, value), ...]`` as :func:`governed_mlops_ml.explain.global_importance`
    returns it; features are labelled in plain words and each bar carries its value.

    Raises:
        JobInputError: ``importance`` is empty, ``top_n`` is not positive, or a value is not a finite number.
    """
    if not importance:
        raise JobInputError("no feature importances to plot")
    if top_n < 1:
        raise JobInputError(f"top_n must be at least 1, got {top_n!r}")
    bad = [name for name, value in importance if not math.isfinite(value)]
    if bad:
        raise JobInputError(f"feature importances must be finite numbers; not so for {bad[:3]}")
    shown = sorted(importance, key=lambda item: -item[1])[:top_n]
    labels = [humanise_feature_name(name) for name, _ in shown]
    values = [float(value) for _, value in shown]
    left = 20.0 + max(text_width(label, _FONT) for label in labels)
    drawing = Drawing(left + _PLOT_WIDTH + _RIGHT, _TOP + _ROW * len(shown) + _BOTTOM)
    right = drawing.width - _RIGHT
    bottom = _TOP + _ROW * len(shown)
    largest = max(values)
    high = largest * _HEADROOM if largest > 0 else 1.0

    def x(value: float) -> float:
        return left + max(value, 0.0) / high * (right - left)

    drawing.text(left, _TOP - 22, title, size=_TITLE_FONT)
    for tick, text in nice_ticks(0.0, high, _X_INTERVALS):
        drawing.line(x(tick), _TOP, x(tick), bottom, stroke=_GRID, width=0.8)
        drawing.line(x(tick), bottom, x(tick), bottom + 4, stroke="#000000", width=0.8)
        drawing.text(x(tick), bottom + 18, text, size=_VALUE_FONT, anchor="middle")
    for row, (label, value) in enumerate(zip(labels, values, strict=True)):
        middle = _TOP + _ROW * (row + 0.5)
        height = _ROW * _BAR_SHARE
        drawing.rect(left, middle - height / 2, x(value) - left, height, fill=BAR_COLOUR, css_class="bar")
        drawing.text(left - 8, middle + _FONT / 3, label, size=_FONT, anchor="end", css_class="feature")
        drawing.text(x(value) + 4, middle + _VALUE_FONT / 3, f"{value:.3f}", size=_VALUE_FONT, css_class="value")
    drawing.line(left, _TOP, left, bottom, stroke="#000000", width=0.8)
    drawing.line(left, bottom, right, bottom, stroke="#000000", width=0.8)
    drawing.text((left + right) / 2, bottom + 46, x_label, size=_FONT, anchor="middle")
    words = "; ".join(
        f"{rank}. {label}: {value:.3f}" for rank, (label, value) in enumerate(zip(labels, values, strict=True), 1)
    )
    return drawing.to_bytes(title, f"{x_label}, largest first: {words}.")
