"""Samples the summed memory of a process and all its descendants from /proc, in a process of its own.

Run by benchmarks/burst.py as ``python benchmarks/tree_memory.py PID [INTERVAL]``: it samples every INTERVAL
seconds (0.25) until its standard input closes, then prints ``{"peak_kb": N, "peak_pss_kb": N}``. Sampling in
the measured process took its interpreter lock every quarter second (reading /proc for every process, and
each tree process's smaps_rollup), from the runtime whose throughput the burst measures.

``peak_kb`` sums resident sets, counting a page once per process that maps it: the job zygote's forked jobs
share most of their pages with it, so this overstates the tree's memory. ``peak_pss_kb`` sums proportional
set sizes (a shared page split between its sharers): the memory the tree really holds. This sampler is not
counted.
"""

from __future__ import annotations

import json
import os
import select
import sys
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def tree_of(root: int) -> tuple[list[int], dict[int, int]]:
    """The PIDs of ``root``'s tree (this sampler left out), and every process's resident set in kB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text(encoding="ascii", errors="replace")
            fields = stat.rsplit(")", 1)[1].split()
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            rss[pid] = int(fields[21]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree and pid != os.getpid():
                tree.add(pid)
                grew = True
    return sorted(tree), rss


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def main() -> None:
    root = int(sys.argv[1])
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.25  # noqa: PLR2004 - PID and optional interval
    peak_kb = peak_pss_kb = 0
    while True:
        tree, rss = tree_of(root)
        peak_kb = max(peak_kb, sum(rss.get(pid, 0) for pid in tree))
        peak_pss_kb = max(peak_pss_kb, sum(pss_kb(pid) for pid in tree))
        if select.select([sys.stdin], [], [], interval)[0]:
            break  # standard input closed (or written to): the measurement is over
    print(json.dumps({"peak_kb": peak_kb, "peak_pss_kb": peak_pss_kb}))


if __name__ == "__main__":
    main()
