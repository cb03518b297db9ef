"""Client traffic against a local endpoint while a deployment runs (demo and benchmarks).

Requests go over HTTP to the runtime's SageMaker-runtime-shaped path, one JSON applicant each,
at a steady rate; answers are counted per endpoint config (blue/green) and variant.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence


class TrafficGenerator:
    def __init__(self, base_url: str, endpoint: str, rows: Sequence[dict[str, str]], *, rate: float = 40.0) -> None:
        self._url = f"{base_url}/endpoints/{endpoint}/invocations"
        self._rows = list(rows)
        self._interval = 1.0 / rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self.by_config: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.sent = 0

    @staticmethod
    def rows_from_csv(data: bytes, features: Sequence[str]) -> list[dict[str, str]]:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        return [{name: row.get(name, "") for name in features} for row in reader]

    def _send(self, row: dict[str, str]) -> None:
        body = json.dumps({"instances": [row]}).encode()
        request = urllib.request.Request(  # noqa: S310 - the runtime's loopback endpoint
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                config = answer.headers.get("X-Mlops-Endpoint-Config") or "?"
                variant = answer.headers.get("X-Amzn-Invoked-Production-Variant") or "?"
                self.by_config[f"{config} ({variant})"] += 1
        except urllib.error.HTTPError as exc:
            self.errors[f"HTTP {exc.code}"] += 1
        except OSError as exc:
            self.errors[type(exc).__name__] += 1

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._send(self._rows[self.sent % len(self._rows)])
            self.sent += 1
            next_at += self._interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> TrafficGenerator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
