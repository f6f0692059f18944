"""Step Functions task: does the SageMaker endpoint exist, and what is its status?"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from vigil.fraud import pipeline

logger = Logger()
metrics = Metrics()
tracer = Tracer()


class EndpointStatusEvent(BaseModel):
    endpoint_name: str = Field(alias="endpointName", min_length=1, max_length=63)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=EndpointStatusEvent)
@pipeline.counts_step_errors(logger, metrics)
def handler(event: EndpointStatusEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: EndpointStatusEvent) -> dict:
    return pipeline.endpoint_status(event.endpoint_name)
