"""The bias charts' fixed layout (governed_mlops_ml.bias_plots): one panel per metric, every panel's texts
inside the figure and clear of every other panel, as the constrained layout engine it replaced guaranteed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from governed_mlops.domain.bias_names import STAGE_METRICS
from governed_mlops_ml import bias_plots
from governed_mlops_ml.bias import bias_report, parse_bias_config

ROWS = 40
FRAME = pd.DataFrame(
    {
        "credit": ["good", "bad", "good", "good", "bad"] * (ROWS // 5),
        "personal_status_and_sex": ["female : married", "male : single", "female : single", "male : married"] * 10,
        "age": [22, 40, 25, 26, 61, 19, 33, 45] * 5,
        "foreign_worker": ["yes", "no"] * 20,
        "purpose": ["car (new)", "radio/television", "education", "business"] * 10,
    }
)
CONFIG = parse_bias_config(
    {
        "label": "credit",
        "positive_label": "good",
        "group_column": "purpose",
        "facets": [
            {"name": "sex", "column": "personal_status_and_sex", "prefix": "female"},
            {"name": "age_25_or_younger", "column": "age", "threshold": 25},
            {"name": "foreign_worker", "column": "foreign_worker", "values": ["yes"]},
        ],
        "thresholds": {"sex": {"DPL": {"min": -0.1, "max": 0.1}, "DI": {"min": 0.8, "max": 1.25}}},
    }
)


def _report(stage: str) -> dict[str, Any]:
    if stage == "pre":
        return bias_report(FRAME, CONFIG, stage="pre")
    predicted = np.random.default_rng(7).integers(0, 2, size=ROWS)
    features = np.column_stack([FRAME["age"].to_numpy(dtype=float), (FRAME["foreign_worker"] == "yes").to_numpy()])
    return bias_report(
        FRAME, CONFIG, stage="post", predicted=predicted, features=features, feature_sources=["age", "foreign_worker"]
    )


@pytest.fixture(params=["pre", "post"])
def drawn(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Figure]:
    """The stage's chart as plot_stage drew it into its PNG."""
    stage: str = request.param
    captured: list[Figure] = []
    render = bias_plots.render_png

    def keep(figure: Figure, target: Any) -> None:
        captured.append(figure)
        render(figure, target)

    monkeypatch.setattr(bias_plots, "render_png", keep)
    bias_plots.plot_stage(_report(stage), stage, tmp_path / "chart.png")
    [figure] = captured
    return stage, figure


def test_there_is_one_panel_per_metric_and_no_hidden_spare(drawn: tuple[str, Figure]) -> None:
    stage, figure = drawn

    titles = [axes.get_title() for axes in figure.axes]

    assert len(titles) == len(STAGE_METRICS[stage])
    assert all(axes.get_visible() for axes in figure.axes)
    assert [title.rsplit("(", 1)[1].rstrip(")") for title in titles] == list(STAGE_METRICS[stage])


def test_every_panel_with_its_title_ticks_and_labels_lies_inside_the_figure(drawn: tuple[str, Figure]) -> None:
    _, figure = drawn
    renderer = figure.canvas.get_renderer()
    page = figure.bbox

    for axes in figure.axes:
        box = axes.get_tightbbox(renderer)
        assert box is not None
        assert (box.x0, box.y0) >= (page.x0, page.y0), axes.get_title()
        assert (box.x1, box.y1) <= (page.x1, page.y1), axes.get_title()


def test_no_panel_overlaps_another_or_the_figure_title(drawn: tuple[str, Figure]) -> None:
    _, figure = drawn
    renderer = figure.canvas.get_renderer()
    boxes: list[tuple[str, Bbox]] = [(axes.get_title(), axes.get_tightbbox(renderer)) for axes in figure.axes]
    suptitle = figure.get_suptitle()
    assert suptitle
    boxes.append((suptitle, figure._suptitle.get_window_extent(renderer)))

    overlapping = [
        (first, second)
        for position, (first, box) in enumerate(boxes)
        for second, other in boxes[position + 1 :]
        if box.overlaps(other)
    ]

    assert overlapping == []
