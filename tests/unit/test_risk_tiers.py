"""Risk tiers: two distinct approvers for a high-risk model, one for medium, an audited automatic approval for low."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from botocore.exceptions import ClientError

from governed_mlops.adapters.approvals import FileSecret, LocalApprovalStore, LocalOutbox
from governed_mlops.adapters.model_registry import apply_decision
from governed_mlops.config import parse_config
from governed_mlops.domain import approval as rules
from governed_mlops.errors import (
    ApprovalAlreadyDecided,
    ApprovalForbidden,
    ApprovalNotWaiting,
    AutomaticApprovalRefused,
    DuplicateApprover,
)
from governed_mlops.model_projects import model_spec
from governed_mlops.models import (
    ApprovalDecision,
    ApprovalRecord,
    ModelSpec,
    ModelVersion,
    ObjectDigest,
    PipelineRequest,
    S3Ref,
    TriggerInfo,
)
from governed_mlops.reports.approval_page import render_approval_page, render_decision_page
from governed_mlops.reports.model_card import build_model_card
from governed_mlops.services.approval import (
    ApprovalDeps,
    ApprovalRequestEvent,
    DecisionForm,
    Registration,
    decide,
    request_approval,
)
from governed_mlops.services.approval_evidence import evidence_summary
from governed_mlops.services.approval_outcome import OutcomeEvent, record_outcome
from tests.conftest import GERMAN_CONFIG, pending_approval
from tests.unit.test_reports import EVALUATION, _record

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
STACK_GROUP = "model-approvers"
CAROL = rules.Identity(user="carol.approver", groups=frozenset({STACK_GROUP}))
DAVE = rules.Identity(user="dave.risk", groups=frozenset({STACK_GROUP}))
ERIN = rules.Identity(user="erin.credit", groups=frozenset({STACK_GROUP}))
Tier = Literal["high", "medium", "low"]
REQUIRED = {"high": 2, "medium": 1, "low": 0}  # what the issue asks of each tier (config.APPROVALS_REQUIRED)


class RecordingSfn:
    def __init__(self, refuse_with: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse_with = refuse_with
        self._lock = threading.Lock()

    def send_task_success(self, **kwargs: Any) -> None:
        if self.refuse_with:
            raise ClientError({"Error": {"Code": self.refuse_with, "Message": "no"}}, "SendTaskSuccess")
        with self._lock:
            self.calls.append(("SendTaskSuccess", kwargs))

    def send_task_failure(self, **kwargs: Any) -> None:
        if self.refuse_with:
            raise ClientError({"Error": {"Code": self.refuse_with, "Message": "no"}}, "SendTaskFailure")
        with self._lock:
            self.calls.append(("SendTaskFailure", kwargs))


class RecordingAudit:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            self.records.append((actor, action, subject, details or {}))

    def seal(self) -> None:
        return None

    def actions(self) -> list[str]:
        return [action for _, action, _, _ in self.records]


class MemoryRegistry:
    """One model version, decided with the real registry rule (same decision twice is a no-op)."""

    def __init__(self, record: ModelVersion) -> None:
        self.record = record

    def get(self, model_version: str) -> ModelVersion:
        assert model_version == self.record.model_version
        return self.record

    def record_decision(self, model_version: str, decision: ApprovalDecision) -> ModelVersion:
        self.record = apply_decision(self.get(model_version), decision)
        return self.record


class MemoryObjects:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get(self, ref: S3Ref) -> bytes:
        return self.objects[ref.key]


def _config_bytes(tier: Tier) -> bytes:
    text = GERMAN_CONFIG.read_text(encoding="utf-8")
    assert "risk_tier: high" in text
    return text.replace("risk_tier: high", f"risk_tier: {tier}").encode()


def _spec(tier: Tier, group: str = STACK_GROUP) -> ModelSpec:
    """The credit-risk project's model, resolved as the trigger resolves it, in ``tier``."""
    spec = model_spec("credit-risk", parse_config(_config_bytes(tier)))
    return spec.model_copy(update={"approvers_group": group})


def _request(spec: ModelSpec, execution_name: str = "data-x") -> PipelineRequest:
    return PipelineRequest(
        execution_name=execution_name,
        trigger=TriggerInfo(
            kind="data-arrival",
            event_id="e-1",
            event_time=NOW,
            principal="alice",
            source="aws.s3",
            detail_type="Object Created",
        ),
        model=spec,
        data=S3Ref(bucket="data-bucket", key="datasets/credit-risk/german_credit.csv", version_id="v1"),
        code=_record().code,
        config=S3Ref(bucket="artifacts-bucket", key="models/credit-risk/config.yaml", version_id="v1"),
        artifacts_prefix=f"s3://artifacts-bucket/runs/{execution_name}/",
    )


def _registered(config_tier: Tier, execution_name: str = "data-x") -> tuple[ModelVersion, MemoryObjects]:
    """The registered version with its lineage pinning a configuration of ``config_tier``."""
    data = _config_bytes(config_tier)
    ref = S3Ref(bucket="artifacts-bucket", key="models/credit-risk/config.yaml", version_id="v1")
    config = ObjectDigest(ref=ref, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    record = _record(execution_name=execution_name, config=config)
    return record, MemoryObjects({ref.key: data})


def _deps(tmp_path: Path, *, sfn: RecordingSfn | None = None, config_tier: Tier = "high") -> ApprovalDeps:
    record, objects = _registered(config_tier)
    return ApprovalDeps(
        store=LocalApprovalStore(tmp_path),
        registry=MemoryRegistry(record),  # type: ignore[arg-type]
        objects=objects,  # type: ignore[arg-type]
        secret=FileSecret(tmp_path / "signing.key"),
        notifier=LocalOutbox(tmp_path),
        sfn=sfn or RecordingSfn(),
        audit=RecordingAudit(),
    )


def _pending(deps: ApprovalDeps, tier: Tier = "high", group: str = STACK_GROUP) -> ApprovalRecord:
    """A pending request made the way Request Approval makes it, for a model of ``tier``."""
    record = pending_approval(NOW).model_copy(
        update={
            "model_version": "credit-risk/3",
            "model_name": "credit-risk",
            "risk_tier": tier,
            "approvers_group": group,
            "approvals_required": max(1, REQUIRED[tier]),
        }
    )
    deps.store.create(record, "task-token")
    return record


def _form(deps: ApprovalDeps, approval: ApprovalRecord, who: rules.Identity, decision: str, reason: str = "") -> Any:
    exp = int(approval.expires_at.timestamp())
    secret = deps.secret.get()
    return DecisionForm(
        decision=decision,
        reason=reason,
        csrf_token=rules.csrf_token(secret, approval.approval_id, who.user),
        exp=str(exp),
        sig=rules.link_signature(secret, approval.approval_id, exp),
    )


def _decide(
    deps: ApprovalDeps, approval: ApprovalRecord, who: rules.Identity, decision: str = "approve", reason: str = ""
) -> ApprovalRecord:
    form = _form(deps, approval, who, decision, reason)
    return decide(approval.approval_id, form, who, deps, approver_group=STACK_GROUP, now=NOW + timedelta(minutes=5))


def _sfn(deps: ApprovalDeps) -> RecordingSfn:
    assert isinstance(deps.sfn, RecordingSfn)
    return deps.sfn


def _audit(deps: ApprovalDeps) -> RecordingAudit:
    assert isinstance(deps.audit, RecordingAudit)
    return deps.audit


# -- two distinct approvers for a high-risk model -------------------------------------------------


def test_a_first_approval_of_a_high_risk_model_is_recorded_and_the_execution_keeps_waiting(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")

    answer = _decide(deps, approval, CAROL, reason="metrics fine")

    assert answer.status == "pending"
    assert [a.approver for a in answer.approvals] == ["carol.approver"]
    assert rules.progress(answer) == "approvals: 1 of 2 (carol.approver)"
    assert _sfn(deps).calls == []
    actor, action, _, details = _audit(deps).records[-1]
    assert (actor, action, details["progress"]) == ("carol.approver", "approval.signed_off", rules.progress(answer))


def test_a_second_approver_completes_it_with_both_approvers_in_the_task_output(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL, reason="metrics fine")

    answer = _decide(deps, approval, DAVE, reason="bias within limits")

    assert answer.status == "approved"
    ((call, kwargs),) = _sfn(deps).calls
    assert call == "SendTaskSuccess"
    output = ApprovalDecision.model_validate_json(kwargs["output"])
    assert output.decision == "approved"
    assert [a.approver for a in output.approvers] == ["carol.approver", "dave.risk"]
    assert (output.risk_tier, output.approvals_required) == ("high", 2)
    assert output.decided_by == "carol.approver, dave.risk"
    assert "2 distinct approvers" in output.policy
    assert _audit(deps).actions()[-1] == "approval.decided"


def test_the_same_person_approving_twice_is_refused_audited_and_not_counted(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)

    with pytest.raises(DuplicateApprover, match="different approver"):
        _decide(deps, approval, CAROL)

    stored = deps.store.get(approval.approval_id)
    assert (stored.status, len(stored.approvals)) == ("pending", 1)
    assert _sfn(deps).calls == []
    actor, action, _, details = _audit(deps).records[-1]
    assert (actor, action, details["error"]) == ("carol.approver", "approval.refused", "DuplicateApprover")


def test_the_same_person_under_another_spelling_is_still_the_same_approver(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)
    shouting = rules.Identity(user="Carol.Approver", groups=frozenset({STACK_GROUP}))

    with pytest.raises(DuplicateApprover):
        _decide(deps, approval, shouting)


def test_a_rejection_after_one_approval_fails_the_execution_at_once(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)

    answer = _decide(deps, approval, DAVE, "reject", "KS below what retail needs")

    assert answer.status == "rejected"
    ((call, kwargs),) = _sfn(deps).calls
    assert (call, kwargs["error"]) == ("SendTaskFailure", "ApprovalRejected")
    assert "KS below what retail needs" in kwargs["cause"]


def test_a_medium_risk_model_needs_one_approver(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "medium")

    answer = _decide(deps, approval, CAROL)

    assert answer.status == "approved"
    assert [call for call, _ in _sfn(deps).calls] == ["SendTaskSuccess"]


def test_a_request_from_before_risk_tiers_needs_one_approver_of_the_stack_group(tmp_path: Path):
    deps = _deps(tmp_path)
    old = pending_approval(NOW).model_copy(update={"model_version": "credit-risk/3"})
    deps.store.create(ApprovalRecord.model_validate_json(old.model_dump_json()), "task-token")

    answer = _decide(deps, old, CAROL)

    assert (answer.status, answer.approvals_required) == ("approved", 1)


def test_two_concurrent_last_approvals_resume_the_execution_once(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def approve(who: rules.Identity) -> None:
        start.wait()
        try:
            outcomes.append(_decide(deps, approval, who).status)
        except ApprovalAlreadyDecided:
            outcomes.append("refused")

    threads = [threading.Thread(target=approve, args=(who,)) for who in (DAVE, ERIN)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["approved", "refused"]
    assert [call for call, _ in _sfn(deps).calls] == ["SendTaskSuccess"]
    assert len(deps.store.get(approval.approval_id).approvals) == 2


def test_a_replayed_completing_approval_is_409_and_resumes_nothing_again(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)
    _decide(deps, approval, DAVE)

    with pytest.raises(ApprovalAlreadyDecided):
        _decide(deps, approval, DAVE)

    assert len(_sfn(deps).calls) == 1
    assert len(deps.store.get(approval.approval_id).approvals) == 2


def test_a_completing_approval_the_execution_cannot_take_now_is_withdrawn_so_it_can_be_retried(tmp_path: Path):
    deps = _deps(tmp_path, sfn=RecordingSfn(refuse_with="InvalidToken"))
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)

    with pytest.raises(ApprovalNotWaiting):
        _decide(deps, approval, DAVE)

    stored = deps.store.get(approval.approval_id)
    assert (stored.status, [a.approver for a in stored.approvals]) == ("pending", ["carol.approver"])
    assert stored.decided_by is None


def test_a_rejection_the_execution_cannot_take_now_keeps_the_earlier_approval(tmp_path: Path):
    deps = _deps(tmp_path, sfn=RecordingSfn(refuse_with="InvalidToken"))
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)

    with pytest.raises(ApprovalNotWaiting):
        _decide(deps, approval, DAVE, "reject", "not convinced")

    stored = deps.store.get(approval.approval_id)
    assert (stored.status, [a.approver for a in stored.approvals]) == ("pending", ["carol.approver"])
    assert (stored.decided_by, stored.reason) == (None, None)


# -- the approvers group of the model --------------------------------------------------------------


def test_membership_is_checked_against_the_models_approvers_group(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "medium", group="lending-approvers")

    with pytest.raises(ApprovalForbidden, match="lending-approvers"):
        _decide(deps, approval, CAROL)
    lender = rules.Identity(user="lena.lending", groups=frozenset({"lending-approvers"}))
    assert _decide(deps, approval, lender).status == "approved"


def test_the_evidence_summary_offers_the_forms_only_to_the_models_group(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high", group="lending-approvers")
    exp = int(approval.expires_at.timestamp())
    sig = rules.link_signature(deps.secret.get(), approval.approval_id, exp)

    summary = evidence_summary(approval.approval_id, str(exp), sig, CAROL, deps, approver_group=STACK_GROUP, now=NOW)

    assert summary["may_decide"] is False
    assert "lending-approvers" in summary["why_not"]
    assert summary["progress"] == "approvals: 0 of 2"


# -- the request records the policy ----------------------------------------------------------------


@pytest.mark.parametrize(("tier", "required"), [("high", 2), ("medium", 1), ("low", 1)])
def test_a_request_records_the_models_tier_group_and_distinct_approvals_needed(
    tmp_path: Path, tier: Tier, required: int
):
    deps = _deps(tmp_path)
    event = ApprovalRequestEvent(
        execution_name="data-x",
        execution_arn="arn:x",
        request=_request(_spec(tier, group="lending-approvers")),
        registration=Registration(model_version="credit-risk/3", status="PendingManualApproval"),
        task_token="token",
        timeout_seconds=3600,
    )

    approval = request_approval(event, deps, base_url="http://127.0.0.1:1", now=NOW)

    stored = deps.store.get(approval.approval_id)
    assert (stored.risk_tier, stored.approvers_group, stored.model_name) == (tier, "lending-approvers", "credit-risk")
    assert stored.approvals_required == required


# -- automatic approval of a low-risk model --------------------------------------------------------


def _auto(deps: ApprovalDeps, tier: Tier) -> dict[str, str]:
    event = OutcomeEvent.model_validate(
        {
            "execution_name": "data-x",
            "registration": {"model_version": "credit-risk/3", "status": "PendingManualApproval"},
            "outcome": "auto-approved",
            "request": _request(_spec(tier)).model_dump(mode="json"),
        }
    )
    return record_outcome(event, deps, now=NOW)


def test_a_low_risk_model_is_approved_automatically_by_the_tier_policy_and_audited(tmp_path: Path):
    deps = _deps(tmp_path, config_tier="low")

    answer = _auto(deps, "low")

    assert (answer["status"], answer["decision"]) == ("Approved", "approved")
    registry = deps.registry
    assert isinstance(registry, MemoryRegistry)
    decision = registry.record.approval
    assert decision is not None
    assert decision.decided_by == rules.AUTO_APPROVER == "system:risk-tier-low"
    assert (decision.risk_tier, decision.approvals_required, decision.approvers) == ("low", 0, [])
    assert "risk tier low" in decision.reason
    actor, action, subject, details = _audit(deps).records[-1]
    assert (actor, action, subject) == ("system:risk-tier-low", "model.auto_approved", "credit-risk/3")
    assert details["risk_tier"] == "low"


def test_a_retried_automatic_approval_is_a_no_op(tmp_path: Path):
    deps = _deps(tmp_path, config_tier="low")
    registry = deps.registry
    assert isinstance(registry, MemoryRegistry)
    first = _auto(deps, "low")
    recorded = registry.record

    again = _auto(deps, "low")  # e.g. Lambda retried the task after a lost response

    assert again == first
    assert registry.record is recorded  # the registry took the same decision as a no-op


@pytest.mark.parametrize("tier", ["high", "medium"])
def test_an_automatic_approval_is_refused_for_a_model_that_needs_approvers(tmp_path: Path, tier: Tier):
    deps = _deps(tmp_path, config_tier=tier)

    with pytest.raises(AutomaticApprovalRefused, match=f"risk tier {tier}"):
        _auto(deps, tier)

    registry = deps.registry
    assert isinstance(registry, MemoryRegistry)
    assert (registry.record.status, registry.record.approval) == ("PendingManualApproval", None)
    actor, action, _, details = _audit(deps).records[-1]
    assert (actor, action, details["error"]) == ("system:risk-tier-low", "approval.refused", "AutomaticApprovalRefused")


def test_an_execution_input_claiming_low_risk_cannot_skip_approval_of_a_high_risk_model(tmp_path: Path):
    deps = _deps(tmp_path, config_tier="high")  # what the version's lineage pins

    with pytest.raises(AutomaticApprovalRefused, match="risk tier high"):
        _auto(deps, "low")  # what the (altered) execution input says

    registry = deps.registry
    assert isinstance(registry, MemoryRegistry)
    assert registry.record.approval is None


def test_an_automatic_approval_without_the_request_is_refused(tmp_path: Path):
    deps = _deps(tmp_path, config_tier="low")
    event = OutcomeEvent(
        execution_name="data-x",
        registration=Registration(model_version="credit-risk/3", status="PendingManualApproval"),
        outcome="auto-approved",
    )

    with pytest.raises(AutomaticApprovalRefused):
        record_outcome(event, deps, now=NOW)


def test_a_configuration_changed_since_registration_refuses_the_automatic_approval(tmp_path: Path):
    deps = _deps(tmp_path, config_tier="low")
    objects = deps.objects
    assert isinstance(objects, MemoryObjects)
    objects.objects["models/credit-risk/config.yaml"] += b"\n# edited later\n"

    with pytest.raises(AutomaticApprovalRefused, match="no longer matches"):
        _auto(deps, "low")


# -- what the record says after the wait ---------------------------------------------------------


def test_record_approval_keeps_every_approver_in_the_lineage(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)
    _decide(deps, approval, DAVE)
    output = json.loads(_sfn(deps).calls[0][1]["output"])
    event = OutcomeEvent(
        execution_name="data-x",
        registration=Registration(model_version="credit-risk/3", status="PendingManualApproval"),
        outcome="approved",
        approval=output,
    )

    record_outcome(event, deps, now=NOW)

    registry = deps.registry
    assert isinstance(registry, MemoryRegistry)
    assert registry.record.approval is not None
    assert [a.approver for a in registry.record.approval.approvers] == ["carol.approver", "dave.risk"]
    _, action, _, details = _audit(deps).records[-1]
    assert (action, details["approvers"], details["risk_tier"]) == (
        "model.approved",
        "carol.approver,dave.risk",
        "high",
    )


def test_records_written_before_risk_tiers_still_parse():
    old_record = pending_approval(NOW).model_dump(mode="json")
    for new_field in ("model_name", "risk_tier", "approvers_group", "approvals_required", "approvals"):
        old_record.pop(new_field)
    old_decision = {
        "approval_id": "A" * 32,
        "decision": "approved",
        "decided_by": "carol.approver",
        "decided_at": NOW.isoformat(),
    }

    record = ApprovalRecord.model_validate(old_record)
    decision = ApprovalDecision.model_validate(old_decision)

    assert (record.approvals_required, record.approvals, record.approvers_group) == (1, [], None)
    assert (decision.approvers, decision.risk_tier, decision.policy) == ([], None, "")


# -- pages and the model card ----------------------------------------------------------------------


def _page(approval: ApprovalRecord, *, viewer_approved: bool = False) -> str:
    return render_approval_page(
        approval=approval,
        record=_record(),
        gates=None,
        bias={},
        explainability=None,
        images={},
        csrf_token="t",
        viewer="dave.risk",
        link_query={"exp": "1", "sig": "s"},
        viewer_approved=viewer_approved,
    )


def test_the_evidence_page_shows_model_tier_and_approvals_so_far(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    partly = _decide(deps, approval, CAROL)

    page = _page(partly)

    assert "credit-risk" in page
    assert "data-testid='risk-tier'>high<" in page
    assert "approvals: 1 of 2 (carol.approver)" in page
    assert "data-testid='approve-form'" in page


def test_an_approver_who_already_approved_is_offered_only_the_reject_form(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    partly = _decide(deps, approval, CAROL)

    page = _page(partly, viewer_approved=True)

    assert "data-testid='approve-form'" not in page
    assert "data-testid='reject-form'" in page


def test_the_decision_page_of_a_first_approval_says_it_waits_for_another_approver(tmp_path: Path):
    deps = _deps(tmp_path)
    partly = _decide(deps, _pending(deps, "high"), CAROL)

    page = render_decision_page(partly)

    assert "approvals: 1 of 2 (carol.approver)" in page
    assert "waiting for another approver" in page


def test_the_model_card_records_the_tier_and_the_policy_applied(tmp_path: Path):
    deps = _deps(tmp_path)
    approval = _pending(deps, "high")
    _decide(deps, approval, CAROL)
    _decide(deps, approval, DAVE)
    decision = ApprovalDecision.model_validate_json(_sfn(deps).calls[0][1]["output"])

    card = build_model_card(
        _record(approval=decision, status="Approved"),
        intended_uses="test",
        evaluation=EVALUATION,
        bias=None,
        explainability=None,
        model=_spec("high"),
    )

    details = card["additional_information"]["custom_details"]
    assert details["risk_tier"] == "high"
    assert "2 distinct approvers" in details["approval_policy"]
    assert "2 distinct approvers" in details["approval_policy_applied"]
    assert "carol.approver" in details["approvers"]
    assert "dave.risk" in details["approvers"]
    assert card["intended_uses"]["risk_rating"] == "High"


def test_the_model_card_rates_a_medium_tier_model_medium():
    card = build_model_card(
        _record(), intended_uses="test", evaluation=EVALUATION, bias=None, explainability=None, model=_spec("medium")
    )

    assert card["intended_uses"]["risk_rating"] == "Medium"
    assert "risk tier medium" in card["intended_uses"]["explanations_for_risk_rating"]
