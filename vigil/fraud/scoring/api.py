"""One Lambda event (API Gateway proxy or direct invoke) → the scorer → the response."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from vigil.api_gateway import InvalidBody, is_proxy_event, json_body, json_response
from vigil.fraud.contract import (
    MAX_BODY_BYTES,
)
from vigil.fraud.recent_scores import elapsed_ms, record_score
from vigil.fraud.scoring.event import InvalidTransaction, parse_transaction
from vigil.fraud.scoring.scorer import Scorer

logger = Logger(child=True)


def _response(status: int, body: dict[str, Any], api: bool) -> dict[str, Any]:
    if not api:
        return body if status == 200 else {"statusCode": status, **body}
    return json_response(status, body)


def _json_body(event: Mapping[str, Any]) -> Any:
    try:
        return json_body(event, max_bytes=MAX_BODY_BYTES)
    except InvalidBody as invalid:
        raise InvalidTransaction([{"field": "body", "message": invalid.message}]) from None


def _invalid(invalid: InvalidTransaction, api: bool, metrics=None) -> dict:
    if metrics is not None:
        metrics.add_metric(name="InvalidInput", unit=MetricUnit.Count, value=1)
    logger.info("rejected invalid transaction", extra={"errors": invalid.errors[:10]})
    return _response(400, {"message": "invalid transaction", "errors": invalid.errors[:20]}, api)


def handle_event(
    event: Any, scorer_factory: Callable[[], Scorer], metrics=None, context=None
) -> dict:
    """One Lambda event (API Gateway proxy or direct invoke) → the response; never raises."""
    api = is_proxy_event(event)
    if metrics is not None:
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    try:
        payload = _json_body(event) if api else event
        transaction = parse_transaction(payload)
    except InvalidTransaction as invalid:
        return _invalid(invalid, api, metrics)
    started = time.perf_counter()
    try:
        scorer = scorer_factory()
        answer = scorer.score(transaction, metrics, context)
    except InvalidTransaction as invalid:  # valid JSON whose features overflow float32
        return _invalid(invalid, api, metrics)
    except Exception:  # a bug or a broken configuration: answer, count, log — never crash
        logger.exception("scoring failed unexpectedly")
        if metrics is not None:
            metrics.add_metric(name="ScoringError", unit=MetricUnit.Count, value=1)
        return _response(500, {"message": "internal error"}, api)
    body = answer.body()
    if not answer.replay:  # a replay was recorded when it was first answered
        _record_recent(scorer.config, transaction, body, elapsed_ms(started), metrics)
    return _response(200, body, api)


def _record_recent(config, transaction, body, latency_ms: float, metrics) -> None:
    """Keep the answer for the console when a recent-scores table is set; never fails the answer."""
    table = getattr(config, "recent_scores_table", None)
    if not table:
        return
    try:
        record_score(table, transaction, body, latency_ms, ttl_s=config.recent_scores_ttl_s)
    except Exception:
        logger.warning("recent score not recorded", exc_info=True)
        if metrics is not None:
            metrics.add_metric(name="RecentScoreNotRecorded", unit=MetricUnit.Count, value=1)
