"""Invocation measurements as CloudWatch would count them, one append-only file per fleet (endpoint config).

Written by whichever process serves, read by whichever drives an update (its alarms) or reports statistics.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governed_mlops_local.endpoints.append_only import Appender

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["SCORE_BINS", "Measurement", "MetricsLog", "score_bins"]

SCORE_BINS = 1000
"""Scores are kept as counts per bin of width 1/SCORE_BINS."""
_RETAINED_MEASUREMENTS = 200_000


@dataclass(frozen=True)
class Measurement:
    """One invocation as CloudWatch would count it, for one fleet (endpoint config) and variant."""

    time: float
    endpoint_config_name: str
    variant: str
    status: int
    latency_ms: float
    rows: int = 0
    score_bins: Mapping[int, int] = field(default_factory=dict)
    """Scores of the predicted rows as counts per bin of width 1/1000 (bin = floor(score * 1000))."""

    def to_json_line(self) -> bytes:
        document = {
            "time": self.time,
            "endpoint_config": self.endpoint_config_name,
            "variant": self.variant,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 4),
            "rows": self.rows,
            "score_bins": {str(k): v for k, v in self.score_bins.items()},
        }
        return (json.dumps(document, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Measurement:
        return cls(
            time=float(document["time"]),
            endpoint_config_name=str(document["endpoint_config"]),
            variant=str(document["variant"]),
            status=int(document["status"]),
            latency_ms=float(document["latency_ms"]),
            rows=int(document.get("rows", 0)),
            score_bins={int(k): int(v) for k, v in document.get("score_bins", {}).items()},
        )


def score_bins(scores: npt.NDArray[np.float64]) -> dict[int, int]:
    """The scores as counts per bin (bin = floor(score * SCORE_BINS), clipped to the bins)."""
    import numpy as np  # noqa: PLC0415 - numpy arrives with the first model an endpoint loads, not with the runtime

    bins = np.clip(np.floor(scores * SCORE_BINS), 0, SCORE_BINS - 1).astype(np.int64)
    values, counts = np.unique(bins, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


@dataclass
class _Tail:
    """What has been read so far of one measurements file."""

    offset: int = 0
    partial: bytes = b""
    recent: deque[Measurement] = field(default_factory=lambda: deque(maxlen=_RETAINED_MEASUREMENTS))
    totals: dict[str, dict[str, Any]] = field(default_factory=dict)


def _count(tail: _Tail, m: Measurement) -> None:
    import numpy as np  # noqa: PLC0415 - see score_bins

    totals = tail.totals.setdefault(
        m.variant,
        {
            "invocations": 0,
            "4xx": 0,
            "5xx": 0,
            "rows": 0,
            "bins": np.zeros(SCORE_BINS, dtype=np.int64),
            "latencies": deque(maxlen=_RETAINED_MEASUREMENTS),
            "first": m.time,
            "last": m.time,
        },
    )
    totals["invocations"] += 1
    totals["last"] = max(totals["last"], m.time)
    if HTTPStatus.BAD_REQUEST <= m.status < HTTPStatus.INTERNAL_SERVER_ERROR:
        totals["4xx"] += 1
        return
    totals["latencies"].append(m.latency_ms)
    if m.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        totals["5xx"] += 1
        return
    totals["rows"] += m.rows
    for b, count in m.score_bins.items():
        totals["bins"][b] += count


def _variant_stats(config_name: str, variant: str, t: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np  # noqa: PLC0415 - see score_bins

    latencies = np.asarray(t["latencies"], dtype=np.float64)
    positives = int(t["bins"][SCORE_BINS // 2 :].sum())
    return {
        "EndpointConfigName": config_name,
        "VariantName": variant,
        "Invocations": t["invocations"],
        "Invocation4XXErrors": t["4xx"],
        "Invocation5XXErrors": t["5xx"],
        "PredictedRows": t["rows"],
        "PositivePredictionRate": positives / t["rows"] if t["rows"] else None,
        "ModelLatencyP50Ms": float(np.percentile(latencies, 50)) if latencies.size else None,
        "ModelLatencyP99Ms": float(np.percentile(latencies, 99)) if latencies.size else None,
        "FirstInvocation": datetime.fromtimestamp(t["first"], UTC).isoformat(),
        "LastInvocation": datetime.fromtimestamp(t["last"], UTC).isoformat(),
    }


class MetricsLog:
    """Per-fleet measurement files, read incrementally (each file from where the last read stopped)."""

    def __init__(self) -> None:
        self._writer = Appender()
        self._lock = threading.Lock()
        self._tails: dict[Path, _Tail] = {}

    def append(self, path: Path, measurement: Measurement) -> None:
        """Queue ``measurement`` for ``path`` (written by a background thread: see :mod:`.append_only`)."""
        self._writer.append(path, measurement.to_json_line())

    def flush(self) -> None:
        """Wait until every measurement appended in this process so far is in its file."""
        self._writer.flush()

    def _refresh(self, path: Path) -> _Tail:
        tail = self._tails.setdefault(path, _Tail())
        try:
            with path.open("rb") as handle:
                handle.seek(tail.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return tail
        tail.offset += len(chunk)
        data = tail.partial + chunk
        complete, _, tail.partial = data.rpartition(b"\n")
        for line in complete.splitlines():
            if not line.strip():
                continue
            measurement = Measurement.from_json(json.loads(line))
            tail.recent.append(measurement)
            _count(tail, measurement)
        return tail

    def since(self, path: Path, start: float) -> list[Measurement]:
        """The measurements of ``path`` from ``start`` (epoch seconds) on, within the most recent 200,000."""
        self._writer.flush()
        with self._lock:
            tail = self._refresh(path)
            return [m for m in tail.recent if m.time >= start]

    def summary(self, path: Path) -> dict[str, dict[str, Any]]:
        """Running totals per variant of every measurement in ``path``."""
        self._writer.flush()
        with self._lock:
            tail = self._refresh(path)
            return {variant: dict(totals) for variant, totals in tail.totals.items()}

    def variant_stats(self, path: Path, since: float | None = None) -> list[dict[str, Any]]:
        """Per variant of the fleet whose measurements ``path`` holds: invocations, 4xx and 5xx errors, rows,
        positive prediction rate (score >= 0.5), model latency p50 / p99 in ms; ``since`` as in :meth:`since`."""
        if since is None:
            totals = self.summary(path)
        else:
            tail = _Tail()
            for m in self.since(path, since):
                _count(tail, m)
            totals = tail.totals
        return [_variant_stats(path.stem, variant, t) for variant, t in sorted(totals.items())]

    def close(self) -> None:
        self._writer.close()
