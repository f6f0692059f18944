"""Sample alert action: SNS alert (filtered to sensor faults and silent series) → a ticket."""

from __future__ import annotations

import functools

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import SnsModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from vigil.air_quality.contract import TicketSettings
from vigil.air_quality.maintenance import act_on_alert
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


@functools.cache
def settings() -> TicketSettings:
    return TicketSettings.from_environment()


@lambda_handler(logger, metrics, tracer, model=SnsModel)
def handler(event: SnsModel, context: LambdaContext) -> list[dict]:
    out = []
    for record in event.Records:
        attributes = {
            name: {"Value": value.Value}
            for name, value in (record.Sns.MessageAttributes or {}).items()
        }
        result = act_on_alert(settings().ticket_table, record.Sns.Message, attributes)
        logger.info("alert action", extra=result)
        if result["action"] in ("open", "close"):
            metrics.add_metric(name="TicketsChanged", unit=MetricUnit.Count, value=1)
        out.append(result)
    return out
