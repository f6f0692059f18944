"""Step Functions task: stage the raw IEEE-CIS files as one folder per table (or no-op)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from vigil.fraud import pipeline
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


class IngestEvent(BaseModel):
    location: str = Field(min_length=6)
    tables: str = Field(min_length=6)


@lambda_handler(
    logger,
    metrics,
    tracer,
    model=IngestEvent,
    error_metric=pipeline.STEP_ERRORS_METRIC,
    error_message="pipeline step failed",
)
def handler(event: IngestEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: IngestEvent) -> dict:
    result = pipeline.stage_raw_data(event.location, event.tables)
    metrics.add_metric(name="RawFilesStaged", unit=MetricUnit.Count, value=result["files"])
    return result
