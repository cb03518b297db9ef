"""PNG figures of the explainability report, drawn with matplotlib's Agg canvas.

The figure is built on an explicit ``Figure`` + ``FigureCanvasAgg`` (no pyplot, no global backend
state), with a fixed size, resolution and the font matplotlib ships, and is saved without the
"Software" metadata entry, so the same importance values always give the same PNG bytes (on the
same matplotlib version) and the bytes can be recorded in the model's lineage.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from governed_mlops.errors import JobInputError
from governed_mlops_ml.explain import humanise_feature_name
from governed_mlops_ml.plotting import render_png

__all__ = ["DEFAULT_TOP_N", "importance_bar_png"]

DEFAULT_TOP_N = 15
"""How many features the summary plot shows (the most important ones)."""

_BAR_COLOUR = "#1f5f8b"
_DPI = 100
_STYLE: dict[Any, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10.0,
    "axes.titlesize": 12.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "path.simplify": False,
}


def importance_bar_png(
    importance: Sequence[tuple[str, float]],
    *,
    title: str,
    x_label: str = "Mean |SHAP value| (log-odds)",
    top_n: int = DEFAULT_TOP_N,
) -> bytes:
    """A horizontal bar chart of the ``top_n`` largest importances, largest at the top, as PNG bytes.

    ``importance`` is ``[(feature, value), ...]`` as :func:`governed_mlops_ml.explain.global_importance`
    returns it; features are labelled in plain words and each bar carries its value.

    Raises:
        JobInputError: ``importance`` is empty or ``top_n`` is not positive.
    """
    if not importance:
        raise JobInputError("no feature importances to plot")
    if top_n < 1:
        raise JobInputError(f"top_n must be at least 1, got {top_n!r}")
    shown = sorted(importance, key=lambda item: -item[1])[:top_n]
    labels = [humanise_feature_name(name) for name, _ in reversed(shown)]
    values = [value for _, value in reversed(shown)]

    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(10.0, 1.2 + 0.42 * len(shown)), dpi=_DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        bars = axes.barh(range(len(values)), values, color=_BAR_COLOUR, height=0.7)
        axes.set_yticks(range(len(labels)), labels)
        axes.bar_label(bars, labels=[f"{value:.3f}" for value in values], padding=3, fontsize=9)
        axes.set_xlim(0.0, max(values) * 1.15 if max(values) > 0 else 1.0)
        axes.set_xlabel(x_label)
        axes.set_title(title, loc="left")
        axes.grid(axis="x", color="#dddddd", linewidth=0.8)
        axes.set_axisbelow(True)
        figure.tight_layout()
        buffer = io.BytesIO()
        render_png(figure, buffer)
    return buffer.getvalue()
