"""Compare with Champion: an identical retrain ends as NoChange; a challenger is gated against the champion."""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from governed_mlops.models import StageEvent
from governed_mlops.observability import EXECUTION_NAME_PATH, logger, metrics, tracer
from governed_mlops.services import wiring
from governed_mlops.services.champion import check_champion_gate, compare_with_champion
from governed_mlops.settings import ChampionSettings

SETTINGS = ChampionSettings.from_environ(os.environ)


@cache
def dependencies() -> wiring.ChampionDeps:
    return wiring.champion(SETTINGS)


@logger.inject_lambda_context(correlation_id_path=EXECUTION_NAME_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stage, deps = parse(event=event, model=StageEvent), dependencies()
    if stage.champion_stage == "gate":
        result = check_champion_gate(stage, deps.store, deps.registry)
    else:
        result = compare_with_champion(stage, deps.store, deps.registry, deps.audit)
    logger.info("champion compared", extra={"outcome": result.outcome, "champion": result.champion})
    return result.model_dump(mode="json")
