"""Step Functions task: does the SageMaker endpoint exist, and what is its status?"""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from vigil.fraud import pipeline
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


class EndpointStatusEvent(BaseModel):
    endpoint_name: str = Field(alias="endpointName", min_length=1, max_length=63)


@lambda_handler(
    logger,
    metrics,
    tracer,
    model=EndpointStatusEvent,
    error_metric=pipeline.STEP_ERRORS_METRIC,
    error_message="pipeline step failed",
)
def handler(event: EndpointStatusEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: EndpointStatusEvent) -> dict:
    return pipeline.endpoint_status(event.endpoint_name)
