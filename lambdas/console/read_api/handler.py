"""The console's read API: API Gateway (REST, Cognito-authorised, GET only) → the tables.

Thin: the routes, validation and pagination live in ``vigil.console.read_api``, which the local
console server calls with the same events.
"""

from __future__ import annotations

from vigil.aws import client
from vigil.console.contract import ConsoleSettings
from vigil.console.read_api import graph_from_settings, handle_event
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


@lambda_handler(logger, metrics, tracer)
def handler(event: dict, context) -> dict:
    settings = ConsoleSettings.from_environment()
    return handle_event(event, settings, client("dynamodb"), graph=graph_from_settings(settings))
