"""Step Functions task: validate the execution input and fill every default (``PipelineConfig``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from vigil.fraud import pipeline
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


class NormalizeEvent(BaseModel):
    input: dict[str, Any] | None = None
    execution_name: str = Field(alias="executionName", min_length=1)


@lambda_handler(
    logger,
    metrics,
    tracer,
    model=NormalizeEvent,
    error_metric=pipeline.STEP_ERRORS_METRIC,
    error_message="pipeline step failed",
)
def handler(event: NormalizeEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: NormalizeEvent) -> dict:
    config = pipeline.normalize_input(
        event.input, event.execution_name, pipeline.PipelineEnvironment.from_env()
    )
    logger.info("normalized pipeline input", extra={"runId": config["runId"]})
    return config
