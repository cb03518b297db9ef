"""Manual approval: the request (waitForTaskToken) and the decision (POST).

The evidence page an approver sees (GET, read-only) is :mod:`governed_mlops.services.approval_evidence`; recording
the outcome after the wait is :mod:`governed_mlops.services.approval_outcome`.

The model's risk tier sets the policy: a high-risk model needs two distinct approvers (the first
approval is recorded and the execution keeps waiting), a medium-risk one one approver, and a
low-risk one none — the state machine then records an automatic approval instead of waiting,
which :func:`~governed_mlops.services.approval_outcome.record_outcome` refuses unless the model's
pinned configuration says ``low``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from governed_mlops.adapters.approvals import ApprovalStore, Notifier
from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import ObjectStore
from governed_mlops.domain import approval as rules
from governed_mlops.domain.originator import FOUR_EYES, Originator, resolve_originator
from governed_mlops.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalForbidden,
    ApprovalNotFound,
    ApprovalNotWaiting,
    DuplicateApprover,
    MalformedDecision,
    TransientStorageError,
)
from governed_mlops.models import (
    ApprovalDecision,
    ApprovalRecord,
    ApproverSignoff,
    ModelVersion,
    PipelineRequest,
    S3Ref,
)
from governed_mlops.reports.approval_page import render_decision_page
from governed_mlops.services.audit import AuditSink, NullAudit
from governed_mlops.services.uploads import UploadEvidence

#: Statuses of a request someone decided: its link keeps showing the decision after it expires.
DECIDED = frozenset({"approved", "rejected"})


class Secret(Protocol):
    def get(self) -> bytes: ...


@dataclass
class ApprovalDeps:
    store: ApprovalStore
    registry: ModelRegistry
    objects: ObjectStore
    secret: Secret
    notifier: Notifier
    sfn: Any
    audit: AuditSink = field(default_factory=NullAudit)
    #: The recorded upload of a pinned dataset (services.uploads.find_upload), None when not recorded.
    uploads: Callable[[S3Ref], UploadEvidence | None] = field(default=lambda _data: None)


class Registration(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model_version: str
    status: str


class ApprovalRequestEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    execution_name: str
    execution_arn: str
    request: PipelineRequest
    registration: Registration
    task_token: str = Field(min_length=1, repr=False)
    timeout_seconds: int = Field(gt=0)


class DecisionForm(BaseModel):
    """What the evidence page's forms post. Empty values are refused later (403), absent ones here (400)."""

    model_config = ConfigDict(extra="ignore")
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=2000)
    csrf_token: str
    exp: str
    sig: str


def read_decision(
    approval_id: str, body: str, content_type: str, identity: rules.Identity, deps: ApprovalDeps
) -> DecisionForm:
    """Parse a decision request's body (JSON object or form encoding); MalformedDecision, audited, otherwise."""
    try:
        if "json" in content_type:
            fields: Any = json.loads(body or "{}")
        else:
            fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        return DecisionForm.model_validate(fields)
    except ValidationError as exc:
        # Field names and pydantic's messages only: the input holds the CSRF token and the link's signature.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        reason = f"the decision request is not a decision form ({problems})"
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; deep nesting is a RecursionError
        reason = "the decision request's body is not valid JSON"
    _audit_refusal(approval_id, identity, deps, MalformedDecision.__name__, reason)
    raise MalformedDecision(reason)


def _audit_refusal(approval_id: str, identity: rules.Identity, deps: ApprovalDeps, error: str, reason: str) -> None:
    try:
        subject = deps.store.get(approval_id).model_version
    except ApprovalNotFound:
        subject = approval_id[:8]
    deps.audit.append(
        identity.user or "anonymous",
        "approval.refused",
        subject,
        {"approval_id": approval_id, "error": error, "message": reason},
    )


def evidence_hashes(record: ModelVersion) -> dict[str, str]:
    """What an approver's decision rests on, by content hash."""
    hashes = {
        "model": record.model_artifact.sha256,
        "data": record.data.sha256,
        "config": record.config.sha256,
        "code": record.source_sha256,
    }
    hashes |= {f"report:{name}": digest.sha256 for name, digest in record.reports.items()}
    return hashes


def _originator(request: PipelineRequest, deps: ApprovalDeps) -> Originator:
    """Who caused the run: the event's principal, or for a data arrival the upload's CloudTrail identity."""
    named = resolve_originator(request.trigger.principal)
    if named.resolved or request.trigger.kind != "data-arrival":
        return named
    upload = deps.uploads(request.data)
    if upload is None:
        return Originator(named.principal, None, f"{named.evidence}; no CloudTrail record of the upload (yet)")
    return upload.originator


def request_approval(
    event: ApprovalRequestEvent, deps: ApprovalDeps, *, base_url: str, now: datetime
) -> ApprovalRecord:
    """Store the task token server-side, notify approvers with a signed link (no token in it).

    A redriven execution enters the waiting state again with a new task token: if its request is
    still pending, the new token is sealed to that request instead, so the link already sent keeps
    working and approvers are not notified twice.
    """
    record = deps.registry.get(event.registration.model_version)
    resumed = _pending_request(deps, event, now)
    if resumed is not None:
        deps.store.rebind_token(resumed.approval_id, event.task_token)
        deps.audit.append(
            "system:request-approval",
            "approval.resumed",
            record.model_version,
            {"approval_id": resumed.approval_id, "execution": event.execution_name},
            resumed.evidence,
        )
        return resumed
    spec = event.request.model
    originator = _originator(event.request, deps)
    # A low-risk model is approved automatically, never here: should one wait here all the same
    # (an older state machine), a person approves it, never nobody. When no person can be resolved
    # as the run's cause, whoever caused it must not be able to approve it alone: four-eyes.
    required = max(1, spec.approvals_required) if originator.resolved else max(FOUR_EYES, spec.approvals_required)
    approval = ApprovalRecord(
        approval_id=rules.new_approval_id(),
        execution_name=event.execution_name,
        execution_arn=event.execution_arn,
        model_version=record.model_version,
        triggered_by=event.request.trigger.principal,
        trigger_kind=event.request.trigger.kind,
        requested_at=now,
        # The link must die no later than the waiting state.
        expires_at=now + timedelta(seconds=event.timeout_seconds),
        status="pending",
        evidence=evidence_hashes(record),
        model_name=spec.name,
        risk_tier=spec.risk_tier,
        approvers_group=spec.approvers_group,
        approvals_required=required,
        originator=originator.person,
        originator_evidence=originator.evidence,
    )
    deps.store.create(approval, event.task_token)
    link = rules.approval_link(base_url, deps.secret.get(), approval.approval_id, approval.expires_at)
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted(record.metrics.items()) if k in {"auc", "ks", "accuracy"})
    policy = rules.policy_text(approval.approvals_required, approval.approvers_group, approval.risk_tier)
    four_eyes = rules.four_eyes_reason(approval)
    deps.notifier.publish(
        f"Approval needed: {record.model_version}",
        f"Model {record.model_version} ({spec.name}, risk tier {spec.risk_tier}) from execution "
        f"{event.execution_name} is waiting for review.\n"
        f"Triggered by {approval.triggered_by} ({approval.trigger_kind}); {metrics}.\n"
        f"It needs {policy}.\n" + (f"Four-eyes: {four_eyes}.\n" if four_eyes else "") + "Review the evidence and "
        f"decide: {link}\nThe link expires at {approval.expires_at.isoformat()}.",
        {
            "approval_id": approval.approval_id,
            "model_version": record.model_version,
            "model": spec.name,
            "risk_tier": spec.risk_tier,
            "approvals_required": str(approval.approvals_required),
            "link": link,
            "execution": event.execution_name,
        },
    )
    deps.audit.append(
        "system:request-approval",
        "approval.requested",
        record.model_version,
        {
            "approval_id": approval.approval_id,
            "execution": event.execution_name,
            "model": spec.name,
            "risk_tier": spec.risk_tier,
            "approvals_required": approval.approvals_required,
            "approvers_group": spec.approvers_group,
        },
        approval.evidence,
    )
    return approval


def _pending_request(deps: ApprovalDeps, event: ApprovalRequestEvent, now: datetime) -> ApprovalRecord | None:
    """The unexpired pending request this execution made earlier for the same model version, if any."""
    for approval in deps.store.records_for_execution(event.execution_name):
        if (
            approval.execution_arn == event.execution_arn
            and approval.model_version == event.registration.model_version
            and approval.status == "pending"
            and approval.expires_at > now
        ):
            return approval
    return None


def verify_link_of(
    approval: ApprovalRecord, exp: str | None, sig: str | None, deps: ApprovalDeps, now: datetime
) -> int | None:
    """The link's expiry; None for a genuine link of a decided request that has since expired.

    A decided request's link stays the record of its decision: opened later it shows what was
    decided and by whom, read-only, instead of an error. An altered or forged link is refused as
    always (verify_link checks the signature before the expiry), and so is the expired link of a
    request nobody decided.
    """
    try:
        return rules.verify_link(deps.secret.get(), approval.approval_id, exp, sig, now=now)
    except ApprovalExpired:
        if approval.status in DECIDED:
            return None
        raise


def decide(
    approval_id: str,
    form: DecisionForm,
    identity: rules.Identity,
    deps: ApprovalDeps,
    *,
    approver_group: str,
    now: datetime,
) -> ApprovalRecord:
    """POST: check link, CSRF, approver rights; record the approval or rejection; resume or fail the execution.

    ``approver_group`` is the stack's group, used for requests made before risk tiers; a request
    names its model's group. An approval that leaves the request short of its policy's distinct
    approvers is recorded (and audited) and the execution keeps waiting: the returned record is
    still ``pending``. The approval that completes it, or any rejection, resumes the execution —
    exactly once, because the store's write is conditional (first decision wins).
    """
    refuse_subject = approval_id[:8]
    try:
        approval = deps.store.get(approval_id)
        refuse_subject = approval.model_version
        secret = deps.secret.get()
        if verify_link_of(approval, form.exp, form.sig, deps, now) is None:
            # A decided request's link says who decided, not that it expired.
            raise ApprovalAlreadyDecided(
                f"{approval.model_version} was already {approval.status} by {approval.decided_by or 'someone'}"
            )
        rules.verify_csrf(secret, approval_id, identity.user, form.csrf_token)
        group = rules.approver_group(approval, approver_group)
        rules.check_may_decide(identity, approver_group=group, originator=rules.originator_of(approval))
        if form.decision == "reject":
            if not form.reason.strip():
                raise ApprovalForbidden("a rejection needs a reason")
            decided = deps.store.decide(approval_id, "rejected", identity.user, form.reason.strip(), now)
        else:
            signoff = ApproverSignoff(approver=identity.user, approved_at=now, reason=form.reason.strip())
            decided = deps.store.add_approval(approval_id, signoff)
    except (ApprovalForbidden, ApprovalExpired, ApprovalAlreadyDecided, DuplicateApprover) as exc:
        deps.audit.append(
            identity.user or "anonymous",
            "approval.refused",
            refuse_subject,
            {"approval_id": approval_id, "decision": form.decision, "error": type(exc).__name__, "message": str(exc)},
        )
        raise
    except Exception as exc:
        deps.audit.append(
            identity.user or "anonymous",
            "approval.refused",
            refuse_subject,
            {"approval_id": approval_id, "error": type(exc).__name__, "message": str(exc)},
        )
        raise
    if decided.status == "pending":
        deps.audit.append(
            identity.user,
            "approval.signed_off",
            approval.model_version,
            {
                "approval_id": approval_id,
                "progress": rules.progress(decided),
                "reason": form.reason.strip(),
                "execution": approval.execution_name,
            },
            approval.evidence,
        )
        deps.audit.seal()
        return decided
    decision = decision_of(decided, decided.status, now)
    _resume(approval, decided, decision, identity, deps)
    details: dict[str, Any] = {
        "approval_id": approval_id,
        "decision": decided.status,
        "reason": decision.reason,
        "execution": approval.execution_name,
    }
    if decided.approvals:
        details |= {"approvers": ",".join(a.approver for a in decided.approvals), "progress": rules.progress(decided)}
    deps.audit.append(identity.user, "approval.decided", approval.model_version, details, approval.evidence)
    deps.audit.seal()  # a person's decision is sealed at once, not after the next 50 records
    return decided


def decision_of(record: ApprovalRecord, outcome: str, now: datetime) -> ApprovalDecision:
    """The lineage entry of a decided request, with the policy that applied and every approver."""
    return ApprovalDecision.model_validate(
        {
            "approval_id": record.approval_id,
            "decision": outcome,
            "decided_by": record.decided_by or "unknown",
            "decided_at": record.decided_at or now,
            "reason": record.reason or "",
            "evidence_sha256": record.evidence,
            "approvers": record.approvals,
            "risk_tier": record.risk_tier,
            "approvals_required": record.approvals_required,
            "policy": rules.policy_text(record.approvals_required, record.approvers_group, record.risk_tier),
        }
    )


def _resume(
    approval: ApprovalRecord,
    decided: ApprovalRecord,
    decision: ApprovalDecision,
    identity: rules.Identity,
    deps: ApprovalDeps,
) -> None:
    """SendTaskSuccess with the decision (every approver in it), or SendTaskFailure with the rejection."""
    approval_id = approval.approval_id
    # Undone if the execution cannot take it: this person's approval (a rejection withdraws none).
    withdraw = identity.user if decided.status == "approved" else None
    try:
        token = deps.store.task_token(approval_id)
        if decided.status == "approved":
            deps.sfn.send_task_success(taskToken=token, output=json.dumps(decision.model_dump(mode="json")))
        else:
            deps.sfn.send_task_failure(
                taskToken=token,
                error="ApprovalRejected",
                cause=f"rejected by {identity.user}: {decided.reason}"[:32768],
            )
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "InvalidToken":
            # No waiting task has this token now: the execution is between a crash of its (local)
            # runtime and the redrive that seals a new token to this same request. Keep it pending,
            # without this person's approval, so that the same person can try again.
            deps.store.reopen(approval_id, withdraw)
            raise ApprovalNotWaiting(
                "the pipeline is not waiting for a decision at this moment (it is resuming after a restart); "
                "nothing was changed: try again in a few seconds"
            ) from exc
        if code in {"TaskTimedOut", "TaskDoesNotExist"}:
            deps.store.set_status(approval_id, "expired")
            deps.audit.append(
                identity.user,
                "approval.refused",
                approval.model_version,
                {"approval_id": approval_id, "error": code, "message": "the waiting task is gone"},
            )
            raise ApprovalExpired(
                f"the pipeline stopped waiting for this approval ({code}); nothing was changed"
            ) from exc
        deps.store.reopen(approval_id, withdraw)
        raise TransientStorageError(f"could not resume the execution ({code}); try again") from exc


def decision_page(record: ApprovalRecord) -> str:
    return render_decision_page(record)


def utcnow() -> datetime:
    return datetime.now(UTC)
