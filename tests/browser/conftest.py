"""Browser tests run in the system's headless Chromium (``playwright install`` cannot download here).

Without ``/usr/bin/chromium`` the tests are skipped on a workstation, but fail in CI (``CI=true``):
a CI run that silently skipped every page test would report green for pages nobody opened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    # Also belongs in pyproject's [tool.pytest.ini_options] markers; registered here so --strict-markers passes.
    config.addinivalue_line("markers", "browser: opens pages in headless Chromium (needs /usr/bin/chromium)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments, pointed at the Debian chromium package."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} not found: install it with `apt-get install -y chromium`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}. CI must install chromium before the browser tests run.", pytrace=False)
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where tests save what they saw (gitignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
