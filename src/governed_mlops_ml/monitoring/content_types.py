"""The endpoint's content types, body limit and refusals: what the local runtime needs without numpy or pandas.

The local endpoint's invocation path negotiates the answer's type and refuses bad requests before any
row is decoded; this module holds that part of :mod:`.payloads`, so the runtime can start (and import
its endpoint code) without the scientific stack, which it loads with the first model.
"""

from __future__ import annotations

CSV_CONTENT_TYPE = "text/csv"
JSON_CONTENT_TYPE = "application/json"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""SageMaker real-time endpoints refuse request bodies above 6 MB."""

__all__ = [
    "CSV_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "MAX_PAYLOAD_BYTES",
    "PayloadError",
    "media_type",
    "negotiate_accept",
]


class PayloadError(ValueError):
    """A request body, content type or accept header the model cannot serve; ``status_code`` is the HTTP status."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def media_type(header: str | None) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv`` (lower case, parameters dropped)."""
    return (header or "").split(";", 1)[0].strip().lower()


def negotiate_accept(accept: str | None) -> str:
    """The content type to answer in: CSV (the default, and for ``*/*``) or JSON.

    Raises:
        PayloadError: 406 when the accept header names neither CSV, JSON nor a wildcard.
    """
    return _negotiate(accept)


def _negotiate(accept: str | None) -> str:
    if accept is None or not accept.strip():
        return CSV_CONTENT_TYPE
    for candidate in accept.split(","):
        kind = media_type(candidate)
        if kind in (CSV_CONTENT_TYPE, JSON_CONTENT_TYPE):
            return kind
        if kind in ("*/*", "text/*"):
            return CSV_CONTENT_TYPE
        if kind == "application/*":
            return JSON_CONTENT_TYPE
    raise PayloadError(406, f"unsupported accept {accept!r}: ask for {CSV_CONTENT_TYPE} or {JSON_CONTENT_TYPE}")
