"""The approval page a risk officer decides from: decision panel first, bias in plain language, honest confirmations."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from governed_mlops.config import FacetConfig, MetricLimit, parse_config
from governed_mlops.domain import approval as rules
from governed_mlops.domain.bias_plain import bias_findings, facet_words, four_fifths_flag, limit_words
from governed_mlops.errors import ApprovalAlreadyDecided, ApprovalExpired, ApprovalLinkInvalid
from governed_mlops.models import ApprovalRecord, ModelVersion, ObjectDigest, S3Ref
from governed_mlops.reports.approval_page import render_approval_page, render_decision_page
from governed_mlops.services.approval import ApprovalDeps, decide
from governed_mlops.services.approval_evidence import evidence_page, evidence_summary
from tests.conftest import GERMAN_CONFIG, pending_approval
from tests.unit.test_reports import EVALUATION, GATES, MALICIOUS, _record, _svg
from tests.unit.test_risk_tiers import (
    CAROL,
    DAVE,
    NOW,
    STACK_GROUP,
    MemoryObjects,
    MemoryRegistry,
    _decide,
    _deps,
    _form,
    _pending,
)

GERMAN = parse_config(GERMAN_CONFIG.read_bytes())
OUTSIDER = rules.Identity(user="mallory.viewer", groups=frozenset())


def _metric(name: str, value: float | None, limit: dict[str, float] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "description": name, "value": value}
    if limit:
        entry["limit"] = limit
    return entry


def _clarify(stage: str, facets: dict[str, list[dict[str, Any]]], label: str = "outcome") -> dict[str, Any]:
    section = "pre_training_bias_metrics" if stage == "pre" else "post_training_bias_metrics"
    return {
        "version": "1.0",
        section: {
            "label": label,
            "label_value_or_threshold": "repaid",
            "facets": {name: [{"value_or_threshold": "(-inf, 25]", "metrics": m}] for name, m in facets.items()},
        },
    }


#: The trial's case: hold-out DI 0.797 for the young, on a relaxed limit [0.7, 1.43] that passes it.
YOUNG = "age_25_or_younger"
BIAS = {
    "bias_pre": _clarify("pre", {YOUNG: [_metric("CI", 0.62), _metric("DPL", 0.15, {"min": -0.2, "max": 0.2})]}),
    "bias_post": _clarify(
        "post",
        {
            YOUNG: [
                _metric("DPPL", 0.168, {"min": -0.25, "max": 0.25}),
                _metric("DI", 0.797, {"min": 0.7, "max": 1.43}),
                _metric("KL", 0.05),
                _metric("TE", 0.4),
            ]
        },
    ),
}


def _page(approval: ApprovalRecord | None = None, **options: Any) -> str:
    arguments: dict[str, Any] = {
        "approval": approval or pending_approval(NOW),
        "record": _record(),
        "gates": GATES,
        "bias": BIAS,
        "explainability": None,
        "images": {},
        "csrf_token": "t",
        "viewer": "dave.risk",
        "link_query": {"exp": "1", "sig": "s"},
        "evaluation": EVALUATION,
        "findings": bias_findings(BIAS, groups={YOUNG: "applicants aged 25 or younger"}),
    }
    return render_approval_page(**(arguments | options))


# -- layout ------------------------------------------------------------------------------------------


def test_the_decision_panel_with_the_buttons_comes_before_the_first_bias_finding():
    page = _page()

    panel = page.index("data-testid='decision-panel'")
    assert panel < page.index("data-testid='approve-form'") < page.index("data-testid='facet-")
    assert panel < page.index("data-testid='reject-form'") < page.index("<h2>Bias")
    assert page.index("data-testid='verdicts'") < page.index("<h2>Hold-out metrics")


def test_the_panel_gives_the_verdict_of_every_gate():
    page = _page()
    panel = page[page.index("data-testid='decision-panel'") : page.index("</section>")]

    assert "✗ 1 of 3 failed" in panel  # GATES: KS 0.5505 under 0.6
    assert "✓ 3 of 3 within limits" in panel  # DPL, DPPL, DI
    assert "⚠ 1 flagged" in panel
    assert "first version: no approved champion" in panel


def test_someone_who_may_not_decide_gets_no_buttons_and_reads_why():
    page = _page(csrf_token=None, viewer="mallory.viewer", may_not_decide="mallory.viewer is not in the group")

    assert "data-testid='approve-form'" not in page
    assert "data-testid='reject-form'" not in page
    assert "<button" not in page
    assert "csrf_token" not in page
    assert "mallory.viewer is not in the group" in page


def test_every_hold_out_metric_is_shown_the_false_positive_rate_included():
    page = _page()

    assert "False positive rate</td><td>0.5470" in page
    assert "the share of rows whose outcome was bad that the model predicted good" in page


def test_plots_are_shown_at_their_own_size_in_a_box_that_scrolls():
    page = _page(images={"bias_post_plot": _svg(1680, 40)})

    # A box that scrolls takes keyboard focus and is named by its caption (axe: scrollable-region-focusable)
    assert (
        "<div class='plot' tabindex='0' role='region' aria-labelledby='caption-bias_post_plot'>"
        "<img alt='Post-training bias"
    ) in page
    assert "<figcaption class='muted' id='caption-bias_post_plot'>Post-training bias" in page
    assert ".plot img{display:block;max-width:none}" in page
    assert ".plot{overflow-x:auto" in page


# -- bias in plain language --------------------------------------------------------------------------


def test_a_finding_names_the_group_and_says_how_far_from_everyone_else_in_points():
    (dppl,) = [f for f in bias_findings(BIAS, groups={YOUNG: "applicants aged 25 or younger"}) if f.metric == "DPPL"]

    assert dppl.sentence == (
        "The model predicts outcome = repaid 16.8 points less often for applicants aged 25 or younger than for "
        "everyone else."
    )
    assert dppl.limit == "at most 25 points either way"
    assert dppl.passed is True


def test_a_disparate_impact_under_four_fifths_is_flagged_although_the_configured_limit_passes_it():
    (di,) = [f for f in bias_findings(BIAS, groups={YOUNG: "applicants aged 25 or younger"}) if f.metric == "DI"]

    assert di.passed is True
    assert di.four_fifths is not None
    assert "79.7% of everyone else's rate: under four-fifths" in di.four_fifths
    assert "the configured limit (between 0.7 and 1.43) passes it" in di.four_fifths
    assert "data-testid='four-fifths'" in _page()


@pytest.mark.parametrize(("value", "flagged"), [(0.8, False), (0.85, False), (1.25, False), (0.79, True), (1.3, True)])
def test_the_four_fifths_rule_flags_either_side_below_eighty_percent(value: float, flagged: bool):
    assert (four_fifths_flag(value, "the group", "approved") is not None) is flagged


def test_the_facet_words_come_from_the_models_configuration():
    labelled = {facet.name: facet_words(facet) for facet in GERMAN.bias.facets} if GERMAN.bias else {}

    assert labelled[YOUNG] == "applicants aged 25 or younger"
    assert facet_words(FacetConfig(name="f", column="region", values=["north"])) == "rows with region = north"
    assert facet_words(FacetConfig(name="f", column="age", threshold=30)) == "rows with age ≤ 30"
    assert facet_words(FacetConfig(name="f", column="title", prefix="Ms")) == "rows whose title starts with “Ms”"


def test_the_configured_limits_apply_not_those_the_report_carries():
    strict = {YOUNG: {"DI": MetricLimit(min=0.8)}}

    (di,) = [f for f in bias_findings(BIAS, thresholds=strict) if f.metric == "DI"]
    (dppl,) = [f for f in bias_findings(BIAS, thresholds=strict) if f.metric == "DPPL"]

    assert (di.passed, di.limit) == (False, "at least 0.8")
    assert (dppl.passed, dppl.limit) == (None, None)


def test_an_uncomputed_metric_fails_its_limit_and_says_so():
    report = {"bias_post": _clarify("post", {YOUNG: [_metric("RD", None, {"min": -0.1, "max": 0.1})]})}

    (rd,) = bias_findings(report)

    assert rd.passed is False
    assert rd.sentence.startswith("Could not be computed")


@pytest.mark.parametrize(
    ("metric", "limit", "words"),
    [
        ("DPL", MetricLimit(min=-0.1, max=0.2), "between -10 and 20 points"),
        ("DI", MetricLimit(min=0.8, max=1.25), "between 0.8 and 1.25"),
        ("RD", MetricLimit(max=0.15), "at most 15 points"),
    ],
)
def test_limits_are_said_in_the_metrics_unit(metric: str, limit: MetricLimit, words: str):
    assert limit_words(metric, limit) == words


def test_acronyms_open_to_their_meaning_and_the_rest_is_folded_away():
    page = _page()

    assert "<details class='acr'><summary>DPPL</summary>Difference in Positive Proportions in Predicted" in page
    assert "<summary>All 6 metrics for this group</summary>" in page


def test_plain_language_escapes_what_the_configuration_and_reports_say():
    page = _page(findings=bias_findings(BIAS, groups={YOUNG: MALICIOUS}))

    assert MALICIOUS not in page


def test_the_bias_job_input_does_not_carry_the_label():
    assert GERMAN.bias is not None
    document = GERMAN.bias.job_document(label="creditability", positive_label="good", decision_threshold=0.5)

    assert all("label" not in facet for facet in document["facets"])


# -- confirmations -----------------------------------------------------------------------------------


def test_the_reject_form_says_a_rejection_ends_the_run():
    page = _page()

    assert "Rejecting ends the run: the execution stops" in page


def test_a_rejections_confirmation_says_the_run_ends(tmp_path: Path):
    deps = _deps(tmp_path)
    rejected = _decide(deps, _pending(deps, "high"), CAROL, "reject", "DI under four-fifths")

    page = render_decision_page(rejected)

    assert "ends: it stops as rejected" in page
    assert "nothing is deployed" in page
    assert "continues" not in page


def test_an_approvals_confirmation_says_the_run_continues(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "medium")

    page = render_decision_page(_decide(deps, approval, CAROL))

    assert "continues: the model version is marked Approved" in page


# -- a decided link ------------------------------------------------------------------------------


def _seeded(tmp_path: Path) -> ApprovalDeps:
    """Deps whose model version's evaluation and quality-gates reports are in the object store."""
    deps = _deps(tmp_path)
    assert isinstance(deps.registry, MemoryRegistry)
    assert isinstance(deps.objects, MemoryObjects)
    for name, document in (("evaluation", EVALUATION), ("gates", GATES)):
        deps.objects.objects[deps.registry.record.reports[name].ref.key] = json.dumps(document).encode()
    return deps


def _link(deps: ApprovalDeps, approval: ApprovalRecord) -> tuple[str, str]:
    exp = int(approval.expires_at.timestamp())
    return str(exp), rules.link_signature(deps.secret.get(), approval.approval_id, exp)


def test_a_decided_link_opened_after_it_expired_shows_the_decision_and_who_made_it(tmp_path: Path):
    deps = _seeded(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL, reason="fine")
    _decide(deps, approval, DAVE, reason="agreed")
    exp, sig = _link(deps, approval)
    later = approval.expires_at + timedelta(days=30)

    page = evidence_page(approval.approval_id, exp, sig, DAVE, deps, approver_group=STACK_GROUP, now=later)

    decided = page[page.index("data-testid='decided'") :]
    assert "Approved</strong> by <strong data-testid='decided-by'>carol.approver, dave.risk</strong>" in decided
    assert "carol.approver approved at" in decided
    assert "“agreed”" in decided
    assert "expired" not in decided.split("</div>")[0]
    assert "<form" not in page


def test_a_rejected_link_opened_later_shows_who_rejected_and_that_the_run_ended(tmp_path: Path):
    deps = _seeded(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL, "reject", "too biased")
    exp, sig = _link(deps, approval)

    page = evidence_page(
        approval.approval_id, exp, sig, OUTSIDER, deps, approver_group=STACK_GROUP, now=NOW + timedelta(days=9)
    )

    assert "Rejected</strong> by <strong data-testid='decided-by'>carol.approver</strong>" in page
    assert "The run ended; nothing was deployed." in page
    assert "“too biased”" in page


def test_the_expired_link_of_an_undecided_request_is_still_refused(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    exp, sig = _link(deps, approval)

    with pytest.raises(ApprovalExpired):
        evidence_page(
            approval.approval_id, exp, sig, CAROL, deps, approver_group=STACK_GROUP, now=NOW + timedelta(days=1)
        )
    with pytest.raises(ApprovalExpired):
        evidence_summary(
            approval.approval_id, exp, sig, CAROL, deps, approver_group=STACK_GROUP, now=NOW + timedelta(days=1)
        )


def test_an_altered_link_of_a_decided_request_is_refused(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "medium")
    _decide(deps, approval, CAROL)
    exp, _ = _link(deps, approval)

    with pytest.raises(ApprovalLinkInvalid):
        evidence_page(approval.approval_id, exp, "0" * 64, CAROL, deps, approver_group=STACK_GROUP, now=NOW)


def test_the_json_summary_of_a_decided_expired_link_says_it_was_decided(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "medium")
    _decide(deps, approval, CAROL)
    exp, sig = _link(deps, approval)

    summary = evidence_summary(
        approval.approval_id, exp, sig, CAROL, deps, approver_group=STACK_GROUP, now=NOW + timedelta(days=2)
    )

    assert (summary["approval"]["status"], summary["approval"]["decided_by"]) == ("approved", "carol.approver")


def test_a_decision_posted_on_a_decided_expired_link_says_who_decided_not_expired(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "medium")
    _decide(deps, approval, CAROL)
    late = approval.expires_at + timedelta(days=3)

    with pytest.raises(ApprovalAlreadyDecided, match="already approved by carol.approver"):
        decide(
            approval.approval_id,
            _form(deps, approval, DAVE, "reject", "x"),
            DAVE,
            deps,
            approver_group=STACK_GROUP,
            now=late,
        )


# -- the full evidence report ------------------------------------------------------------------------


def _with_reports(tmp_path: Path, report: bytes, recorded: bytes | None = None) -> tuple[ApprovalDeps, str, str]:
    """Deps whose model version carries bias reports, the pinned configuration and an evidence report."""
    deps = _deps(tmp_path)
    assert isinstance(deps.registry, MemoryRegistry)
    assert isinstance(deps.objects, MemoryObjects)
    reports = {"evidence_report": report, **{name: json.dumps(doc).encode() for name, doc in BIAS.items()}}
    digests = {}
    for name, data in reports.items():
        ref = S3Ref(bucket="artifacts-bucket", key=f"runs/x/{name}", version_id="v1")
        deps.objects.objects[ref.key] = data
        digests[name] = ObjectDigest(ref=ref, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    record: ModelVersion = deps.registry.record.model_copy(update={"reports": digests})
    deps.registry.record = record
    approval = _pending(deps, "high")
    evidence = {"report:evidence_report": hashlib.sha256(recorded or report).hexdigest()}
    deps.store.create(approval.model_copy(update={"approval_id": "B" * 32, "evidence": evidence}), "task-token-2")
    exp, sig = _link(deps, approval.model_copy(update={"approval_id": "B" * 32}))
    return deps, exp, sig


def test_the_page_links_the_full_evidence_report_with_the_bytes_it_recorded(tmp_path: Path):
    report = b"<!DOCTYPE html><title>evidence</title>"
    deps, exp, sig = _with_reports(tmp_path, report)

    page = evidence_page("B" * 32, exp, sig, CAROL, deps, approver_group=STACK_GROUP, now=NOW)

    link = re.search(r"data-testid='evidence-report' download='([^']+)' href='data:text/html;base64,([^']+)'", page)
    assert link is not None
    assert link.group(1) == "evidence-credit-risk-3.html"
    assert base64.b64decode(link.group(2)) == report
    assert page.index("data-testid='evidence-report'") < page.index("<h2>Bias")


def test_a_stored_report_that_does_not_match_its_recorded_hash_is_not_offered(tmp_path: Path):
    deps, exp, sig = _with_reports(tmp_path, b"<html>swapped</html>", recorded=b"<html>original</html>")

    page = evidence_page("B" * 32, exp, sig, CAROL, deps, approver_group=STACK_GROUP, now=NOW)

    assert "does not match the sha256 recorded with this request" in page
    assert "data:text/html" not in page


def test_the_service_words_the_groups_from_the_pinned_configuration(tmp_path: Path):
    deps, exp, sig = _with_reports(tmp_path, b"<html></html>")

    page = evidence_page("B" * 32, exp, sig, CAROL, deps, approver_group=STACK_GROUP, now=NOW)

    assert "Applicants aged 25 or younger" in page  # the label in models/credit-risk/config.yaml
    # The pinned configuration's limit for DI (0.7-1.43) passes 0.797; the four-fifths rule flags it.
    assert "although the configured limit (between 0.7 and 1.43) passes it" in page


def test_a_plot_that_is_not_a_safe_image_is_named_not_embedded():
    page = _page(images={"bias_post_plot": b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'></svg>"})

    assert "<p data-testid='plot-bias_post_plot'>Figure Post-training bias" in page
    assert "is not an image this page embeds" in page
    assert "data:image/svg+xml" not in page
    assert "onload" not in page


def test_an_svg_chart_is_embedded_as_an_image_data_uri():
    chart = _svg(1680, 40)

    page = _page(images={"shap_plot": chart})

    assert f"src='data:image/svg+xml;base64,{base64.b64encode(chart).decode()}'" in page
