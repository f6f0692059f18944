"""Step Functions task: typed hyperparameters → SageMaker's HyperParameters string map."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from vigil.fraud import pipeline

logger = Logger()
metrics = Metrics()
tracer = Tracer()


class HyperparametersEvent(BaseModel):
    hyperparameters: dict[str, Any]


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=HyperparametersEvent)
@pipeline.counts_step_errors(logger, metrics)
def handler(event: HyperparametersEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: HyperparametersEvent) -> dict:
    return pipeline.build_hyperparameters(event.hyperparameters)
