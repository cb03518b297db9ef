"""On-call alerts: one message per failed, timed-out, aborted or rolled-back execution."""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from governed_mlops.adapters.approvals import Notifier
from governed_mlops.services.audit import AuditSink

ALERT_STATUSES = {"FAILED", "TIMED_OUT", "ABORTED"}


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


def failed_state(history: list[dict[str, Any]]) -> str:
    """The last state that was entered and did not exit normally (what on-call staff look at first)."""
    open_states: list[str] = []
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered") and kind != "FailStateEntered":
            open_states.append(event["stateEnteredEventDetails"]["name"])
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            # A Task that timed out (TaskTimedOut, LambdaFunctionTimedOut) failed as much as one that failed.
            failed_here = any(e["type"].endswith(("Failed", "TimedOut")) for e in history if e["id"] == event["id"] - 1)
            if name in open_states and not failed_here:
                open_states.remove(name)
    if open_states:
        return open_states[-1]
    fails = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "FailStateEntered"]
    return fails[-1] if fails else "unknown"


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
    body = {
        "execution": detail.name,
        "status": detail.status,
        "failed_state": state,
        "error": error,
        "cause": _short(detail.cause),
        "history": link,
    }
    notifier.publish(
        f"Pipeline {detail.status}: {detail.name} at {state} ({error})",
        "\n".join(f"{k}: {v}" for k, v in body.items()),
        {
            "execution": detail.name,
            "failed_state": state,
            "error": error,
            "history": link,
            "kind": "alert",
            "event_id": event.id,
        },
    )
    audit.append(
        "system:execution-monitor",
        "pipeline.failed",
        detail.name,
        {"status": detail.status, "failed_state": state, "error": error},
    )
    audit.seal()
    return {"alerted": "yes", **body}
