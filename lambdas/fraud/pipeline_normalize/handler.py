"""Step Functions task: validate the execution input and fill every default (``PipelineConfig``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
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
def handler(event: NormalizeEvent, context: LambdaContext) -> dict:
    try:
        return _run(event)
    except Exception:
        metrics.add_metric(name="PipelineStepErrors", unit=MetricUnit.Count, value=1)
        logger.exception("pipeline step failed")
        raise  # Step Functions catches it by its class name and notifies the failure topic


def _run(event: NormalizeEvent) -> dict:
    config = pipeline.normalize_input(
        event.input, event.execution_name, pipeline.PipelineEnvironment.from_env()
    )
    logger.info("normalized pipeline input", extra={"runId": config["runId"]})
    return config
