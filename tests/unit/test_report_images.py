"""Which figures the evidence pages embed (governed_mlops.reports.images): raster images as they are, SVG only
when it is made of the chart writer's shapes and text."""

from __future__ import annotations

import pytest

from governed_mlops.reports.images import image_data_uri, image_mime, is_figure_key, is_safe_svg
from governed_mlops_ml.svg import Drawing
from tests.unit.test_reports import _png, _svg

NS = "xmlns='http://www.w3.org/2000/svg'"


def test_the_charts_the_jobs_write_are_safe_svg() -> None:
    drawing = Drawing(100, 50)
    drawing.rect(1, 2, 3, 4, fill="#C44E52", css_class="bar outside")
    drawing.line(0, 10, 100, 10, stroke="#000000", dashed=True)
    drawing.text(5, 20, ["two", "lines"], size=10, rotate=True, anchor="middle", bold=True)

    assert image_mime(drawing.to_bytes("t", "d")) == "image/svg+xml"


@pytest.mark.parametrize(
    "document",
    [
        f"<svg {NS} onload='alert(1)'></svg>",
        f"<svg {NS}><script>alert(1)</script></svg>",
        f"<svg {NS}><a href='https://example.invalid'><text>x</text></a></svg>",
        f"<svg {NS}><image href='https://example.invalid/x.png'/></svg>",
        f"<svg {NS}><rect fill='url(https://example.invalid/#p)'/></svg>",
        f"<svg {NS}><style>rect{{fill:red}}</style></svg>",
        f"<svg {NS}><foreignObject><p>x</p></foreignObject></svg>",
        f"<svg {NS}><text transform='matrix(1 0 0 1 0 0) url(x)'>x</text></svg>",
        f"<?xml version='1.0'?><!DOCTYPE svg [<!ENTITY a 'aaaa'>]><svg {NS}><text>&a;</text></svg>",
        "<svg><text>no namespace</text></svg>",
        f"<svg {NS}><text>unclosed</svg>",
        "<html><svg></svg></html>",
    ],
    ids=[
        "event-handler",
        "script",
        "link",
        "external-image",
        "url-reference",
        "style",
        "foreign-object",
        "odd-transform",
        "entities",
        "no-namespace",
        "not-well-formed",
        "not-svg",
    ],
)
def test_svg_with_anything_beyond_shapes_and_text_is_refused(document: str) -> None:
    assert not is_safe_svg(document.encode())
    assert image_mime(document.encode()) is None
    assert image_data_uri(document.encode()) is None


def test_raster_images_are_recognised_by_their_signature() -> None:
    assert image_mime(_png()) == "image/png"
    assert image_mime(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert image_mime(b"GIF89a") == "image/gif"
    assert image_mime(b"\x00\x01") is None


def test_a_data_uri_carries_the_figure_s_type_and_bytes() -> None:
    assert image_data_uri(_svg()) is not None
    assert str(image_data_uri(b"GIF89a")) == "data:image/gif;base64,R0lGODlh"


@pytest.mark.parametrize(
    ("key", "figure"),
    [
        ("runs/x/bias-pre/pre_training_bias.svg", True),
        ("runs/x/explain/shap_summary.PNG", True),
        ("runs/x/bias-pre/analysis.json", False),
        ("evidence/v1/evidence_report.html", False),
    ],
)
def test_figure_keys_are_told_by_their_suffix(key: str, figure: bool) -> None:
    assert is_figure_key(key) is figure
