"""No production module over 600 lines: a module that size does several jobs, and nobody wants to open it.

The modules that are still over the limit today are listed below with their size when they were listed: each may
shrink, none may grow, and an entry that is no longer needed must be removed (so the list only shrinks).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 600
#: Where production code lives: the CLI, local runtime and ML library (src/), and the Lambda layer (layers/).
PRODUCTION_DIRS = ("src", "layers")

#: Over the limit when this test was written (path → its lines on main at a261b4d). Splitting them is other
#: pieces of issue 17 item 3; when a module drops to MAX_LINES or below, delete its line here. Never add a line.
STILL_TOO_LONG = {
    # the Lambda layer's package
}


def _line_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for top in PRODUCTION_DIRS:
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            counts[path.relative_to(REPO_ROOT).as_posix()] = len(path.read_text(encoding="utf-8").splitlines())
    return counts


def test_no_production_module_is_over_the_limit() -> None:
    too_long = {
        path: lines for path, lines in _line_counts().items() if lines > MAX_LINES and path not in STILL_TOO_LONG
    }
    assert too_long == {}, f"over {MAX_LINES} lines: split these by job"


def test_a_listed_module_does_not_grow() -> None:
    counts = _line_counts()
    grown = {path: (counts[path], listed) for path, listed in STILL_TOO_LONG.items() if counts.get(path, 0) > listed}
    assert grown == {}, "(now, listed): a module over the limit may only shrink"


def test_the_list_holds_only_modules_still_over_the_limit() -> None:
    counts = _line_counts()
    done = sorted(path for path in STILL_TOO_LONG if counts.get(path, 0) <= MAX_LINES)
    assert done == [], "these are split or gone: remove them from STILL_TOO_LONG"
