"""The execution-history pages as on-call staff see them: a real failed execution, in headless Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from governed_mlops.errors import ExecutionNotFoundError
from governed_mlops_local.cli.ui import local_definitions
from governed_mlops_local.executions import ExecutionStore
from governed_mlops_local.runtime import LocalRuntime, find_project_dir
from governed_mlops_local.ui.evidence_links import local_evidence_links
from governed_mlops_local.ui.server import UiRoutes, serve_ui
from tests.browser.conftest import AccessibilityCheck
from tests.conftest import GERMAN_CREDIT

pytestmark = pytest.mark.browser
PROJECT = find_project_dir(Path(__file__).parent)


def without_last_column(csv_bytes: bytes) -> bytes:
    """The German credit data minus its target column: Validate Data must refuse it."""
    lines = csv_bytes.decode().splitlines()
    return ("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n").encode()


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data dir holding one execution of the real local pipeline that failed in Validate Data."""
    data_dir = tmp_path_factory.mktemp("ui-data")
    with LocalRuntime(PROJECT, data_dir) as rt:
        _, deliveries = rt.upload(without_last_column(GERMAN_CREDIT.read_bytes()), "datasets/credit-risk/broken.csv")
        [result] = rt.wait([deliveries[0].result["runs"][0]["execution_arn"]])
    assert result["status"] == "FAILED", result
    return data_dir, result["name"]


def serve(routes: UiRoutes) -> Iterator[str]:
    server, thread = serve_ui(routes, host="127.0.0.1", port=0)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def base_url_ui(failed_run: tuple[Path, str]) -> Iterator[str]:
    data_dir, _ = failed_run
    routes = UiRoutes(
        ExecutionStore(data_dir),
        local_definitions(PROJECT),
        local_evidence_links(data_dir),
        source=f"local data dir {data_dir}",
    )
    yield from serve(routes)


@pytest.fixture
def no_dialogs(page: Page) -> list[str]:
    """Messages of any alert/confirm the page opens: a page that runs injected script would open one."""
    opened: list[str] = []

    def record(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


def test_executions_list_shows_the_failed_execution_with_its_error(
    page: Page,
    base_url_ui: str,
    failed_run: tuple[Path, str],
    screenshots: Path,
    assert_accessible: AccessibilityCheck,
):
    _, name = failed_run
    page.goto(f"{base_url_ui}/")
    expect(page).to_have_url(f"{base_url_ui}/executions")
    expect(page).to_have_title("Pipeline executions")
    rows = page.get_by_test_id("execution-row")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name=name)).to_be_visible()
    expect(rows.first).to_contain_text("FAILED")
    expect(rows.first).to_contain_text("DataValidationError")
    expect(rows.first).to_contain_text("The target column is not in the header")
    page.screenshot(path=str(screenshots / "executions_list.png"), full_page=True)
    assert_accessible(page, "executions_list_failed")


def test_on_call_clicks_through_to_the_failed_state_error_and_cause(
    page: Page,
    base_url_ui: str,
    failed_run: tuple[Path, str],
    screenshots: Path,
    assert_accessible: AccessibilityCheck,
):
    _, name = failed_run
    # Given the executions list
    page.goto(f"{base_url_ui}/executions")
    # When on-call clicks the failed execution
    page.get_by_role("link", name=name).click()
    # Then its page opens with the failed state, error and cause at the top
    expect(page).to_have_url(f"{base_url_ui}/executions/{name}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    failure = page.get_by_test_id("failure")
    expect(failure).to_be_visible()
    expect(failure.get_by_role("heading")).to_have_text("Failed in state “Validate Data”")
    expect(page.get_by_test_id("failed-state")).to_have_text("Validate Data")
    expect(page.get_by_test_id("failed-error")).to_have_text("DataValidationError")
    cause = page.get_by_test_id("failed-cause")
    expect(cause).to_be_visible()
    expect(cause).to_contain_text("[target_missing] creditability")
    expect(cause).to_contain_text("The target column is not in the header")
    # And the failure box is above the fold: the first thing seen at 3 a.m.
    box = failure.bounding_box()
    assert box is not None
    assert box["y"] < (page.viewport_size or {"height": 720})["height"]
    # And the state graph marks Validate Data failed (in words too), what ran before it succeeded, the rest not reached
    validate = page.get_by_test_id("state-Validate Data")
    expect(validate).to_have_attribute("data-status", "failed")
    expect(validate).to_contain_text("failed: DataValidationError")
    expect(page.get_by_test_id("state-Record Request")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("state-Train Model")).to_have_attribute("data-status", "not_reached")
    expect(page.get_by_test_id("state-Pipeline Failed")).to_have_attribute("data-status", "failed")
    # And the events table highlights the Lambda failure
    failed_row = page.get_by_test_id("events-table").locator("tr.err", has_text="LambdaFunctionFailed")
    expect(failed_row).to_contain_text("Validate Data")
    # And the validation report named in the cause is listed as evidence
    expect(page.get_by_test_id("evidence")).to_contain_text("validation/report.json")
    page.screenshot(path=str(screenshots / "history_failed.png"), full_page=True)
    assert_accessible(page, "history_failed")


def test_history_json_link_gives_get_execution_history(page: Page, base_url_ui: str, failed_run: tuple[Path, str]):
    _, name = failed_run
    page.goto(f"{base_url_ui}/executions/{name}")
    with page.expect_response(re.compile(r"/history\.json$")) as response_info:
        page.get_by_role("link", name="Execution history (GetExecutionHistory JSON)").click()
    events = json.loads(response_info.value.body())["events"]
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionFailed"


def test_unknown_execution_page_says_what_to_do(page: Page, base_url_ui: str, assert_accessible: AccessibilityCheck):
    response = page.goto(f"{base_url_ui}/executions/data-does-not-exist")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Execution not found")
    assert_accessible(page, "execution_not_found")
    page.get_by_role("link", name="List the executions").click()
    expect(page).to_have_url(f"{base_url_ui}/executions")


class EvilStore:
    """One failed execution whose name, error and cause try to run script."""

    NAME = "x<script>alert('name')</script>"

    def __init__(self) -> None:
        self.info = {
            "executionArn": f"arn:aws:states:us-east-1:0:execution:m:{self.NAME}",
            "stateMachineArn": "arn:aws:states:us-east-1:0:stateMachine:m",
            "name": self.NAME,
            "status": "FAILED",
            "startDate": "2026-03-01T03:00:00+00:00",
            "stopDate": "2026-03-01T03:00:01+00:00",
            "error": "<img src=x onerror=alert('error')>",
            "cause": json.dumps({"errorMessage": "<svg onload=alert('cause')></svg>"}),
        }

    def list_executions(self) -> list[dict[str, Any]]:
        return [self.info]

    def describe(self, name_or_arn: str) -> dict[str, Any]:
        if name_or_arn not in (self.NAME, self.info["executionArn"]):
            raise ExecutionNotFoundError(name_or_arn)
        return self.info

    def history(self, name_or_arn: str) -> list[dict[str, Any]]:
        self.describe(name_or_arn)
        return []


@pytest.fixture
def evil_ui() -> Iterator[str]:
    yield from serve(UiRoutes(EvilStore(), {}, lambda _: {"<b>x</b>": "javascript:alert('link')"}))


def test_markup_in_execution_data_is_shown_as_text_never_run(page: Page, evil_ui: str, no_dialogs: list[str]):
    page.goto(f"{evil_ui}/executions")
    page.get_by_role("link", name=EvilStore.NAME).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(EvilStore.NAME)
    expect(page.get_by_test_id("failed-error")).to_have_text("<img src=x onerror=alert('error')>")
    expect(page.get_by_test_id("failed-cause")).to_have_text("<svg onload=alert('cause')></svg>")
    expect(page.get_by_test_id("evidence")).to_contain_text("javascript:alert('link')")
    expect(page.get_by_test_id("evidence").get_by_role("link", name="<b>x</b>")).to_have_count(0)
    assert no_dialogs == []
