"""Outcome classes: the same class for the same run in alerts, pages and the CLI."""

from __future__ import annotations

import pytest

from governed_mlops.domain.outcomes import OUTCOME_LABELS, classify, pages_on_call
from governed_mlops.services.alerts import ExecutionStatusChange, handle_status_change


@pytest.mark.parametrize(
    ("status", "error", "outcome"),
    [
        ("SUCCEEDED", None, "succeeded"),
        ("RUNNING", None, "running"),
        ("FAILED", "QualityGateFailed", "policy_stop"),
        ("FAILED", "BiasThresholdExceeded", "policy_stop"),
        ("FAILED", "ChampionGateFailed", "policy_stop"),
        ("FAILED", "ApprovalRejected", "human_decision"),
        ("FAILED", "ApprovalExpired", "human_decision"),
        ("FAILED", "DataValidationError", "fault"),
        ("FAILED", "States.Timeout", "fault"),
        ("FAILED", "Lambda.ServiceException", "fault"),
        ("TIMED_OUT", None, "fault"),
        ("ABORTED", None, "fault"),
        ("INTERRUPTED", None, "fault"),
    ],
)
def test_each_ending_has_one_class(status: str, error: str | None, outcome: str) -> None:
    assert classify(status, error) == outcome
    assert outcome in OUTCOME_LABELS


def test_only_faults_page_on_call() -> None:
    assert [o for o in OUTCOME_LABELS if pages_on_call(o)] == ["fault"]  # type: ignore[arg-type]


class _Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def publish(self, subject: str, message: str, attributes: dict[str, str]) -> str:
        self.sent.append((subject, message, attributes))
        return str(len(self.sent))


class _Audit:
    def __init__(self) -> None:
        self.actions: list[tuple[str, dict[str, object]]] = []

    def append(self, actor: str, action: str, subject: str, details: dict[str, object], *_: object) -> None:
        self.actions.append((action, details))

    def seal(self) -> None:
        pass


class _History:
    def get_execution_history(self, **_: object) -> dict[str, object]:
        return {
            "events": [
                {"id": 1, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Gate Model Bias"}},
                {"id": 2, "type": "TaskFailed"},
                {"id": 3, "type": "TaskStateExited", "stateExitedEventDetails": {"name": "Gate Model Bias"}},
                {"id": 4, "type": "FailStateEntered", "stateEnteredEventDetails": {"name": "Pipeline Failed"}},
            ]
        }


def _ended(error: str) -> ExecutionStatusChange:
    return ExecutionStatusChange.model_validate(
        {
            "id": "event-1",
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": "arn:aws:states:us-east-1:1:execution:sm:data-1",
                "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:sm",
                "name": "data-1",
                "status": "FAILED",
                "error": error,
                "cause": "{}",
            },
        }
    )


@pytest.mark.parametrize(
    ("error", "kind", "action", "subject"),
    [
        ("SageMakerJobFailed", "alert", "pipeline.failed", "Pipeline FAILED: data-1 at Gate Model Bias"),
        ("BiasThresholdExceeded", "notification", "pipeline.stopped", "Model refused by a gate: data-1 at Gate Model"),
        ("ApprovalRejected", "notification", "pipeline.stopped", "Model not approved: data-1"),
    ],
)
def test_a_fault_pages_on_call_while_a_gate_or_a_person_only_notifies(
    error: str, kind: str, action: str, subject: str
) -> None:
    outbox, audit = _Outbox(), _Audit()

    handle_status_change(_ended(error), sfn=_History(), notifier=outbox, audit=audit, history_url_template="{name}")

    ((sent_subject, message, attributes),) = outbox.sent
    assert sent_subject.startswith(subject)
    assert (attributes["kind"], attributes["outcome"]) == (kind, classify("FAILED", error))
    assert f"outcome: {OUTCOME_LABELS[classify('FAILED', error)]}" in message
    assert [a for a, _ in audit.actions] == [action]
