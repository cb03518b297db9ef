"""After the wait: a model version's approval outcome recorded in the registry and the audit ledger.

Approved, rejected or expired after a person's decision (or none), or approved automatically for a low-risk model,
which is refused unless the model's pinned configuration says ``low``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from governed_mlops.config import APPROVALS_REQUIRED, parse_config
from governed_mlops.domain import approval as rules
from governed_mlops.errors import ApprovalExpired, AutomaticApprovalRefused, ConfigError
from governed_mlops.models import ApprovalDecision, ApprovalRecord, ModelVersion, PipelineRequest
from governed_mlops.services.approval import ApprovalDeps, Registration, decision_of, evidence_hashes


class OutcomeEvent(BaseModel):
    """Record Approval / Rejection / Approval Expired / Automatic Approval's input (the ASL's Parameters)."""

    model_config = ConfigDict(extra="ignore")
    execution_name: str
    registration: Registration
    outcome: Literal["approved", "rejected", "expired", "auto-approved"]
    approval: dict[str, Any] | None = None
    #: The execution's request: only the automatic approval needs it (its model's risk tier).
    request: PipelineRequest | None = None


def _latest_for_execution(deps: ApprovalDeps, execution_name: str) -> ApprovalRecord:
    records = deps.store.records_for_execution(execution_name)
    if not records:
        raise ApprovalExpired(f"no approval request was recorded for execution {execution_name}")
    return records[0]


def record_outcome(event: OutcomeEvent, deps: ApprovalDeps, *, now: datetime) -> dict[str, str]:
    """After the wait: mark the model version approved, rejected (with the reason) or expired.

    ``auto-approved`` (no wait: a low-risk model) is :func:`record_automatic_approval`.
    """
    if event.outcome == "auto-approved":
        return record_automatic_approval(event, deps, now=now)
    approval = _latest_for_execution(deps, event.execution_name)
    if event.outcome == "expired":
        if approval.status == "pending":
            approval = deps.store.set_status(approval.approval_id, "expired")
        timeout = {
            "decided_by": "system:timeout",
            "decided_at": now,
            "reason": "no decision before the approval timeout",
        }
        decision = decision_of(approval, "expired", now).model_copy(update=timeout)
    elif event.outcome == "approved" and event.approval is not None:
        decision = ApprovalDecision.model_validate(event.approval)
    else:
        decision = decision_of(approval, "rejected", now)
    record = deps.registry.record_decision(event.registration.model_version, decision)
    details: dict[str, Any] = {
        "approval_id": decision.approval_id,
        "reason": decision.reason,
        "execution": event.execution_name,
    }
    if decision.risk_tier is not None:
        details["risk_tier"] = decision.risk_tier
    if decision.approvers:
        details["approvers"] = ",".join(a.approver for a in decision.approvers)
    deps.audit.append(
        decision.decided_by,
        f"model.{decision.decision}",
        record.model_version,
        details,
        decision.evidence_sha256,
    )
    deps.audit.seal()
    return _outcome(record, decision)


def _outcome(record: ModelVersion, decision: ApprovalDecision) -> dict[str, str]:
    cause = f"{record.model_version} {decision.decision} by {decision.decided_by}: {decision.reason}".strip()
    return {
        "model_version": record.model_version,
        "status": record.status,
        "decision": decision.decision,
        "cause": cause,
    }


def record_automatic_approval(event: OutcomeEvent, deps: ApprovalDeps, *, now: datetime) -> dict[str, str]:
    """A low-risk model version becomes Approved by the tier's policy (``system:risk-tier-low``), audited.

    Refused (AutomaticApprovalRefused, audited) unless both the execution's request and the
    configuration pinned in the version's lineage (checked against its sha256) put the model in a
    tier that needs no approver: an altered execution input alone cannot skip the approval.
    Idempotent: a retry records the same decision (same id), which the registry takes as a no-op.
    """
    record = deps.registry.get(event.registration.model_version)
    try:
        tier = _automatic_approval_tier(event, record, deps)
    except AutomaticApprovalRefused as exc:
        deps.audit.append(
            rules.AUTO_APPROVER,
            "approval.refused",
            record.model_version,
            {"execution": event.execution_name, "error": type(exc).__name__, "message": str(exc)},
        )
        deps.audit.seal()
        raise
    policy = rules.policy_text(0, None, tier)
    decision = ApprovalDecision(
        approval_id=f"auto-{event.execution_name}",
        decision="approved",
        decided_by=rules.AUTO_APPROVER,
        decided_at=now,
        reason=f"risk tier {tier}: {policy}",
        evidence_sha256=evidence_hashes(record),
        risk_tier=tier,
        approvals_required=0,
        policy=policy,
    )
    updated = deps.registry.record_decision(record.model_version, decision)
    deps.audit.append(
        rules.AUTO_APPROVER,
        "model.auto_approved",
        updated.model_version,
        {
            "approval_id": decision.approval_id,
            "execution": event.execution_name,
            "risk_tier": tier,
            "approvals_required": 0,
            "policy": policy,
            "config_sha256": record.config.sha256,
        },
        decision.evidence_sha256,
    )
    deps.audit.seal()
    return _outcome(updated, decision)


def _automatic_approval_tier(event: OutcomeEvent, record: ModelVersion, deps: ApprovalDeps) -> Literal["low"]:
    spec = event.request.model if event.request is not None else None
    if spec is None:
        raise AutomaticApprovalRefused("an automatic approval needs the execution's request (its model's risk tier)")
    if spec.approvals_required != 0 or spec.risk_tier != "low" or APPROVALS_REQUIRED[spec.risk_tier] != 0:
        raise AutomaticApprovalRefused(
            f"model {spec.name} is risk tier {spec.risk_tier} and needs {spec.approvals_required} approval(s): "
            "only a low-risk model is approved automatically"
        )
    if record.execution_name != event.execution_name:
        raise AutomaticApprovalRefused(
            f"{record.model_version} was registered by execution {record.execution_name}, not {event.execution_name}"
        )
    pinned = deps.objects.get(record.config.ref)
    if hashlib.sha256(pinned).hexdigest() != record.config.sha256:
        raise AutomaticApprovalRefused(
            f"the configuration {record.config.ref.pinned_uri} no longer matches the sha256 in the lineage of "
            f"{record.model_version}"
        )
    try:
        configured = parse_config(pinned, source=record.config.ref.pinned_uri).model.risk_tier
    except ConfigError as exc:
        raise AutomaticApprovalRefused(f"the model's configuration cannot be read: {exc}") from exc
    if APPROVALS_REQUIRED[configured] != 0:
        raise AutomaticApprovalRefused(
            f"the configuration {record.config.ref.pinned_uri} puts the model in risk tier {configured}, which needs "
            f"{APPROVALS_REQUIRED[configured]} approval(s); the execution's request said {spec.risk_tier}"
        )
    return "low"
