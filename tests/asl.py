"""What the tests that read the ASL share: the definition files and the errors Step Functions itself raises."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ASL_FILES = sorted((REPO_ROOT / "statemachines").glob("*.asl.json"))

#: Every ``States.*`` error name Step Functions defines (any other ``States.`` name is a typo).
STATES_ERRORS = frozenset(
    {
        "States.ALL",
        "States.Timeout",
        "States.TaskFailed",
        "States.Permissions",
        "States.ResultPathMatchFailure",
        "States.ParameterPathFailure",
        "States.BranchFailed",
        "States.NoChoiceMatched",
        "States.IntrinsicFailure",
        "States.ExceedToleratedFailureThreshold",
        "States.ItemReaderFailed",
        "States.ResultWriterFailed",
        "States.HeartbeatTimeout",
        "States.Runtime",
        "States.QueryEvaluationError",
    }
)
