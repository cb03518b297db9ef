"""Which stored report files are figures, and how the pages embed them (``data:`` URIs only).

The bias and explain jobs write their charts as SVG; PNG, JPEG and GIF are embedded as they are. An
SVG is embedded only if it stays inside the small vocabulary the chart writer uses (shapes, text,
title and description, presentation attributes): no scripts, event handlers, links, styles, foreign
content or entity declarations. The pages put figures in ``<img>``, where a browser runs no script
anyway; the check keeps a tampered or foreign file from riding along in an archived evidence report.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

__all__ = ["FIGURE_SUFFIXES", "image_data_uri", "image_mime", "is_figure_key", "is_safe_svg"]

#: File suffixes of the figures a model version's reports hold (the jobs' charts).
FIGURE_SUFFIXES = (".svg", ".png")

_RASTER_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))
_SVG_TYPE = "image/svg+xml"
_SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
_SVG_ELEMENTS = frozenset({"svg", "title", "desc", "g", "rect", "line", "text", "tspan"})
_SVG_ATTRIBUTES = frozenset(
    {
        "xmlns", "version", "role", "aria-labelledby", "aria-label", "id", "class", "width", "height", "viewBox",
        "x", "y", "x1", "y1", "x2", "y2", "dx", "dy", "fill", "stroke", "stroke-width", "stroke-dasharray",
        "font-family", "font-size", "font-weight", "font-style", "text-anchor", "transform", "opacity",
    }
)  # fmt: skip
#: A transform may only rotate, translate or scale by numbers.
_TRANSFORM = re.compile(r"^(?:\s*(?:rotate|translate|scale)\(\s*-?[\d.]+(?:[\s,]+-?[\d.]+)*\s*\))+\s*$")
#: Values never contain anything a browser could resolve to another resource.
_FORBIDDEN_VALUE = re.compile(r"url\(|javascript:|&|<", re.IGNORECASE)


def is_figure_key(key: str) -> bool:
    """Whether an object key names a figure (a chart file) rather than a JSON or HTML report."""
    return key.lower().endswith(FIGURE_SUFFIXES)


def is_safe_svg(data: bytes) -> bool:
    """Whether ``data`` is an SVG document made only of the chart writer's elements and attributes."""
    head = data[:512].lstrip()
    # No "<!": DOCTYPE, ENTITY, CDATA and comments are never written by the charts (and no DTD means no entities).
    if not (head.startswith((b"<svg", b"<?xml")) and b"<svg" in head) or b"<!" in data:
        return False
    try:
        root = ET.fromstring(data)  # noqa: S314 - no DTD can be present (checked above), so no entity expansion
    except ET.ParseError:
        return False
    return root.tag == f"{_SVG_NAMESPACE}svg" and all(_allowed(element) for element in root.iter())


def _allowed(element: ET.Element) -> bool:
    if not element.tag.startswith(_SVG_NAMESPACE) or element.tag[len(_SVG_NAMESPACE) :] not in _SVG_ELEMENTS:
        return False
    for name, value in element.attrib.items():
        if name not in _SVG_ATTRIBUTES or _FORBIDDEN_VALUE.search(value):
            return False
        if name == "transform" and not _TRANSFORM.match(value):
            return False
    return True


def image_mime(data: bytes) -> str | None:
    """The media type of a figure the pages may embed; ``None`` for anything else (never embedded)."""
    raster = next((kind for signature, kind in _RASTER_TYPES if data.startswith(signature)), None)
    if raster is not None:
        return raster
    return _SVG_TYPE if is_safe_svg(data) else None


def image_data_uri(data: bytes) -> str | None:
    """A ``data:`` URI of the figure, or ``None`` when :func:`image_mime` does not accept it."""
    mime = image_mime(data)
    return None if mime is None else f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
