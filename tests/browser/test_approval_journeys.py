"""Approver journeys in Chromium on the real local pipeline, every page they visit checked with axe-core.

One local runtime serves the module: four uploads of German credit each stop at Request Approval (credit-risk is
high risk: two distinct approvers, none of whom triggered the run), one run per journey. Each browser context acts
as one person (signed identity headers, as the mlops CLI sends them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from governed_mlops.adapters.approvals import LocalApprovalStore, read_outbox
from governed_mlops.adapters.model_registry import LocalModelRegistry
from governed_mlops_local import approval_client
from governed_mlops_local.runtime import LocalRuntime
from tests.browser.conftest import AccessibilityCheck
from tests.conftest import GERMAN_CREDIT, PROJECT_DIR
from tests.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CAROL, DAVE, MALLORY = "carol.approver", "dave.risk", "mallory.viewer"
#: journey -> who uploaded the data (the run's originator, who may not approve its model)
JOURNEYS = {"approve": "alice.engineer", "reject": "alice.engineer", "four-eyes": DAVE, "outsider": "alice.engineer"}
WAIT_S = 300


@dataclass(frozen=True)
class Run:
    name: str
    arn: str
    link: str
    model_version: str


@dataclass(frozen=True)
class Journeys:
    runtime: LocalRuntime
    runs: dict[str, Run]

    @property
    def base(self) -> str:
        return self.runtime.gateway.url

    def history_url(self, run: Run) -> str:
        return f"{self.base}/executions/{quote(run.name, safe='')}"

    def status(self, run: Run) -> str:
        return str(self.runtime.sfn.describe_execution(executionArn=run.arn)["status"])


def _pending_requests(data_dir: Path, started: dict[str, str]) -> dict[str, Run]:
    """Each journey's run once its approval request has been published (link from the notification)."""

    def published() -> tuple[dict[str, str], dict[str, Any]] | None:
        links = {m["attributes"]["approval_id"]: m["attributes"]["link"] for m in read_outbox(data_dir)}
        records = {r.execution_name: r for r in LocalApprovalStore(data_dir).list_records()}
        ready = all(records.get(name) and records[name].approval_id in links for name in started.values())
        return (links, records) if ready else None

    links, records = until(published, WAIT_S, "every journey's approval request")
    return {
        journey: Run(
            name=name,
            arn=records[name].execution_arn,
            link=links[records[name].approval_id],
            model_version=records[name].model_version,
        )
        for journey, name in started.items()
    }


@pytest.fixture(scope="module")
def journeys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journeys]:
    data_dir = tmp_path_factory.mktemp("journeys")
    # Unsigned browser requests act as local_user: nobody who may decide.
    with LocalRuntime(PROJECT_DIR, data_dir, local_user="nobody.local") as runtime:
        started = {}
        for journey, requester in JOURNEYS.items():
            _, deliveries = runtime.upload(
                GERMAN_CREDIT.read_bytes(), f"datasets/credit-risk/{journey}.csv", requester=requester
            )
            started[journey] = deliveries[0].result["runs"][0]["execution_name"]
        yield Journeys(runtime, _pending_requests(data_dir, started))


def _end(journeys: Journeys, run: Run) -> dict[str, str]:
    return journeys.runtime.wait([run.arn], timeout=WAIT_S)[0]


def test_approve_two_approvers_the_first_sees_pending(  # noqa: PLR0915 - one journey, step by step, as a person takes it
    journeys: Journeys, page_as: Callable[[str], Page], assert_accessible: AccessibilityCheck, output_path: str
):
    run = journeys.runs["approve"]
    carol = page_as(CAROL)
    # Given the link from the notification, When the first approver opens it
    carol.goto(run.link)
    expect(carol.get_by_role("heading", name=f"Review model {run.model_version}")).to_be_visible()
    expect(carol.get_by_test_id("approval-status")).to_have_text("pending")
    expect(carol.get_by_test_id("approve-effect")).to_contain_text("the run keeps waiting for another approver")
    assert_accessible(carol, "approval_page")
    # And the full evidence report it offers is itself accessible
    with carol.expect_download() as download:
        carol.get_by_test_id("evidence-report").click()
    report = Path(output_path) / "evidence_report.html"
    download.value.save_as(report)
    reader = page_as(CAROL)
    reader.goto(report.as_uri())
    expect(reader.get_by_role("heading", level=1).first).to_be_visible()
    assert_accessible(reader, "evidence_report")

    # When she approves: the confirmation says the run waits for a second approver
    carol.get_by_label("Comment (optional)").fill("metrics and bias within limits")
    carol.get_by_role("button", name="Approve").click()
    expect(carol.get_by_role("heading", name="Approval recorded")).to_be_visible()
    expect(carol.get_by_test_id("decision-result")).to_contain_text("waiting for another approver")
    expect(carol.get_by_test_id("approval-progress")).to_contain_text("1 of 2")
    assert_accessible(carol, "confirmation_pending")
    assert journeys.status(run) == "RUNNING"

    # When the second approver opens the same link: one approval of two is shown, and he approves
    dave = page_as(DAVE)
    dave.goto(run.link)
    expect(dave.get_by_test_id("approval-progress").first).to_contain_text("1 of 2 (carol.approver)")
    expect(dave.get_by_test_id("approve-effect")).to_contain_text("Approving lets the run continue")
    assert_accessible(dave, "approval_page_second_approver")
    dave.get_by_role("button", name="Approve").click()
    expect(dave.get_by_role("heading", name="Decision recorded")).to_be_visible()
    expect(dave.get_by_test_id("decided-by")).to_have_text("carol.approver, dave.risk")
    expect(dave.get_by_test_id("run-effect")).to_contain_text("continues")
    assert_accessible(dave, "confirmation_approved")

    # Then the run deploys the model, and the link opened later shows who decided (never "expired")
    result = _end(journeys, run)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    carol.goto(run.link)
    expect(carol.get_by_test_id("decision")).to_have_text("Approved")
    expect(carol.get_by_test_id("decided-by")).to_have_text("carol.approver, dave.risk")
    expect(carol.get_by_text("expired", exact=False)).to_have_count(0)
    expect(carol.get_by_role("button")).to_have_count(0)
    assert_accessible(carol, "decided_link")
    # This run's version (the module's other journeys decide theirs too, in whatever order they run)
    [record] = [
        v for v in LocalModelRegistry(journeys.runtime.data_dir).list_versions() if v.model_version == run.model_version
    ]
    assert record.approval is not None
    assert record.approval.decided_by == "carol.approver, dave.risk"

    # And the executions list and the finished run's history page are accessible too
    carol.goto(f"{journeys.base}/executions")
    carol.get_by_role("link", name=run.name).click()
    expect(carol.get_by_test_id("execution-status")).to_contain_text("SUCCEEDED")
    expect(carol.get_by_test_id("refresh")).to_have_count(0)
    assert_accessible(carol, "history_succeeded")
    carol.get_by_role("link", name="All executions").click()
    expect(carol.get_by_test_id("executions-table")).to_be_visible()
    assert_accessible(carol, "executions_list")


def test_reject_ends_the_run_and_the_confirmation_says_so(
    journeys: Journeys, page_as: Callable[[str], Page], assert_accessible: AccessibilityCheck
):
    run = journeys.runs["reject"]
    carol = page_as(CAROL)
    carol.goto(run.link)
    expect(carol.get_by_test_id("reject-effect")).to_contain_text("Rejecting ends the run")
    # Given no reason, When Reject is clicked, Then the browser asks for one and nothing is decided
    carol.get_by_role("button", name="Reject").click()
    assert carol.get_by_label("Reason (required, recorded in the audit ledger)").evaluate("e => !e.validity.valid")
    expect(carol.get_by_test_id("approval-status")).to_have_text("pending")
    # When she rejects with a reason
    carol.get_by_label("Reason (required, recorded in the audit ledger)").fill("four-fifths rule flagged for age")
    carol.get_by_role("button", name="Reject").click()
    # Then the confirmation says the run ends, not that it continues
    expect(carol.get_by_role("heading", name="Decision recorded")).to_be_visible()
    expect(carol.get_by_test_id("decision-result")).to_contain_text("rejected")
    expect(carol.get_by_test_id("run-effect")).to_contain_text(f"Execution {run.name} ends")
    expect(carol.get_by_test_id("run-effect")).not_to_contain_text("continues")
    assert_accessible(carol, "confirmation_rejected")
    # And the run does end, as rejected: nothing deployed
    result = _end(journeys, run)
    assert (result["status"], result.get("error")) == ("FAILED", "ApprovalRejected")
    # And the link, opened again, shows the rejection and who made it
    carol.goto(run.link)
    expect(carol.get_by_test_id("decision")).to_have_text("Rejected")
    expect(carol.get_by_test_id("decided-by")).to_have_text(CAROL)
    expect(carol.get_by_role("button")).to_have_count(0)
    assert_accessible(carol, "decided_link_rejected")
    # And the history page of the rejected run
    carol.goto(journeys.history_url(run))
    expect(carol.get_by_test_id("execution-status")).to_contain_text("FAILED")
    assert_accessible(carol, "history_rejected")


def test_four_eyes_the_same_person_cannot_approve_twice_and_the_originator_cannot_approve(
    journeys: Journeys, page_as: Callable[[str], Page], assert_accessible: AccessibilityCheck
):
    run = journeys.runs["four-eyes"]  # uploaded by dave.risk, an approver
    # Given carol has the link open in two tabs
    carol = page_as(CAROL)
    carol.goto(run.link)
    stale = carol.context.new_page()
    stale.goto(run.link)
    # When she approves in the first: 1 of 2, pending
    carol.get_by_role("button", name="Approve").click()
    expect(carol.get_by_test_id("decision-result")).to_contain_text("waiting for another approver")
    # And approves again from the stale tab: refused, her approval counts once
    stale.get_by_role("button", name="Approve").click()
    expect(stale.get_by_test_id("error")).to_contain_text("carol.approver already approved " + run.model_version)
    expect(stale.get_by_test_id("error")).to_contain_text("the next approval must come from a different approver")
    expect(stale.get_by_text("HTTP 409")).to_be_visible()
    assert_accessible(stale, "refused_second_approval_409")
    # And the page, reloaded, offers her no second Approve (she may still reject)
    stale.goto(run.link)
    expect(stale.get_by_test_id("viewer-approved")).to_contain_text("You approved this model version")
    expect(stale.get_by_role("button", name="Approve")).to_have_count(0)
    expect(stale.get_by_role("button", name="Reject")).to_be_visible()
    assert_accessible(stale, "approval_page_after_own_approval")

    # When the originator, also an approver, opens the link: he sees why he may not decide and no buttons
    dave = page_as(DAVE)
    dave.goto(run.link)
    expect(dave.get_by_test_id("may-not-decide")).to_contain_text(
        "dave.risk triggered this run and may not approve its model"
    )
    expect(dave.get_by_role("button")).to_have_count(0)
    assert_accessible(dave, "approval_page_originator")
    # And a decision posted by him anyway (the API refuses it as the page did)
    with pytest.raises(approval_client.ApprovalClientError, match="triggered this run"):
        approval_client.decide(run.link, DAVE, "approve", "my own model")

    # Then the run is still waiting for a second, different approver: its history page shows it running
    assert journeys.status(run) == "RUNNING"
    dave.goto(journeys.history_url(run))
    expect(dave.get_by_test_id("execution-status")).to_contain_text("RUNNING")
    expect(dave.get_by_test_id("reload")).to_be_visible()
    expect(dave.get_by_test_id("refresh-status")).to_contain_text("Auto-refresh is on")
    assert dave.locator('meta[http-equiv="refresh"]').count() == 0
    assert_accessible(dave, "history_running")
    dave.goto(f"{journeys.base}/executions")
    expect(dave.get_by_test_id("refresh")).to_be_visible()
    assert_accessible(dave, "executions_list_running")
    # Cleanup through the API: the request ends as a rejection
    approval_client.decide(run.link, CAROL, "reject", "journey finished")
    assert _end(journeys, run)["status"] == "FAILED"


def test_an_outsider_sees_why_they_may_not_decide_and_no_buttons(
    journeys: Journeys, page_as: Callable[[str], Page], assert_accessible: AccessibilityCheck
):
    run = journeys.runs["outsider"]
    mallory = page_as(MALLORY)
    # When someone outside the approvers group opens the link
    mallory.goto(run.link)
    # Then the evidence is there, the reason is given in words, and no form is offered
    expect(mallory.get_by_role("heading", name=f"Review model {run.model_version}")).to_be_visible()
    expect(mallory.get_by_test_id("may-not-decide")).to_contain_text(
        "mallory.viewer is not in the approvers group 'model-approvers'"
    )
    expect(mallory.get_by_role("button")).to_have_count(0)
    expect(mallory.locator("form")).to_have_count(0)
    assert_accessible(mallory, "approval_page_outsider")
    # And on a phone
    mallory.set_viewport_size({"width": 375, "height": 812})
    mallory.reload()
    assert_accessible(mallory, "approval_page_outsider_375")
    assert journeys.status(run) == "RUNNING"
    approval_client.decide(run.link, CAROL, "reject", "journey finished")
    assert _end(journeys, run)["status"] == "FAILED"


def test_error_pages_say_what_happened_and_are_accessible(
    journeys: Journeys, page_as: Callable[[str], Page], assert_accessible: AccessibilityCheck
):
    page = page_as(CAROL)
    link = journeys.runs["approve"].link
    # An altered approval link: 403 with the reason
    answer = page.goto(re.sub(r"sig=([0-9a-f])", lambda m: "sig=" + ("1" if m.group(1) != "1" else "2"), link))
    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_test_id("error")).to_contain_text("signature does not match")
    assert_accessible(page, "approval_link_altered_403")
    # An approval that does not exist: 404
    answer = page.goto(f"{journeys.base}/approvals/{'0' * 32}?exp=1&sig=00")
    assert answer is not None
    assert answer.status in (403, 404)
    assert_accessible(page, "approval_unknown")
    # An execution that does not exist: 404 with what to do
    answer = page.goto(f"{journeys.base}/executions/data-does-not-exist")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Execution not found")).to_be_visible()
    assert_accessible(page, "execution_not_found_404")
    # An address nothing serves: a page in words, not bare JSON
    answer = page.goto(f"{journeys.base}/no/such/page")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="No page here")).to_be_visible()
    assert_accessible(page, "no_route_404")
