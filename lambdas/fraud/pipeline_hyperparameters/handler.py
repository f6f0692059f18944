"""Step Functions task: typed hyperparameters → SageMaker's HyperParameters string map."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from vigil.fraud import pipeline
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


class HyperparametersEvent(BaseModel):
    hyperparameters: dict[str, Any]


@lambda_handler(
    logger,
    metrics,
    tracer,
    model=HyperparametersEvent,
    error_metric=pipeline.STEP_ERRORS_METRIC,
    error_message="pipeline step failed",
)
def handler(event: HyperparametersEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: HyperparametersEvent) -> dict:
    return pipeline.build_hyperparameters(event.hyperparameters)
