"""Verify Deployment: the endpoint serves the deployed config, or the run fails with DeploymentRolledBack."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.adapters import factory
from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services.approval import utcnow
from governed_mlops.services.audit import AuditSink
from governed_mlops.services.deploy import VerifyEvent, verify_deployment
from governed_mlops.settings import VerifySettings

SETTINGS = VerifySettings.from_environ(os.environ)


@cache
def dependencies() -> tuple[ModelRegistry, AuditSink]:
    return factory.model_registry(SETTINGS, SETTINGS.registry_table), factory.audit_ledger(SETTINGS)


@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    registry, audit = dependencies()
    return verify_deployment(parse(event=event, model=VerifyEvent), registry, audit, now=utcnow())
