"""Verify Deployment: the endpoint serves the deployed config, or the run fails with DeploymentRolledBack."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.models import DeploymentOutput
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.approval import utcnow
from governed_mlops.services.deploy import VerifyEvent, verify_deployment
from governed_mlops.settings import VerifySettings

SETTINGS = VerifySettings.from_environ(os.environ)


@cache
def dependencies() -> wiring.VerifyDeps:
    return wiring.verify(SETTINGS)


@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = dependencies()
    deployment = verify_deployment(parse(event=event, model=VerifyEvent), deps.registry, deps.audit, now=utcnow())
    return DeploymentOutput.model_validate(deployment).model_dump(mode="json")
