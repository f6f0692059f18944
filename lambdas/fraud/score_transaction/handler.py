"""Score one card transaction: API Gateway (IAM-authorised) or direct invoke → {id, flag, pred_prob}.

Thin by design: Powertools logging, metrics and tracing around one call into
``vigil.fraud.scoring`` (event validation with the ``TransactionEvent`` pydantic model, the graph
read, the endpoint call, the idempotent insert, retries and fallbacks all live there). The scorer
is built once per warm container from the environment (see ``ScoringSettings.from_environment``), so
its boto3 clients and the featurizer are reused across invocations.
"""

from __future__ import annotations

import functools

from aws_lambda_powertools.utilities.typing import LambdaContext

from vigil.fraud.contract import ScoringSettings
from vigil.fraud.scoring import Scorer, handle_event
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


@functools.cache
def scorer() -> Scorer:
    return Scorer(ScoringSettings.from_environment())


@lambda_handler(logger, metrics, tracer)
def handler(event: dict, context: LambdaContext) -> dict:
    return handle_event(event, scorer, metrics, context)
