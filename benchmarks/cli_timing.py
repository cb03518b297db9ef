"""Benchmark: wall time of each read command of ``mlops`` as a whole process.

Each command runs as its own process (interpreter start, imports, the read, the output), five times;
the table shows the median and the slowest run. The data directory is ``--data-dir`` if given, else
the project's ``.mlops`` if it holds state, else a fresh one made by one ``mlops demo`` run (~30 s).
The execution name and model version the commands read are taken from that data directory.

Prints the table and writes benchmarks/results/cli_timing.json.

Usage: .venv/bin/python benchmarks/cli_timing.py [--data-dir DIR] [--runs 5] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MLOPS = ROOT / ".venv" / "bin" / "mlops"
RESULTS = ROOT / "benchmarks" / "results" / "cli_timing.json"


def _run(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    begin = time.perf_counter()
    done = subprocess.run([str(MLOPS), *args], env=env, capture_output=True, check=False, cwd=ROOT)
    return time.perf_counter() - begin, done.returncode


def _make_state(data_dir: Path, env: dict[str, str]) -> None:
    print(f"making state in {data_dir} with one `mlops demo` run ...", flush=True)
    subprocess.run(
        # credit-risk is a high-risk model: two distinct approvers, or the demo waits for a person for ever
        [str(MLOPS), "demo", "--approve-as", "carol.approver", "--approve-as", "dave.risk"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        cwd=ROOT,
    )


def _newest(data_dir: Path, table: str, column: str, order: str) -> str:
    with sqlite3.connect(data_dir / table) as conn:
        row = conn.execute(f"SELECT {column} FROM {order}").fetchone()
    if row is None:
        raise SystemExit(f"no rows in {data_dir / table}: run `mlops demo` first")
    return str(row[0])


def _commands(data_dir: Path) -> list[list[str]]:
    execution = _newest(data_dir, "stepfunctions.db", "name", "executions ORDER BY start_date DESC")
    model_version = _newest(data_dir, "registry.db", "model_version", "model_versions ORDER BY rowid DESC")
    return [
        ["--help"],
        ["executions"],
        ["history", execution],
        ["history", execution[:12]],
        ["approvals"],
        ["models"],
        ["lineage", model_version],
        ["endpoints"],
        ["audit", "log"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="Always make a fresh data directory with mlops demo.")
    args = parser.parse_args()

    data_dir = args.data_dir or ROOT / ".mlops"
    if args.fresh or not (data_dir / "stepfunctions.db").exists():
        data_dir = Path(tempfile.mkdtemp(prefix="mlops-cli-timing-")) / "state"
    env = {**os.environ, "MLOPS_DATA_DIR": str(data_dir)}
    if not (data_dir / "stepfunctions.db").exists():
        _make_state(data_dir, env)

    rows: list[dict[str, Any]] = []
    for command in _commands(data_dir):
        timings: list[float] = []
        exit_codes: set[int] = set()
        for _ in range(args.runs):
            seconds, code = _run(command, env)
            timings.append(seconds)
            exit_codes.add(code)
        rows.append(
            {
                "command": "mlops " + " ".join(command),
                "median_s": round(statistics.median(timings), 3),
                "max_s": round(max(timings), 3),
                "exit_codes": sorted(exit_codes),
            }
        )

    width = max(len(r["command"]) for r in rows)
    print(f"{'COMMAND':<{width}}  {'MEDIAN':>7}  {'MAX':>7}  EXIT")
    for r in rows:
        shown = ",".join(str(c) for c in r["exit_codes"])
        print(f"{r['command']:<{width}}  {r['median_s']:>6.3f}s  {r['max_s']:>6.3f}s  {shown}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "runs_per_command": args.runs,
                "data_dir": str(data_dir),
                "python": sys.version.split()[0],
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "commands": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
