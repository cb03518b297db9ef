"""Collect the benchmark results (e2e_local, burst, endpoint_load) into benchmarks/results/summary.json.

Run after the three benchmarks (``make bench`` does); a missing result is recorded as null. The
pipeline's ratios to the ML floor (measured by e2e_local) are copied to the top as ``ratios_to_floor``;
``ml_floor.json`` (``benchmarks/ml_floor.py --json``) is included when it exists.

Usage: .venv/bin/python benchmarks/summary.py
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from governed_mlops_local.runtime import find_project_dir

PROJECT = find_project_dir(Path(__file__).parent)
RESULTS = PROJECT / "benchmarks" / "results"
BENCHMARKS = ("e2e_local", "burst", "endpoint_load")
OPTIONAL = ("ml_floor",)
RATIOS = ("warm_ratio_to_floor", "fresh_ratio_to_floor")


def main() -> None:
    summary: dict[str, Any] = {"generated": datetime.now(UTC).isoformat(timespec="seconds")}
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        summary[name] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    e2e = summary["e2e_local"] or {}
    summary["ratios_to_floor"] = {name: e2e.get(name) for name in RATIOS}
    for name in OPTIONAL:
        path = RESULTS / f"{name}.json"
        if path.is_file():
            summary[name] = json.loads(path.read_text(encoding="utf-8"))
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    missing = [name for name in BENCHMARKS if summary[name] is None]
    print(f"written to {RESULTS / 'summary.json'}" + (f" (missing: {', '.join(missing)})" if missing else ""))


if __name__ == "__main__":
    main()
