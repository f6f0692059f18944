"""Step Functions task: stage the raw IEEE-CIS files as one folder per table (or no-op)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from vigil.fraud import pipeline

logger = Logger()
metrics = Metrics()
tracer = Tracer()


class IngestEvent(BaseModel):
    location: str = Field(min_length=6)
    tables: str = Field(min_length=6)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=IngestEvent)
@pipeline.counts_step_errors(logger, metrics)
def handler(event: IngestEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: IngestEvent) -> dict:
    result = pipeline.stage_raw_data(event.location, event.tables)
    metrics.add_metric(name="RawFilesStaged", unit=MetricUnit.Count, value=result["files"])
    return result
