"""Data capture of an endpoint's invocations, in SageMaker's record format and S3 layout.

Records are JSON lines under ``<endpoint>/capture/<variant>/YYYY/MM/DD/HH/capture.jsonl``, sampled at
the endpoint config's InitialSamplingPercentage; :meth:`DataCapture.upload` copies them to the
config's DestinationS3Uri.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from governed_mlops.adapters.object_store import LocalObjectStore
from governed_mlops.models import S3Ref
from governed_mlops_local.endpoints.append_only import Appender
from governed_mlops_local.endpoints.naming import invalid
from governed_mlops_local.endpoints.store import EndpointStore
from governed_mlops_ml.monitoring import media_type

#: SamplingPercentage is a percentage of requests.
_ALL_REQUESTS = 100

__all__ = ["DataCapture", "Invocation", "capture_destination", "check_capture_config"]


def capture_destination(capture: Mapping[str, Any]) -> tuple[str, str]:
    """The bucket and key prefix of a DataCaptureConfig's DestinationS3Uri; ValidationException if not s3://."""
    uri = str(capture["DestinationS3Uri"])
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise invalid(f"DataCaptureConfig.DestinationS3Uri must be an s3:// URI, got {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.strip("/")


def check_capture_config(capture: Mapping[str, Any]) -> None:
    """ValidationException for a DataCaptureConfig CreateEndpointConfig refuses."""
    capture_destination(capture)
    percentage = capture["InitialSamplingPercentage"]
    if not 0 <= percentage <= _ALL_REQUESTS:
        raise invalid(f"DataCaptureConfig.InitialSamplingPercentage must be 0-100, got {percentage}")


@dataclass(frozen=True)
class Invocation:
    """One answered request, as data capture records it."""

    endpoint_name: str
    endpoint_config_name: str
    variant: str
    body: bytes
    content_type: str
    answer: bytes
    answer_type: str
    latency_ms: float
    inference_id: str | None = None


def _payload(data: bytes, observed: str, mode: str, capture: Mapping[str, Any]) -> dict[str, Any]:
    """Captured data as SageMaker encodes it: as text for the configured CSV and JSON types, else base64."""
    headers = capture.get("CaptureContentTypeHeader") or {}
    csv_types = {media_type(t) for t in headers.get("CsvContentTypes", ["text/csv"])}
    json_types = {media_type(t) for t in headers.get("JsonContentTypes", ["application/json"])}
    kind = media_type(observed)
    encoding = "CSV" if kind in csv_types else "JSON" if kind in json_types else "BASE64"
    try:
        text = data.decode("utf-8") if encoding != "BASE64" else base64.b64encode(data).decode()
    except UnicodeDecodeError:
        encoding, text = "BASE64", base64.b64encode(data).decode()
    return {"observedContentType": observed, "mode": mode, "data": text, "encoding": encoding}


def _record(invocation: Invocation, capture: Mapping[str, Any], moment: datetime) -> dict[str, Any]:
    modes = {option["CaptureMode"] for option in capture["CaptureOptions"]}
    capture_data: dict[str, Any] = {}
    if modes & {"Input", "InputAndOutput"}:
        capture_data["endpointInput"] = _payload(invocation.body, invocation.content_type, "INPUT", capture)
    if modes & {"Output", "InputAndOutput"}:
        capture_data["endpointOutput"] = _payload(invocation.answer, invocation.answer_type, "OUTPUT", capture)
    inference_id = invocation.inference_id
    return {
        "captureData": capture_data,
        "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "variant": invocation.variant,
            "latencyMs": round(invocation.latency_ms, 3),
            # Not in SageMaker's record: blue and green fleets often share a variant name.
            "endpointConfigName": invocation.endpoint_config_name,
            **({"inferenceId": inference_id} if inference_id is not None else {}),
        },
        "eventVersion": "0",
    }


class DataCapture:
    """Samples and records invocations of endpoints whose config enables capture; uploads the records.

    ``draw`` returns a uniform number in [0, 1) for the sampling decision (the hosting's seeded draws).
    """

    def __init__(self, endpoints: EndpointStore, objects: LocalObjectStore, draw: Callable[[], float]) -> None:
        self._endpoints = endpoints
        self._objects = objects
        self._draw = draw
        self._writer = Appender()

    def close(self) -> None:
        self._writer.close()

    def _dir(self, endpoint_name: str) -> Path:
        return self._endpoints.endpoint_dir(endpoint_name) / "capture"

    def record(self, invocation: Invocation) -> None:
        """Capture ``invocation`` if its fleet's config captures and the sampling draw selects it."""
        capture = self._endpoints.config(invocation.endpoint_config_name).get("DataCaptureConfig")
        if not capture or not capture.get("EnableCapture", True):
            return
        if self._draw() * 100.0 >= float(capture["InitialSamplingPercentage"]):
            return
        moment = datetime.now(UTC)
        record = _record(invocation, capture, moment)
        hour = self._dir(invocation.endpoint_name) / invocation.variant / moment.strftime("%Y/%m/%d/%H")
        self._writer.append(hour / "capture.jsonl", (json.dumps(record, separators=(",", ":")) + "\n").encode())

    def files(self, endpoint_name: str) -> list[Path]:
        """The endpoint's local capture files, oldest hour first (with every record this process queued)."""
        self._writer.flush()
        return sorted(self._dir(endpoint_name).glob("*/*/*/*/*/capture.jsonl"), key=lambda p: p.parts[-6:])

    def upload(self, endpoint_name: str) -> list[S3Ref]:
        """Copy the capture files to the DestinationS3Uri of the endpoint's (newest capturing) config.

        Keys follow SageMaker's layout: ``<prefix>/<endpoint>/<variant>/YYYY/MM/DD/HH/capture.jsonl``;
        uploading again puts a new version holding every complete line written so far.
        """
        state = self._endpoints.require_state(endpoint_name)
        capture = self._endpoints.config(state["EndpointConfigName"]).get("DataCaptureConfig")
        if not capture:
            return []
        bucket, prefix = capture_destination(capture)
        uploaded = []
        base = self._dir(endpoint_name)
        for path in self.files(endpoint_name):
            data = path.read_bytes()
            data = data[: data.rfind(b"\n") + 1]
            key = "/".join(part for part in (prefix, endpoint_name, path.relative_to(base).as_posix()) if part)
            uploaded.append(self._objects.put(bucket, key, data, "application/jsonlines").ref)
        return uploaded
