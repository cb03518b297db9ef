"""Register Model: a versioned model record with its complete lineage."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.adapters import factory
from governed_mlops.adapters.model_registry import ModelRegistry
from governed_mlops.adapters.object_store import ObjectStore
from governed_mlops.adapters.pipeline import definition_sha256
from governed_mlops.models import StageEvent
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services.stages import register_model
from governed_mlops.settings import RegisterSettings

SETTINGS = RegisterSettings.from_environ(os.environ)


@cache
def adapters() -> tuple[ObjectStore, ModelRegistry, Any]:
    return (
        factory.object_store(SETTINGS),
        factory.model_registry(SETTINGS, SETTINGS.registry_table),
        factory.client("stepfunctions", SETTINGS),
    )


@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stage = parse(event=event, model=StageEvent)
    store, registry, sfn = adapters()
    record = register_model(
        stage,
        store,
        registry,
        definition_sha256=definition_sha256(sfn, stage.state_machine_arn),
    )
    logger.info("model registered", extra={"model_version": record.model_version})
    return {"model_version": record.model_version, "status": record.status}
