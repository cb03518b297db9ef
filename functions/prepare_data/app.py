"""Prepare Data: deterministic split, the training job's channels, a push's job code packed from its commit."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.models import StageEvent
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.stages import prepare_data
from governed_mlops.settings import PrepareSettings

SETTINGS = PrepareSettings.from_environ(os.environ)


@cache
def dependencies() -> wiring.PrepareDeps:
    return wiring.prepare(SETTINGS)


@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = dependencies()
    result = prepare_data(parse(event=event, model=StageEvent), deps.store, SETTINGS, deps.sources)
    return result.model_dump(mode="json")
