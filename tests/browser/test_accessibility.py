"""The accessibility check itself, and how pages of running work stay current without a meta refresh."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect

from governed_mlops_local.ui.server import UiRoutes
from tests.browser.conftest import AccessibilityCheck, blocking_violations
from tests.browser.test_history_page import serve
from tests.conftest import pending_approval
from tests.unit.test_approval_page import _page as approval_page
from tests.unit.test_reports import _png, _svg
from tests.unit.test_ui_pages import PIPELINE, FakeStore, History, described

pytestmark = pytest.mark.browser
NAME = "data-running"


def test_the_check_fails_on_serious_and_critical_violations_and_names_rule_impact_help_and_node(
    page: Page, assert_accessible: AccessibilityCheck, output_path: str
):
    # Given a page with a timed refresh (critical) and an image without a text alternative (critical)
    image = base64.b64encode(_png(20, 20)).decode()
    page.set_content(
        '<!doctype html><html lang="en"><head><title>t</title><meta http-equiv="refresh" content="30"></head>'
        f'<body><main><h1>Broken</h1><img id="chart" src="data:image/png;base64,{image}"></main></body></html>'
    )
    # When it is checked, Then the test fails with what is wrong and where
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_accessible(page, "broken")
    message = str(failed.value)
    assert "broken (about:blank) has 2 serious or critical accessibility violation(s)" in message
    assert "- meta-refresh (critical): Delayed refresh under 20 hours must not be used" in message
    assert "- image-alt (critical): Images must have alternative text" in message
    assert "at #chart" in message
    assert "dequeuniversity.com/rules/axe/" in message
    # And what it saw is saved under the test's output dir
    out = Path(output_path)
    assert (out / "broken.png").stat().st_size > 0
    saved = json.loads((out / "axe-broken.json").read_text())
    assert {v["id"] for v in saved} >= {"meta-refresh", "image-alt"}


def test_moderate_and_minor_findings_are_reported_but_do_not_fail(page: Page, assert_accessible: AccessibilityCheck):
    # Given a page whose only findings are moderate: no main landmark, no level-one heading
    page.set_content('<!doctype html><html lang="en"><head><title>t</title></head><body><p>Plain</p></body></html>')
    # When it is checked, Then it passes and the findings are in the result
    results = assert_accessible(page, "moderate")
    assert {v["impact"] for v in results["violations"]} == {"moderate"}
    assert blocking_violations(results) == []


# -- pages of running work ----------------------------------------------------------------------------
@pytest.fixture
def running() -> FakeStore:
    """One execution of the small pipeline, waiting in Validate Data; tests add events and end it."""
    events = History().started().ok("Record Request", "Pass").enter("Validate Data").events
    return FakeStore({NAME: (described("RUNNING", name=NAME), events)})


@pytest.fixture
def ui(running: FakeStore) -> Iterator[str]:
    yield from serve(UiRoutes(running, {described("RUNNING")["stateMachineArn"]: PIPELINE}, source="test"))


def _mark(page: Page) -> None:
    """A marker in the page's window: it is gone after a reload."""
    page.evaluate("window.__notReloaded = true")


def _reloaded(page: Page) -> bool:
    return not page.evaluate("window.__notReloaded === true")


def _tick(page: Page, seconds: int, requests: list[str]) -> None:
    """Advance the page's clock past one check and let any check it starts answer."""
    before = len(requests)
    page.clock.run_for(seconds * 1000)
    page.wait_for_timeout(300)
    if len(requests) > before:
        page.wait_for_load_state()


def test_a_running_execution_page_reloads_only_on_news_and_can_be_paused(
    page: Page, ui: str, running: FakeStore, assert_accessible: AccessibilityCheck
):
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if request.resource_type == "fetch" else None)
    page.clock.install()
    page.goto(f"{ui}/executions/{NAME}")
    # Given the page of a running execution: no meta refresh, a Reload link, the pause button, the live region
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    expect(page.get_by_test_id("reload")).to_have_text("Reload")
    toggle = page.get_by_role("button", name="Pause auto-refresh")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("status")).to_contain_text("Auto-refresh is on: every 10 s")
    assert_accessible(page, "history_running")
    _mark(page)
    # When nothing happens for a check: it fetched the page once and did not reload
    _tick(page, 11, fetched)
    assert len(fetched) == 1
    assert not _reloaded(page)

    # When the reader pauses: the pause holds across a reload of the tab
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("status")).to_contain_text("Auto-refresh is paused")
    page.reload()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    checks = len(fetched)
    _mark(page)
    # And when an event arrives while paused: no check is made, nothing reloads
    running.executions[NAME][1].extend(History().started().ok("Record Request", "Pass").enter("Validate Data").events)
    _tick(page, 25, fetched)
    assert len(fetched) == checks
    assert not _reloaded(page)

    # When resumed: the next check sees the new events and reloads
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    _tick(page, 11, fetched)
    assert _reloaded(page)
    expect(page.get_by_test_id("execution-status")).to_contain_text("RUNNING")

    # When the execution ends: one more reload, to a page with no refresh and no script
    _mark(page)
    info = running.executions[NAME][0]
    info.update(status="SUCCEEDED", stopDate=info["startDate"])
    _tick(page, 11, fetched)
    assert _reloaded(page)
    expect(page.get_by_test_id("execution-status")).to_contain_text("SUCCEEDED")
    expect(page.get_by_test_id("refresh")).to_have_count(0)
    assert page.locator("script").count() == 0
    assert_accessible(page, "history_succeeded")


def test_the_executions_list_of_running_work_keeps_current_and_is_accessible(
    page: Page, ui: str, running: FakeStore, assert_accessible: AccessibilityCheck
):
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if request.resource_type == "fetch" else None)
    page.clock.install()
    page.goto(f"{ui}/executions")
    expect(page.get_by_role("status")).to_contain_text("every 15 s")
    assert_accessible(page, "executions_list_running")
    _mark(page)
    running.executions[NAME][0]["status"] = "FAILED"
    _tick(page, 16, fetched)
    assert _reloaded(page)
    expect(page.get_by_test_id("refresh")).to_have_count(0)
    assert_accessible(page, "executions_list_ended")


def test_without_script_the_page_offers_a_reload_link_and_no_dead_button(
    new_context: Callable[..., BrowserContext], ui: str
):
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"{ui}/executions/{NAME}")
    expect(page.get_by_test_id("refresh")).to_contain_text("Still running: this page shows it as of")
    expect(page.get_by_test_id("refresh-toggle")).to_be_hidden()
    requests: list[Request] = []
    # Playwright tags the handler with an attribute, which a bound builtin (list.append) cannot take.
    page.on("request", lambda request: requests.append(request))  # noqa: PLW0108
    page.get_by_role("link", name="Reload").click()
    page.wait_for_load_state()
    assert [r.url for r in requests if r.is_navigation_request()] == [f"{ui}/executions/{NAME}"]


def test_the_on_call_pages_keep_their_contrast_in_the_dark_scheme(
    page: Page, ui: str, running: FakeStore, assert_accessible: AccessibilityCheck
):
    # The pages follow prefers-color-scheme; contrast is checked on the dark palette as well.
    page.emulate_media(color_scheme="dark")
    page.goto(f"{ui}/executions/{NAME}")
    assert_accessible(page, "history_running_dark")
    info = running.executions[NAME][0]
    info.update(status="FAILED", error="DataValidationError", cause="the target column is missing")
    info["stopDate"] = info["startDate"]
    page.goto(f"{ui}/executions/{NAME}")
    expect(page.get_by_test_id("failure")).to_be_visible()
    assert_accessible(page, "history_failed_dark")
    page.goto(f"{ui}/executions")
    assert_accessible(page, "executions_list_dark")


# -- approval page states no journey reaches in a few minutes ------------------------------------------
@pytest.mark.parametrize("status", ["expired", "approved", "rejected"])
def test_a_decided_or_expired_request_opened_after_its_link_expired_is_accessible(
    page: Page, status: str, assert_accessible: AccessibilityCheck
):
    pending = pending_approval(datetime.now(UTC))
    update: dict[str, object] = {"status": status, "decided_at": pending.requested_at, "reason": "checked"}
    if status != "expired":
        update["decided_by"] = "carol.approver"
    wide = _svg(1680, 40)
    page.set_content(
        approval_page(
            approval=pending.model_copy(update=update),
            csrf_token=None,
            link_expired=True,
            images={"bias_post_plot": wide, "shap_plot": wide},
        )
    )
    expect(page.get_by_test_id("decision")).to_have_text(status.title())
    expect(page.get_by_role("button")).to_have_count(0)
    assert_accessible(page, f"approval_page_{status}_link_expired")
