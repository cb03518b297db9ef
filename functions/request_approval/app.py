"""Request Approval: store the task token, notify approvers with a signed link (waitForTaskToken)."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.models import ApprovalRequested
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services import approval_deps
from governed_mlops.services.approval import ApprovalDeps, ApprovalRequestEvent, request_approval, utcnow
from governed_mlops.settings import RequestApprovalSettings

SETTINGS = RequestApprovalSettings.from_environ(os.environ)


@cache
def dependencies() -> ApprovalDeps:
    return approval_deps.build(SETTINGS)


# The event carries the task token: it is never logged (log_event stays off).
@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=ApprovalRequestEvent)
    record = request_approval(request, dependencies(), base_url=SETTINGS.approval_api_url, now=utcnow())
    logger.info("approval requested", extra={"approval_id": record.approval_id, "model_version": record.model_version})
    return ApprovalRequested(approval_id=record.approval_id, expires_at=record.expires_at.isoformat()).model_dump()
