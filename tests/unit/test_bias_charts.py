"""The bias charts (governed_mlops_ml.bias_plots): SVG written directly, one panel per metric, whose content
(bars, values, limits, outside-limit colour, undefined metrics) is checked by reading the SVG back.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governed_mlops.domain.bias_names import METRIC_DESCRIPTIONS, STAGE_METRICS
from governed_mlops.errors import JobInputError
from governed_mlops.reports.images import image_mime
from governed_mlops_ml.bias import bias_report, parse_bias_config
from governed_mlops_ml.bias_plots import OUTSIDE_COLOUR, WITHIN_COLOUR, chart_file, plot_stage

SVG = "{http://www.w3.org/2000/svg}"
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


def _metric(name: str, value: float | None, limit: dict[str, float] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "description": METRIC_DESCRIPTIONS[name], "value": value}
    if limit is not None:
        entry["limit"] = limit
    return entry


def _one_metric_report(*values: tuple[str, float | None, dict[str, float] | None]) -> dict[str, Any]:
    """A pre-training report with only DPL, one facet per ``(facet, value, limit)``."""
    facets = {
        name: [{"value_or_threshold": "x", "metrics": [_metric("DPL", value, limit)]}] for name, value, limit in values
    }
    section = {"label": "credit", "label_value_or_threshold": "good", "facets": facets}
    return {"version": "1.0", "pre_training_bias_metrics": section}


def _draw(report: dict[str, Any], stage: str, tmp_path: Path) -> ET.Element:
    return ET.fromstring(plot_stage(report, stage, tmp_path / chart_file(stage)).read_bytes())


def _texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def _of_class(root: ET.Element, tag: str, css_class: str) -> list[ET.Element]:
    return [element for element in root.iter(f"{SVG}{tag}") if css_class in element.get("class", "").split()]


@pytest.mark.parametrize("stage", ["pre", "post"])
def test_there_is_one_panel_titled_per_metric(stage: str, tmp_path: Path) -> None:
    root = _draw(_report(stage), stage, tmp_path)

    titles = [text for text in _texts(root) if text.endswith(")") and "(" in text and "facet" not in text]

    assert [title.rsplit("(", 1)[1].rstrip(")") for title in titles] == list(STAGE_METRICS[stage])


@pytest.mark.parametrize("stage", ["pre", "post"])
def test_every_element_lies_inside_the_drawing(stage: str, tmp_path: Path) -> None:
    root = _draw(_report(stage), stage, tmp_path)
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))

    for element in root.iter():
        for name in ("x", "x1", "x2"):
            if element.get(name) is not None:
                assert 0 <= float(element.get(name, "")) <= width, ET.tostring(element)
        for name in ("y", "y1", "y2"):
            if element.get(name) is not None:
                assert 0 <= float(element.get(name, "")) <= height, ET.tostring(element)


def test_a_bar_outside_its_limits_is_red_and_one_within_is_blue(tmp_path: Path) -> None:
    limit = {"min": -0.1, "max": 0.1}
    root = _draw(_one_metric_report(("inside", 0.05, limit), ("outside", -0.3, limit)), "pre", tmp_path)

    within, outside = _of_class(root, "rect", "within"), _of_class(root, "rect", "outside")

    assert [bar.get("fill") for bar in within] == [WITHIN_COLOUR]
    assert [bar.get("fill") for bar in outside] == [OUTSIDE_COLOUR]
    # Bars grow from the parity line (0): the positive one ends where the negative one starts
    assert float(within[0].get("y", "")) + float(within[0].get("height", "")) == pytest.approx(
        float(outside[0].get("y", ""))
    )
    assert float(outside[0].get("height", "")) == pytest.approx(6 * float(within[0].get("height", "")), rel=1e-2)


def test_each_bar_carries_its_value_and_each_limit_a_dashed_line(tmp_path: Path) -> None:
    root = _draw(_one_metric_report(("sex", 0.05, {"min": -0.1, "max": 0.1}), ("age", 0.2, None)), "pre", tmp_path)

    values = ["".join(text.itertext()) for text in _of_class(root, "text", "value")]
    limits = _of_class(root, "line", "limit")

    assert values == ["0.050", "0.200"]
    assert len(limits) == 2  # min and max of the facet that has a limit; none for the other
    assert all(line.get("stroke-dasharray") for line in limits)
    assert "limit" in _texts(root)  # the legend


def test_limit_lines_sit_at_their_values_on_the_axis(tmp_path: Path) -> None:
    root = _draw(_one_metric_report(("sex", 0.0, {"min": -0.1, "max": 0.1})), "pre", tmp_path)
    low, high = sorted(float(line.get("y1", "")) for line in _of_class(root, "line", "limit"))
    [parity] = [float(line.get("y1", "")) for line in _of_class(root, "line", "parity")]

    # 0 is halfway between -0.1 and 0.1 (y grows downwards)
    assert low < parity < high
    assert parity == pytest.approx((low + high) / 2, abs=0.02)


def test_an_undefined_metric_has_no_bar_and_is_written_undefined_in_red_when_limited(tmp_path: Path) -> None:
    root = _draw(_one_metric_report(("sex", None, {"max": 0.1}), ("age", None, None)), "pre", tmp_path)

    assert _of_class(root, "rect", "bar") == []
    undefined = [text for text in _of_class(root, "text", "value") if "".join(text.itertext()) == "undefined"]
    assert [text.get("fill") for text in undefined] == [OUTSIDE_COLOUR, "#555555"]


def test_the_description_lists_every_value_with_its_limits_for_screen_readers(tmp_path: Path) -> None:
    root = _draw(_one_metric_report(("sex", -0.3, {"min": -0.1, "max": 0.1}), ("age", None, None)), "pre", tmp_path)

    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-title chart-desc"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None
    assert title.text == "Pre-training bias metrics (observed labels) — favourable outcome: credit = good"
    assert desc is not None
    assert desc.text == (
        "Difference in Positive Proportions in Labels (DPL): sex x: -0.300 (outside the limits min -0.1 and max 0.1); "
        "age x: undefined (no limit)."
    )


@pytest.mark.parametrize("stage", ["pre", "post"])
def test_the_chart_is_byte_identical_when_drawn_again_and_embeddable(stage: str, tmp_path: Path) -> None:
    first = plot_stage(_report(stage), stage, tmp_path / "first.svg").read_bytes()
    second = plot_stage(_report(stage), stage, tmp_path / "second.svg").read_bytes()

    assert first == second
    assert image_mime(first) == "image/svg+xml"
    assert not re.search(rb"\d\.\d{3,}", first.split(b"<desc")[0])  # coordinates rounded: no float noise


def test_facet_names_and_text_are_escaped(tmp_path: Path) -> None:
    root = _draw(_one_metric_report(("<b>&co", 0.1, None)), "pre", tmp_path)

    assert "<b>&co" in "".join(_texts(root))


def test_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match="unknown stage 'mid'"):
        plot_stage(_report("pre"), "mid", tmp_path / "x.svg")
