"""Label one transaction: ``POST /transactions/{id}/label`` (IAM-authorised) → the S3 label log
and the graph.

Thin by design: Powertools logging, metrics and tracing around one call into
``vigil.fraud.label_feedback`` (validation, the log-then-graph write, conflicts and retries live
there). The feedback object is built once per warm container from the environment
(``LabelSettings.from_environment``), so its boto3 clients are reused across invocations.
"""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.typing import LambdaContext

from vigil.fraud.label_feedback import LabelFeedback, handle_label_event
from vigil.fraud.labels import LabelSettings
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


@functools.cache
def feedback() -> LabelFeedback:
    return LabelFeedback(LabelSettings.from_environment())


@lambda_handler(logger, metrics, tracer)
def handler(event: dict, context: LambdaContext) -> dict:
    return handle_label_event(event, feedback, metrics)
