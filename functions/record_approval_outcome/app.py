"""Record Approval Outcome: the model version becomes Approved (by people, or automatically for a low-risk
model), or Rejected with the reason (or expiry)."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.models import OutcomeOutput
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services import approval_deps
from governed_mlops.services.approval import ApprovalDeps, utcnow
from governed_mlops.services.approval_outcome import OutcomeEvent, record_outcome
from governed_mlops.settings import ApprovalSettings

SETTINGS = ApprovalSettings.from_environ(os.environ)


@cache
def dependencies() -> ApprovalDeps:
    return approval_deps.build(SETTINGS)


@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = record_outcome(parse(event=event, model=OutcomeEvent), dependencies(), now=utcnow())
    return OutcomeOutput.model_validate(outcome).model_dump(mode="json")
