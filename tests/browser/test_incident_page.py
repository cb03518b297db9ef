"""On-call, from the alert's link to the cause: a real failed run, its alert read from the local outbox,
the incident page in headless Chromium (cause, next action, a click in the state graph, the filtered table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops_local.runtime import LocalRuntime
from tests.browser.conftest import AccessibilityCheck
from tests.browser.test_history_page import without_last_column
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR

pytestmark = pytest.mark.browser


def test_on_call_goes_from_the_alert_link_to_the_cause_and_the_next_action(  # noqa: PLR0915 - one journey, step by step, as a person takes it
    page: Page, tmp_path: Path, output_path: str, assert_accessible: AccessibilityCheck
) -> None:
    shots = Path(output_path)
    shots.mkdir(parents=True, exist_ok=True)
    data_dir = tmp_path / "data"
    with LocalRuntime(PROJECT_DIR, data_dir) as runtime:
        # Given a dataset without its target column, uploaded by bob: the run fails in Validate Data
        _, deliveries = runtime.upload(
            without_last_column(GERMAN_CREDIT.read_bytes()), "datasets/credit-risk/broken.csv", requester="bob.engineer"
        )
        [result] = runtime.wait([deliveries[0].result["runs"][0]["execution_arn"]], timeout=300)
        assert result["status"] == "FAILED", result
        name = result["name"]
        [alert] = [m for m in read_outbox(data_dir) if m["attributes"].get("execution") == name]
        assert alert["attributes"]["kind"] == "alert"

        # When on-call opens the alert's link
        page.goto(alert["attributes"]["history"])

        # Then the cause comes first, blaming the state the alert blames, in plain words
        expect(page.get_by_test_id("failed-state")).to_have_text(alert["attributes"]["failed_state"])
        expect(page.get_by_test_id("failed-outcome")).to_have_text("fault: someone must fix it")
        expect(page.get_by_test_id("incident-meaning")).to_contain_text("The dataset failed validation")
        # And the next action is the upload of a corrected file, not a redrive that would fail the same way
        action = page.get_by_test_id("next-action")
        expect(action).to_have_count(1)
        expect(action).to_have_attribute("data-kind", "new-data")
        expect(page.get_by_test_id("next-command")).to_have_text(
            "mlops upload CORRECTED.csv --model credit-risk --key datasets/credit-risk/broken.csv"
        )
        expect(page.get_by_test_id("incident")).not_to_contain_text("mlops redrive")
        # And who triggered it, what production serves and that there is nothing earlier to compare with
        expect(page.get_by_test_id("trigger")).to_contain_text("bob.engineer uploaded datasets/credit-risk/broken.csv")
        expect(page.get_by_test_id("serving")).to_contain_text("Nothing deployed")
        expect(page.get_by_test_id("no-baseline")).to_contain_text("No earlier successful run of model credit-risk")
        # And the failed state's traceback and the validation report are inline
        detail = page.get_by_test_id("failed-state-detail")
        expect(detail.get_by_test_id("state-logs").first).to_contain_text("DataValidationError")
        expect(detail.get_by_test_id("evidence-inline")).to_contain_text('"target_missing"')
        page.screenshot(path=str(shots / "incident.png"), full_page=True)
        assert_accessible(page, "incident")

        # When on-call clicks "Validate Data" in the state graph
        page.get_by_test_id("state-Validate Data").click()
        # Then the page shows that state's details and only its events
        expect(page).to_have_url(f"{alert['attributes']['history']}?state=Validate%20Data#state-detail")
        state = page.get_by_test_id("state-detail")
        expect(state.get_by_role("heading", level=2)).to_have_text("State “Validate Data”")
        expect(state.get_by_test_id("state-input")).to_contain_text(name)
        rows = page.get_by_test_id("events-table").locator("tbody tr")
        expect(rows.first).to_contain_text("TaskStateEntered")
        for index in range(rows.count()):
            expect(rows.nth(index).locator("td").nth(3)).to_have_text("Validate Data")
        page.screenshot(path=str(shots / "state_clicked.png"), full_page=True)
        assert_accessible(page, "incident_state_clicked")

        # When the table is filtered to failures of every state with the form
        page.get_by_test_id("filter-state").select_option("")
        page.get_by_test_id("filter-type").select_option("failures")
        page.get_by_role("button", name="Filter").click()
        # Then only failure events are listed, and the URL holds the filter (a GET, nothing changed)
        expect(page).to_have_url(f"{alert['attributes']['history']}?state=&type=failures#events-h")
        expect(page.get_by_test_id("events-count")).to_contain_text("3 of")
        expect(rows).to_have_count(3)
        expect(rows.nth(0)).to_contain_text("LambdaFunctionFailed")
        page.screenshot(path=str(shots / "events_filtered.png"), full_page=True)
        assert_accessible(page, "incident_events_filtered")

        # And an unknown state in the address is a message on the page, not a server error
        response = page.goto(f"{alert['attributes']['history']}?state=Nope")
        assert response is not None
        assert response.status == 400
        expect(page.get_by_test_id("filter-problem")).to_contain_text("No state named 'Nope'")
        assert_accessible(page, "incident_unknown_state")
