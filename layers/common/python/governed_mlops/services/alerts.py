"""On-call alerts and owners' notifications: one message per execution that did not succeed.

A fault (something broke) is an alert, ``kind=alert``, which pages on-call staff. A policy stop (a
gate refused the model) or a human decision (rejected, or not decided in time) is a notification,
``kind=notification``, for the model's owners. Both name the same state and the same outcome class
as the execution pages and ``mlops history`` (:mod:`governed_mlops.domain.outcomes`).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from governed_mlops.adapters.approvals import Notifier
from governed_mlops.domain.outcomes import OUTCOME_LABELS, classify, failed_state, pages_on_call
from governed_mlops.services.audit import AuditSink

ALERT_STATUSES = {"FAILED", "TIMED_OUT", "ABORTED"}
_HEADLINES = {"policy_stop": "Model refused by a gate", "human_decision": "Model not approved"}


class ExecutionStatusDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    name: str
    status: str
    error: str | None = None
    cause: str | None = None


class ExecutionStatusChange(BaseModel):
    """EventBridge "Step Functions Execution Status Change"."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: ExecutionStatusDetail


class History(Protocol):
    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]: ...


def _short(cause: str | None) -> str:
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause[:2000]
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed.get("FailureReason") or cause)[:2000]
    return cause[:2000]


def handle_status_change(
    event: ExecutionStatusChange,
    *,
    sfn: History,
    notifier: Notifier,
    audit: AuditSink,
    history_url_template: str,
) -> dict[str, str]:
    """Record the outcome in the audit ledger and seal it; alert on-call staff about failures (once per event)."""
    detail = event.detail
    if detail.status not in ALERT_STATUSES:
        audit.append("system:execution-monitor", "pipeline.succeeded", detail.name, {"status": detail.status})
        audit.seal()  # the execution is over: leave no unsealed tail behind it
        return {"alerted": "no", "status": detail.status}
    events = sfn.get_execution_history(executionArn=detail.execution_arn, maxResults=1000)["events"]
    state = failed_state(events)
    link = history_url_template.format(name=detail.name, arn=detail.execution_arn)
    error = detail.error or detail.status
    outcome = classify(detail.status, detail.error)
    alert = pages_on_call(outcome)
    body = {
        "execution": detail.name,
        "status": detail.status,
        "outcome": OUTCOME_LABELS[outcome],
        "failed_state": state,
        "error": error,
        "cause": _short(detail.cause),
        "history": link,
    }
    subject = (
        f"Pipeline {detail.status}: {detail.name} at {state} ({error})"
        if alert
        else f"{_HEADLINES[outcome]}: {detail.name} at {state} ({error})"
    )
    notifier.publish(
        subject[:100],
        "\n".join(f"{k}: {v}" for k, v in body.items()),
        {
            "execution": detail.name,
            "failed_state": state,
            "error": error,
            "history": link,
            "kind": "alert" if alert else "notification",
            "outcome": outcome,
            "event_id": event.id,
        },
    )
    audit.append(
        "system:execution-monitor",
        "pipeline.failed" if alert else "pipeline.stopped",
        detail.name,
        {"status": detail.status, "failed_state": state, "error": error, "outcome": outcome},
    )
    audit.seal()
    return {"alerted": "yes" if alert else "no", "notified": "yes", **body}
