"""Moderation API handler: API Gateway (REST, IAM-authorised, request-validated) → the toxicity
endpoint → which messages are flagged and why. Logic lives in ``vigil.toxicity.moderation``."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from vigil.api_gateway import InvalidBody, is_proxy_event, json_response, request_body
from vigil.lambda_handler import lambda_handler, powertools
from vigil.toxicity.contract import ModerationSettings
from vigil.toxicity.moderation import moderate_api_body

logger, metrics, tracer = powertools()


@lambda_handler(logger, metrics, tracer)
def handler(event: dict, context) -> dict:
    def count(name: str, value: float) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    if not is_proxy_event(event):
        count("InvalidRequest", 1)
        logger.warning("not an API Gateway proxy event")
        return json_response(400, {"error": "InvalidRequest", "reason": "not an API request"})
    try:
        body = request_body(event)
    except InvalidBody as invalid:
        count("InvalidRequest", 1)
        status, answer = 400, {"error": "InvalidRequest", "reason": str(invalid)}
    else:
        endpoint_name = ModerationSettings.from_environment().endpoint_name
        status, answer = moderate_api_body(
            body, endpoint_name=endpoint_name, count=count, log=logger
        )
    if status != 200:
        logger.warning("moderation request failed", extra={"status": status, **answer})
    return json_response(status, answer)
