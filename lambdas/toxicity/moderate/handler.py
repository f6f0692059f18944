"""Moderation API handler: API Gateway (REST, IAM-authorised, request-validated) → the toxicity
endpoint → which messages are flagged and why. Logic lives in ``vigil.toxicity.moderation``."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel
from pydantic import ValidationError

from vigil.lambda_handler import lambda_handler, powertools
from vigil.toxicity.contract import ModerationSettings
from vigil.toxicity.moderation import api_response, moderate_api_body

logger, metrics, tracer = powertools()


@lambda_handler(logger, metrics, tracer)
def handler(event: dict, context) -> dict:
    def count(name: str, value: float) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    try:
        request = parse(event=event, model=APIGatewayProxyEventModel)
    except ValidationError as exc:
        count("InvalidRequest", 1)
        logger.warning("not an API Gateway proxy event", extra={"errors": exc.errors()})
        return api_response(400, {"error": "InvalidRequest", "reason": "not an API request"})
    status, answer = moderate_api_body(
        request.body, endpoint_name=ModerationSettings.from_environment().endpoint_name, count=count
    )
    if status != 200:
        logger.warning("moderation request failed", extra={"status": status, **answer})
    return api_response(status, answer)
