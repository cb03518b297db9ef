"""Approval API authorizer (REQUEST): the session cookie's ID token, verified against the approvers' user pool."""

import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import APIGatewayAuthorizerRequestEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.observability import logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.approver_session import SessionDeps, authorize
from governed_mlops.settings import ApproverAuthorizerSettings

SETTINGS = ApproverAuthorizerSettings.from_environ(os.environ)


@cache
def dependencies() -> SessionDeps:
    return wiring.approver_authorizer(SETTINGS)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    cookie = request.headers.get("cookie")  # case-insensitive in Powertools v3
    return authorize(cookie, request.method_arn, dependencies(), now=datetime.now(UTC))
