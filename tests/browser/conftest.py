"""Browser tests run in the system's headless Chromium (``playwright install`` cannot download here).

Every page a test opens can be checked with the ``assert_accessible`` fixture (axe-core, bundled in the
axe-playwright-python wheel): a serious or critical violation fails the test.

Without ``/usr/bin/chromium`` the tests are skipped on a workstation, but fail in CI (``CI=true``):
a CI run that silently skipped every page test would report green for pages nobody opened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from governed_mlops_local.gateway import USER_HEADER
from governed_mlops_local.local_identity import SIGNATURE_HEADER, identity_key, sign_user

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


@pytest.fixture
def page_as(new_context: Callable[..., Any]) -> Callable[[str], Page]:
    """``page_as(user)``: a page in its own browser context whose requests the local gateway takes as ``user``.

    Each request carries the user and this OS user's signature of it, as the mlops CLI sends them; the gateway
    (in this process) checks them with the same key. Contexts close at the end of the test.
    """
    key = identity_key()

    def open_as(user: str) -> Page:
        context = new_context(extra_http_headers={USER_HEADER: user, SIGNATURE_HEADER: sign_user(user, key)})
        return context.new_page()

    return open_as


# -- accessibility ---------------------------------------------------------------------------------
#: Impacts that fail a page. axe-core also reports "moderate" and "minor" ones: they are saved with the
#: screenshot (axe-<name>.json) for review but do not fail the test.
FAILING_IMPACTS = frozenset({"serious", "critical"})


def blocking_violations(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The violations in an ``axe.run`` result whose impact is serious or critical."""
    return [v for v in results.get("violations", []) if v.get("impact") in FAILING_IMPACTS]


def describe_violations(violations: Sequence[Mapping[str, Any]]) -> str:
    """One paragraph per violation: rule id, impact, what the rule asks, and the offending nodes' CSS targets."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation.get('impact')}): {violation.get('help')}")
        lines.append(f"  {violation.get('helpUrl', '')}")
        lines.extend(f"    at {' '.join(map(str, node.get('target', [])))}" for node in violation.get("nodes", []))
    return "\n".join(lines)


class AccessibilityCheck(Protocol):
    def __call__(self, page: Page, name: str) -> dict[str, Any]: ...


@pytest.fixture
def assert_accessible(output_path: str) -> AccessibilityCheck:
    """``assert_accessible(page, name)``: axe-core on the page as it is now; fails on serious/critical violations.

    Saves a full-page screenshot (``<name>.png``) and axe's full result (``axe-<name>.json``) under the
    test's output dir (pytest-playwright's ``--output``, default ``test-results/<test id>/``), and
    returns the result. axe-core ships inside the axe-playwright-python wheel: nothing is downloaded.
    """
    out = Path(output_path)

    def check(page: Page, name: str) -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        results: dict[str, Any] = Axe().run(page).response
        (out / f"axe-{name}.json").write_text(json.dumps(results["violations"], indent=2), encoding="utf-8")
        blocking = blocking_violations(results)
        if blocking:
            pytest.fail(
                f"{name} ({page.url}) has {len(blocking)} serious or critical accessibility violation(s):\n"
                + describe_violations(blocking),
                pytrace=False,
            )
        return results

    return check
