"""Start Monitoring: EventBridge Scheduler -> a processing job (jobs/monitor.py run) per endpoint in service."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.models import MonitoringScheduleInput
from governed_mlops.observability import logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.monitoring_schedule import ScheduleDeps, start_monitoring
from governed_mlops.settings import MonitoringScheduleSettings

SETTINGS = MonitoringScheduleSettings.from_environ(os.environ)


@cache
def dependencies() -> ScheduleDeps:
    return wiring.monitoring_schedule(SETTINGS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    schedule_input = parse(event=event, model=MonitoringScheduleInput)
    result = start_monitoring(dependencies(), wiring.monitoring_job(SETTINGS), endpoints=schedule_input.endpoints)
    metrics.add_metric(name="MonitoringJobsStarted", unit=MetricUnit.Count, value=len(result["started"]))
    return result
