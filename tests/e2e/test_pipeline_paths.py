"""The parity tier's pipeline paths against a real deployed stack (one scenario suite, two targets).

Run with AWS credentials and ``MLOPS_STACK_NAME`` (and, for the paths that need a decision, an approver
of the stack's user pool: ``MLOPS_E2E_APPROVER`` / ``MLOPS_E2E_APPROVER_PASSWORD``); without them every
test here is skipped with the reason (tests/e2e/conftest.py). Paths that need fault injection (redrive
after a refused training job), a timeout shorter than the deployment's (approval expiry), or the parity
stack's IAM recorder (least privilege) run on the parity stack only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.e2e.aws_world import AwsWorld, aws_world
from tests.parity.test_pipeline_decisions import (  # the scenarios, shared with tests/parity
    test_drift_event_for_the_endpoint_starts_a_retraining_run,
    test_rejection_marks_the_version_rejected_and_deploys_nothing,
)
from tests.parity.test_pipeline_paths import (
    pushed_and_deployed,
    test_dataset_upload_trains_registers_is_approved_and_deploys,
    test_drift_event_for_an_endpoint_no_model_serves_starts_nothing,
    test_failing_step_sends_exactly_one_alert,
    test_push_to_main_trains_registers_is_approved_and_deploys,
    test_redrive_of_a_succeeded_execution_is_refused,
    test_release_step_published_the_job_code_and_configuration,
)

# Path (a) first, whichever test comes first, as on the parity stack (tests/parity/test_pipeline_paths.py).
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("pushed_and_deployed")]

__all__ = [
    "pushed_and_deployed",
    "test_dataset_upload_trains_registers_is_approved_and_deploys",
    "test_drift_event_for_an_endpoint_no_model_serves_starts_nothing",
    "test_drift_event_for_the_endpoint_starts_a_retraining_run",
    "test_failing_step_sends_exactly_one_alert",
    "test_push_to_main_trains_registers_is_approved_and_deploys",
    "test_redrive_of_a_succeeded_execution_is_refused",
    "test_rejection_marks_the_version_rejected_and_deploys_nothing",
    "test_release_step_published_the_job_code_and_configuration",
]


@pytest.fixture(scope="module")
def world() -> Iterator[AwsWorld]:
    if not (os.environ.get("MLOPS_E2E_APPROVER") and os.environ.get("MLOPS_E2E_SECOND_APPROVER")):
        pytest.skip(
            "e2e: set MLOPS_E2E_APPROVER, MLOPS_E2E_SECOND_APPROVER and their _PASSWORD and _TOTP_SECRET variables "
            "(two approvers of the stack's pool: credit-risk is high risk)"
        )
    with aws_world(os.environ["MLOPS_STACK_NAME"]) as active:
        yield active
