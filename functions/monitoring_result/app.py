"""Monitoring Result: a monitoring job's state change -> alert, audit ledger, Model Drift Detected."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.models import ProcessingJobStateChange
from governed_mlops.observability import logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.monitoring import ResultDeps, handle_job_state_change
from governed_mlops.settings import MonitoringResultSettings

SETTINGS = MonitoringResultSettings.from_environ(os.environ)


@cache
def dependencies() -> ResultDeps:
    return wiring.monitoring_result(SETTINGS)


@logger.inject_lambda_context(correlation_id_path="detail.ProcessingJobName")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = parse(event=event, model=ProcessingJobStateChange)
    return handle_job_state_change(
        change.detail,
        dependencies(),
        artifacts_bucket=SETTINGS.artifacts_bucket,
        account=change.account,
        region=change.region,
    )
