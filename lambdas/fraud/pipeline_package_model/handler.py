"""Step Functions task: training ``model.tar.gz`` + inference code bundle → deployable tarball."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from vigil.fraud import pipeline

logger = Logger()
metrics = Metrics()
tracer = Tracer()


class PackageModelEvent(BaseModel):
    model_uri: str = Field(alias="modelUri", min_length=6)
    output_uri: str = Field(alias="outputUri", min_length=6)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=PackageModelEvent)
def handler(event: PackageModelEvent, context: LambdaContext) -> dict:
    try:
        return _run(event)
    except Exception:
        metrics.add_metric(name="PipelineStepErrors", unit=MetricUnit.Count, value=1)
        logger.exception("pipeline step failed")
        raise  # Step Functions catches it by its class name and notifies the failure topic


def _run(event: PackageModelEvent) -> dict:
    result = pipeline.package_model(
        event.model_uri, os.environ["CODE_BUNDLE_URI"], event.output_uri
    )
    metrics.add_metric(name="PackagedModelBytes", unit=MetricUnit.Bytes, value=result["bytes"])
    return result
