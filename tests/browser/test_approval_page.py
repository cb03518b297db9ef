"""An approver opens the signed link in Chromium, sees the evidence, clicks Approve; the run continues."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from governed_mlops.adapters.approvals import LocalApprovalStore, read_outbox
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops.domain.bias_plain import bias_findings
from governed_mlops_local import approval_client
from governed_mlops_local.runtime import LocalRuntime
from tests.browser.conftest import AccessibilityCheck
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR, pending_approval
from tests.unit.test_approval_page import BIAS, YOUNG, _page
from tests.unit.test_reports import _svg
from tests.waiting import until

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 812}


def _overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the viewport (0: nothing to scroll sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


@pytest.mark.slow
def test_approver_sees_the_evidence_and_approves_in_the_browser(page: Page, tmp_path: Path, screenshots: Path):
    data_dir = tmp_path / "data"
    # The browser's requests carry no identity header: the local gateway acts as its configured user.
    with LocalRuntime(PROJECT_DIR, data_dir, local_user="carol.approver") as runtime:
        _, deliveries = runtime.upload(
            GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/g.csv", requester="alice.engineer"
        )
        arn = deliveries[0].result["runs"][0]["execution_arn"]
        link = until(lambda: read_outbox(data_dir), 180, "the approval request")[-1]["attributes"]["link"]

        # Given the approval link, When it is opened
        page.goto(link)
        # Then the evidence is there and nothing was decided by opening it
        expect(page.get_by_role("heading", name="Review model credit-risk/1")).to_be_visible()
        expect(page.get_by_text("alice.engineer").first).to_be_visible()
        expect(page.get_by_test_id("approval-status")).to_have_text("pending")
        expect(page.get_by_text("Hold-out metrics against the quality gates")).to_be_visible()
        expect(page.locator("img").first).to_be_visible()
        page.screenshot(path=str(screenshots / "approval_evidence.png"), full_page=True)
        assert runtime.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        # And the decision panel, with the buttons, is on the first screen
        panel = page.get_by_test_id("decision-panel")
        expect(panel.get_by_role("button", name="Approve")).to_be_visible()
        expect(panel.get_by_test_id("reject-effect")).to_contain_text("Rejecting ends the run")
        assert page.get_by_role("button", name="Reject").bounding_box()["y"] < 2 * page.viewport_size["height"]
        # And the evidence report it links is the one whose sha256 the request recorded
        with page.expect_download() as download:
            page.get_by_test_id("evidence-report").click()
        saved = Path(download.value.path()).read_bytes()
        (approval,) = LocalApprovalStore(data_dir).list_records()
        assert hashlib.sha256(saved).hexdigest() == approval.evidence["report:evidence_report"]
        # And on a phone nothing overflows sideways
        page.set_viewport_size(PHONE)
        page.reload()
        page.screenshot(path=str(screenshots / "approval_evidence_375.png"))
        assert _overflow(page) == 0
        page.set_viewport_size({"width": 1280, "height": 800})

        # When Approve is clicked: credit-risk is high risk, so it waits for a second approver
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_test_id("decision-result")).to_contain_text("waiting for another approver")
        page.screenshot(path=str(screenshots / "approval_decided.png"))
        assert runtime.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        # And a second approver approves through the API
        approval_client.decide(link, "dave.risk", "approve", "second approval")
        (result,) = runtime.wait([arn], timeout=300)
        # And the link, opened again, shows the decision and who made it
        page.goto(link)
        expect(page.get_by_test_id("decided-by")).to_have_text("carol.approver, dave.risk")
        page.screenshot(path=str(screenshots / "approval_link_after_decision.png"))

    # Then the execution proceeded and the model version records the approver
    assert result["status"] == "SUCCEEDED", result.get("cause")
    record = LocalModelRegistry(data_dir).list_versions()[0]
    assert record.approval is not None
    assert record.approval.decided_by == "carol.approver, dave.risk"


def test_the_page_fits_a_375_px_screen_with_wide_plots_and_long_hashes(
    page: Page, screenshots: Path, assert_accessible: AccessibilityCheck
):
    # Given a page with a plot as wide as the bias job draws them and the long digests of the lineage
    wide = _svg(1680, 40)
    html = _page(
        images={"bias_post_plot": wide, "shap_plot": wide},
        findings=bias_findings(BIAS, groups={YOUNG: "applicants aged 25 or younger"}),
        approval=pending_approval(datetime.now(UTC)).model_copy(update={"evidence": {"model": "f" * 64}}),
    )
    # When it is shown on a phone
    page.set_viewport_size(PHONE)
    page.set_content(html)
    page.screenshot(path=str(screenshots / "approval_page_375.png"), full_page=True)
    assert_accessible(page, "approval_page_375")
    # Then nothing overflows sideways: the plot scrolls inside its own box, at its own size
    assert _overflow(page) == 0
    plot = page.locator("[data-testid='plot-bias_post_plot'] .plot")
    assert plot.evaluate("box => box.scrollWidth > box.clientWidth")
    assert page.locator("[data-testid='plot-bias_post_plot'] img").evaluate("img => img.clientWidth") == 1680
    # And the decision panel and its buttons come first, the acronyms open to their meaning
    assert (
        page.get_by_role("button", name="Approve").bounding_box()["y"]
        < page.get_by_test_id(f"facet-{YOUNG}").bounding_box()["y"]
    )
    page.locator("details.acr summary", has_text="DPPL").first.click()
    expect(page.get_by_text("Difference in Positive Proportions in Predicted Labels").first).to_be_visible()
    expect(page.get_by_test_id("four-fifths").first).to_contain_text("under four-fifths")
