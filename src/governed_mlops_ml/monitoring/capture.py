"""Captured traffic: the request rows recorded by SageMaker Data Capture, read back as the endpoint read them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from governed_mlops_ml.features import FeatureSpec
from governed_mlops_ml.monitoring.payloads import InferencePayload, parse_payload

__all__ = ["read_capture"]


def read_capture(files: Iterable[Path], spec: FeatureSpec) -> pd.DataFrame:
    """Raw feature rows of the requests recorded in SageMaker Data Capture JSON lines files.

    Each record's ``captureData.endpointInput`` (``CSV``, ``JSON`` or ``BASE64`` encoded) is decoded
    with :func:`parse_payload` and the feature spec, exactly as the endpoint read it. A record that
    cannot be decoded (e.g. a line torn by a crash) is skipped; the number skipped is in
    ``frame.attrs["skipped_records"]`` and the number read in ``frame.attrs["records"]``.
    """
    frames: list[pd.DataFrame] = []
    skipped = records = 0
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            records += 1
            try:
                payload = _captured_input(json.loads(line), spec)
            except (ValueError, KeyError, TypeError):
                skipped += 1
                continue
            frames.append(payload.frame(spec))
    frame = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(spec.raw_features), dtype=object)
    )
    frame.attrs["skipped_records"] = skipped
    frame.attrs["records"] = records
    return frame


def _captured_input(record: Mapping[str, Any], spec: FeatureSpec) -> InferencePayload:
    captured = record["captureData"]["endpointInput"]
    encoding = captured.get("encoding", "BASE64")
    data = captured["data"]
    body = base64.b64decode(data) if encoding == "BASE64" else str(data).encode("utf-8")
    return parse_payload(body, captured.get("observedContentType"), spec)
