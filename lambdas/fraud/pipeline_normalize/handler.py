"""Step Functions task: validate the execution input and fill every default (``PipelineConfig``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from vigil.fraud import pipeline

logger = Logger()
metrics = Metrics()
tracer = Tracer()


class NormalizeEvent(BaseModel):
    input: dict[str, Any] | None = None
    execution_name: str = Field(alias="executionName", min_length=1)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=NormalizeEvent)
@pipeline.counts_step_errors(logger, metrics)
def handler(event: NormalizeEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: NormalizeEvent) -> dict:
    config = pipeline.normalize_input(
        event.input, event.execution_name, pipeline.PipelineEnvironment.from_env()
    )
    logger.info("normalized pipeline input", extra={"runId": config["runId"]})
    return config
