"""Pages of running work keep themselves current without a meta refresh (axe-core's critical `meta-refresh`)."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta

from governed_mlops_local.ui.refresh import REFRESH_SCRIPT, REFRESH_SCRIPT_CSP
from governed_mlops_local.ui.render import render_execution, render_executions
from governed_mlops_local.ui.server import UiRoutes
from tests.unit.test_ui_pages import PIPELINE, T0, FakeStore, History, described


def _refresh_key(page: str) -> str | None:
    found = re.search(r'<main data-refresh-key="([0-9a-f]+)" data-refresh-seconds="(\d+)">', page)
    return found.group(1) if found else None


def test_a_running_execution_page_has_a_reload_link_a_pause_button_and_no_meta_refresh():
    events = History().started().ok("Record Request", "Pass").enter("Validate Data").events
    page = render_execution(described("RUNNING"), events, PIPELINE, links={}, now=T0 + timedelta(minutes=2))
    assert "http-equiv" not in page
    assert _refresh_key(page)
    assert 'data-refresh-seconds="10"' in page
    assert "as of 2026-03-01 03:02:00 UTC" in page
    assert '<a href="" data-testid="reload">Reload</a>' in page
    # The button does nothing without script, so it is hidden until the script shows it.
    assert re.search(r'<button type="button" id="refresh-toggle"[^>]*aria-pressed="false" hidden>', page)
    assert 'role="status"' in page
    assert page.count("<script>") == 1
    assert f"<script>{REFRESH_SCRIPT}</script>" in page


def test_a_finished_execution_page_has_no_script_and_no_refresh():
    page = render_execution(described("SUCCEEDED"), [], PIPELINE, links={})
    assert "<script" not in page
    assert "data-refresh-key" not in page
    assert 'data-testid="refresh"' not in page


def test_the_refresh_key_changes_with_new_events_and_not_with_the_clock():
    history = History().started().ok("Record Request", "Pass")
    first = render_execution(described("RUNNING"), list(history.events), PIPELINE, links={}, now=T0)
    later = render_execution(described("RUNNING"), list(history.events), PIPELINE, links={}, now=T0 + timedelta(1))
    history.enter("Validate Data")
    more = render_execution(described("RUNNING"), list(history.events), PIPELINE, links={}, now=T0)
    assert _refresh_key(first) == _refresh_key(later)
    assert _refresh_key(first) != _refresh_key(more)


def test_the_executions_list_refreshes_only_while_one_runs_and_its_key_follows_the_statuses():
    running = [described("RUNNING", name="data-a"), described("SUCCEEDED", name="data-b")]
    ended = [described("FAILED", name="data-a"), described("SUCCEEDED", name="data-b")]
    page = render_executions(running, now=T0)
    assert 'data-refresh-seconds="15"' in page
    assert "http-equiv" not in page
    assert _refresh_key(page) != _refresh_key(render_executions(running[:1], now=T0))
    assert "<script" not in render_executions(ended, now=T0)


def test_the_content_security_policy_allows_exactly_the_refresh_script():
    digest = base64.b64encode(hashlib.sha256(REFRESH_SCRIPT.encode()).digest()).decode()
    assert f"'sha256-{digest}'" == REFRESH_SCRIPT_CSP
    store = FakeStore({"data-run": (described("RUNNING", name="data-run"), History().started().events)})
    _, headers, body = UiRoutes(store, {}).handle("GET", "/executions/data-run")
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == REFRESH_SCRIPT_CSP
    assert policy["connect-src"] == "'self'"
    assert policy["default-src"] == "'none'"
    # The script on the page is byte for byte the one the hash allows.
    [inline] = re.findall(r"<script>(.*?)</script>", body.decode(), flags=re.S)
    assert inline == REFRESH_SCRIPT
