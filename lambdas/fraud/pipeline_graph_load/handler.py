"""Step Functions task: start a Neptune bulk load, or report its status (fails on loader errors).

Runs in the VPC; calls the Neptune loader HTTP API with SigV4 (IAM auth) through boto3 ``neptunedata``.
"""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from vigil.fraud import pipeline
from vigil.fraud.contract import GraphLoadSettings
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


class GraphLoadEvent(BaseModel):
    action: Literal["start", "status"]
    source: str | None = None
    format: str | None = None
    load_id: str | None = Field(None, alias="loadId")


@lambda_handler(
    logger,
    metrics,
    tracer,
    model=GraphLoadEvent,
    error_metric=pipeline.STEP_ERRORS_METRIC,
    error_message="pipeline step failed",
)
def handler(event: GraphLoadEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: GraphLoadEvent) -> dict:
    settings = GraphLoadSettings.from_environment()
    client = pipeline.neptune_client(settings.neptune_endpoint)
    if event.action == "start":
        if not event.source or not event.format:
            raise pipeline.PipelineError("action 'start' needs 'source' and 'format'")
        result = pipeline.start_graph_load(
            client,
            source=event.source,
            fmt=event.format,
            role_arn=settings.neptune_load_role_arn,
            region=settings.region,
        )
        logger.info("bulk load queued", extra=result)
        return result
    if not event.load_id:
        raise pipeline.PipelineError("action 'status' needs 'loadId'")
    try:
        return pipeline.graph_load_status(client, event.load_id)
    except pipeline.GraphLoadFailed:
        metrics.add_metric(name="GraphLoadFailed", unit=MetricUnit.Count, value=1)
        raise
