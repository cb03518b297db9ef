"""Writing a matplotlib figure as a reproducible PNG with a single draw.

``Figure.savefig`` draws a figure with a layout engine twice: once with rendering switched off, to
lay it out, then again to render. Drawing the Agg canvas once (the layout engine runs at the start
of that draw) and encoding its pixels gives the same bytes for about half the drawing; the bias
charts, twelve panels of text-heavy axes, spend most of their job's time there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, cast

import matplotlib.image
from matplotlib.figure import Figure

__all__ = ["render_png"]

#: matplotlib documents ``None`` as "leave this key out"; its stub only allows strings. Without the
#: "Software" entry the PNG holds no version or date text, only the picture.
_NO_SOFTWARE_ENTRY = cast(dict[str, str], {"Software": None})


def render_png(figure: Figure, target: Path | BinaryIO) -> None:
    """Draw ``figure`` on its Agg canvas once and write the pixels to ``target`` as PNG.

    The bytes equal ``figure.savefig(target, format="png", dpi=figure.dpi, metadata={"Software": None})``
    (the figure's own resolution, no ``bbox_inches``; its canvas must be a ``FigureCanvasAgg``).
    """
    canvas: Any = figure.canvas  # FigureCanvasAgg, which matplotlib leaves unannotated
    canvas.draw()
    matplotlib.image.imsave(
        target, canvas.buffer_rgba(), format="png", origin="upper", dpi=figure.dpi, metadata=_NO_SOFTWARE_ENTRY
    )
