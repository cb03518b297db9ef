"""Evidence for a local execution's page: its reports on disk, as ``file:`` URIs (the page shows them as paths).

The local runtime mounts the history pages with these links and ``mlops ui`` serves the same pages: both take
them from here, below the CLI, so the runtime never imports the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

_REPORT_IN_CAUSE = re.compile(r"report: (s3://[^\s)]+)")


def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key.split("?", 1)[0]


def local_evidence_links(data_dir: Path) -> Callable[[dict[str, Any]], dict[str, str]]:
    """Evidence for a local execution: its reports on disk, as ``file:`` URIs (the page shows them as paths)."""
    s3_root = data_dir.resolve() / "s3"

    def on_disk(bucket: str, key: str) -> str:
        return (s3_root / bucket / key).as_uri()

    def links(described: dict[str, Any]) -> dict[str, str]:
        found: dict[str, str] = {}
        for match in _REPORT_IN_CAUSE.finditer(str(described.get("cause") or "")):
            found.setdefault("Report named in the cause", on_disk(*_s3_parts(match.group(1))))
        try:
            output = json.loads(described.get("output") or "{}")
        except json.JSONDecodeError:
            output = {}
        for stage, label in (("validation", "Validation report"), ("gates", "Quality gates report")):
            report = (output.get(stage) or {}).get("report") or {}
            if report.get("bucket") and report.get("key"):
                found[label] = on_disk(report["bucket"], report["key"])
        evaluation = (output.get("evaluation") or {}).get("evaluation_uri")
        if isinstance(evaluation, str) and evaluation.startswith("s3://"):
            bucket, key = _s3_parts(evaluation)
            found["Evaluation (hold-out metrics)"] = on_disk(bucket, key.rstrip("/") + "/evaluation.json")
        found["Lambda logs (Powertools JSON)"] = (data_dir.resolve() / "logs").as_uri()
        return found

    return links
