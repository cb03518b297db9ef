"""Check Bias Gates: Clarify bias metrics of one stage (pre- or post-training) against configured limits."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.models import StageEvent
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.stages import check_bias_gates
from governed_mlops.settings import StageSettings

SETTINGS = StageSettings.from_environ(os.environ)


@cache
def dependencies() -> wiring.StageDeps:
    return wiring.stage(SETTINGS)


@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = check_bias_gates(parse(event=event, model=StageEvent), dependencies().store)
    # One EMF metric per facet and Clarify metric (e.g. Bias.sex.DPL), for dashboards and alarms.
    for name, value in result.summary.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics.add_metric(name=f"Bias.{name}", unit=MetricUnit.NoUnit, value=value)
    return result.model_dump(mode="json")
