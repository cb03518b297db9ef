"""Execution Monitor: Step Functions status changes -> audit ledger, and one alert per failed execution."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.observability import logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.alerts import ExecutionStatusChange, handle_status_change
from governed_mlops.settings import MonitorSettings

SETTINGS = MonitorSettings.from_environ(os.environ)


@cache
def dependencies() -> wiring.MonitorDeps:
    return wiring.monitor(SETTINGS)


@logger.inject_lambda_context(correlation_id_path="detail.name")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change, deps = parse(event=event, model=ExecutionStatusChange), dependencies()
    return handle_status_change(
        change,
        sfn=deps.sfn,
        notifier=deps.notifier,
        audit=deps.audit,
        history_url_template=SETTINGS.history_url_template,
    )
