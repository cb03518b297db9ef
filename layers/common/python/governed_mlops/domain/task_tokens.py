"""Task-token redaction for execution histories shown to people (local store, ``mlops history``, ``mlops ui``).

A task token resumes a waiting execution: whoever holds it can approve a model. The approval flow
keeps tokens only in the approvals store, so every history that on-call staff read drops them.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r'("task_?[tT]oken"\s*:\s*")[^"]+(")')
#: The same field inside a JSON string that holds JSON (a log line's message, a state's input as text).
_ESCAPED_TOKEN = re.compile(r'(\\"task_?[tT]oken\\"\s*:\s*\\")[^"\\]+(\\")')
REDACTED = "<redacted: task tokens are kept only in the approvals store>"


def redact_text(text: str) -> str:
    """``text`` (JSON, or a log line holding JSON, escaped or not) with every task token value replaced."""
    return _ESCAPED_TOKEN.sub(rf"\g<1>{REDACTED}\g<2>", _TOKEN.sub(rf"\g<1>{REDACTED}\g<2>", text))


def redact_task_tokens(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` (a GetExecutionHistory event) with every ``task_token``/``taskToken`` value in its details replaced."""
    clean = dict(event)
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict):
            clean[key] = {k: redact_text(v) if isinstance(v, str) else v for k, v in details.items()}
    return clean
