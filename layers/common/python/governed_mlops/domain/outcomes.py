"""How a pipeline run ended, in the classes on-call staff and model owners act on (pure).

- **succeeded**: the run did what it was for (a model deployed, or nothing to do: No Change).
- **fault**: something broke that someone must fix (a failed job, bad data, a timeout, an
  exhausted retry, a rolled-back deployment): an alert that pages on-call staff.
- **policy stop**: a gate did its job and refused the model (quality, bias, champion): a
  notification to the model's owners, not a page.
- **human decision**: an approver rejected the model, or nobody decided in time: a notification,
  not an alert.

Alerts, the execution pages, ``mlops history`` and ``mlops executions`` use :func:`classify`, so
they name the same class for the same run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = ["OUTCOME_LABELS", "Outcome", "classify", "failed_state", "pages_on_call"]

Outcome = Literal["succeeded", "running", "fault", "policy_stop", "human_decision"]

#: Errors a gate raises when it refuses a model (the run worked as designed).
POLICY_STOPS = frozenset({"QualityGateFailed", "BiasThresholdExceeded", "ChampionGateFailed"})
#: Errors that carry a person's decision: a rejection, nobody deciding in time, or an operator abandoning the run.
HUMAN_DECISIONS = frozenset({"ApprovalRejected", "ApprovalExpired", "Abandoned"})

OUTCOME_LABELS: dict[Outcome, str] = {
    "succeeded": "succeeded",
    "running": "running",
    "fault": "fault: someone must fix it",
    "policy_stop": "policy stop: a gate refused the model",
    "human_decision": "human decision: rejected, or not decided in time",
}


def classify(status: str | None, error: str | None) -> Outcome:
    """The outcome class of an execution from its status and error name (``States.*`` names included)."""
    if status == "SUCCEEDED":
        return "succeeded"
    if status in (None, "RUNNING", "PENDING_REDRIVE"):
        return "running"
    name = error or ""
    if name in POLICY_STOPS:
        return "policy_stop"
    if name in HUMAN_DECISIONS:
        return "human_decision"
    return "fault"


def pages_on_call(outcome: Outcome) -> bool:
    """Whether the outcome is an alert for on-call staff (only faults are)."""
    return outcome == "fault"


def failed_state(history: Sequence[Mapping[str, Any]]) -> str:
    """The state a run that did not succeed is blamed on: the last state that was entered and did not
    exit normally (a Task whose error a Catch routed on still failed), else the Fail state it ended in
    (a designed end, such as Model Rejected)."""
    open_states: list[str] = []
    for event in history:
        kind = str(event["type"])
        if kind.endswith("StateEntered") and kind != "FailStateEntered":
            open_states.append(event["stateEnteredEventDetails"]["name"])
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            # A Task that timed out (TaskTimedOut, LambdaFunctionTimedOut) failed as much as one that failed.
            failed_here = any(
                str(e["type"]).endswith(("Failed", "TimedOut")) for e in history if e["id"] == event["id"] - 1
            )
            if name in open_states and not failed_here:
                open_states.remove(name)
    if open_states:
        return open_states[-1]
    fails = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "FailStateEntered"]
    return str(fails[-1]) if fails else "unknown"
