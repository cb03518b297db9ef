"""What a running AWS execution waits for (``mlops abandon --aws`` closes only a run that waits)."""

from __future__ import annotations

from typing import Any

from governed_mlops.domain.task_tokens import REDACTED, redact_text
from governed_mlops_local.aws_abandon import waiting_on

APPROVAL = "arn:aws:states:::lambda:invoke.waitForTaskToken"
VALIDATE = "arn:aws:lambda:us-east-1:123456789012:function:validate"


def entered(kind: str, name: str) -> dict[str, Any]:
    return {"type": f"{kind}StateEntered", "stateEnteredEventDetails": {"name": name}}


def scheduled(resource: str, kind: str = "Task") -> dict[str, Any]:
    key = "taskScheduledEventDetails" if kind == "Task" else "lambdaFunctionScheduledEventDetails"
    return {"type": f"{kind}Scheduled", key: {"resource": resource, "resourceType": "lambda"}}


def ended(kind: str = "LambdaFunction", outcome: str = "Succeeded") -> dict[str, Any]:
    return {"type": f"{kind}{outcome}"}


def test_a_run_at_a_task_token_waits_for_a_person() -> None:
    events = [entered("Task", "Validate"), scheduled(VALIDATE, "LambdaFunction"), ended()]
    events += [entered("Task", "Request Approval"), scheduled(APPROVAL), {"type": "TaskSubmitted"}]

    assert waiting_on(events) == "a person"


def test_a_run_whose_lambda_works_now_waits_for_nothing() -> None:
    events = [entered("Task", "Validate"), scheduled(VALIDATE, "LambdaFunction"), {"type": "LambdaFunctionStarted"}]

    assert waiting_on(events) is None


def test_a_run_in_a_wait_state_waits_for_time() -> None:
    events = [entered("Task", "Deploy"), scheduled(VALIDATE, "LambdaFunction"), ended(), entered("Wait", "Bake")]

    assert waiting_on(events) == "time"


def test_a_failed_then_retried_task_counts_once() -> None:
    events = [entered("Task", "Validate"), scheduled(VALIDATE, "LambdaFunction"), ended(outcome="Failed")]
    events += [scheduled(VALIDATE, "LambdaFunction")]

    assert waiting_on(events) is None


def test_a_task_token_inside_a_json_string_is_redacted() -> None:
    line = '{"message": "input", "payload": "{\\"taskToken\\": \\"AAAA-secret\\"}"}'

    redacted = redact_text(line)

    assert "AAAA-secret" not in redacted
    assert REDACTED in redacted
