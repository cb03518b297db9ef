"""Trigger: EventBridge (CodeCommit push / S3 Object Created / Model Drift Detected) -> one execution per model."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.observability import logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.trigger import TriggerDeps, start_pipeline
from governed_mlops.settings import TriggerSettings

SETTINGS = TriggerSettings.from_environ(os.environ)


@cache
def dependencies() -> TriggerDeps:
    return wiring.trigger(SETTINGS)


@logger.inject_lambda_context(correlation_id_path="id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = start_pipeline(event, SETTINGS, dependencies())
    logger.info("trigger handled", extra=result.model_dump())
    for run in result.runs:
        metrics.add_metric(name=f"Executions{run.status.title()}", unit=MetricUnit.Count, value=1)
    return result.model_dump()
