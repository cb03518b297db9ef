"""An approver opens the signed link in Chromium, sees the evidence, clicks Approve; the run continues."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from governed_mlops.adapters.approvals import read_outbox
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local import approval_client
from governed_mlops_local.runtime import LocalRuntime
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_approver_sees_the_evidence_and_approves_in_the_browser(page: Page, tmp_path: Path, screenshots: Path):
    data_dir = tmp_path / "data"
    # The browser's requests carry no identity header: the local gateway acts as its configured user.
    with LocalRuntime(PROJECT_DIR, data_dir, local_user="carol.approver") as runtime:
        _, deliveries = runtime.upload(
            GERMAN_CREDIT.read_bytes(), "datasets/credit-risk/g.csv", requester="alice.engineer"
        )
        arn = deliveries[0].result["runs"][0]["execution_arn"]
        deadline = time.monotonic() + 180
        while not read_outbox(data_dir):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        link = read_outbox(data_dir)[-1]["attributes"]["link"]

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

        # When Approve is clicked: credit-risk is high risk, so it waits for a second approver
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_test_id("decision-result")).to_contain_text("waiting for another approver")
        page.screenshot(path=str(screenshots / "approval_decided.png"))
        assert runtime.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        # And a second approver approves through the API
        approval_client.decide(link, "dave.risk", "approve", "second approval")
        (result,) = runtime.wait([arn], timeout=300)

    # Then the execution proceeded and the model version records the approver
    assert result["status"] == "SUCCEEDED", result.get("cause")
    record = LocalModelRegistry(data_dir).list_versions()[0]
    assert record.approval is not None
    assert record.approval.decided_by == "carol.approver, dave.risk"
