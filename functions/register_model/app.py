"""Register Model: a versioned model record with its complete lineage."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.adapters.pipeline import definition_that_ran
from governed_mlops.models import RegistrationOutput, StageEvent
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.stages import register_model
from governed_mlops.settings import RegisterSettings

SETTINGS = RegisterSettings.from_environ(os.environ)


@cache
def dependencies() -> wiring.RegisterDeps:
    return wiring.register(SETTINGS)


@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stage, deps = parse(event=event, model=StageEvent), dependencies()
    ran = definition_that_ran(deps.sfn, stage.execution_arn)
    record = register_model(stage, deps.store, deps.registry, definition=ran)
    logger.info("model registered", extra={"model_version": record.model_version})
    return RegistrationOutput(model_version=record.model_version, status=record.status).model_dump(mode="json")
