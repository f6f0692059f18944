"""One way to write a Lambda handler: Powertools logging, metrics, tracing, event parsing and
error counting, applied by one decorator in one order.

    logger, metrics, tracer = powertools()

    @lambda_handler(logger, metrics, tracer, model=IngestEvent, error_metric="PipelineStepErrors")
    def handler(event: IngestEvent, context: LambdaContext) -> dict: ...

Outermost first: the logger injects the Lambda context (so every later line carries it), metrics
are flushed after everything inside has run (an error counted below is flushed too), the tracer
captures the whole invocation, the event is parsed into ``model`` (a malformed event fails here,
and is not counted as a handler error), then any exception from the handler is counted as
``error_metric``, logged with its traceback and raised again (Step Functions catches it by class).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from pydantic import BaseModel

DEFAULT_NAMESPACE = "Vigil"


def powertools() -> tuple[Logger, Metrics, Tracer]:
    """A handler module's logger, metrics and tracer (service and namespace from the
    environment the CDK function construct sets)."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE)
    return Logger(), Metrics(namespace=namespace), Tracer()


def lambda_handler(
    logger: Logger,
    metrics: Metrics,
    tracer: Tracer,
    *,
    model: type[BaseModel] | None = None,
    error_metric: str | None = None,
    error_message: str = "handler failed",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a ``handler(event, context)``; see the module docstring for the order."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        wrapped = handler
        if error_metric is not None:
            wrapped = _counts_errors(wrapped, logger, metrics, error_metric, error_message)
        if model is not None:
            wrapped = event_parser(model=model)(wrapped)
        wrapped = tracer.capture_lambda_handler(wrapped)
        wrapped = metrics.log_metrics(wrapped)
        return logger.inject_lambda_context(wrapped)

    return decorate


def _counts_errors(handler, logger: Logger, metrics: Metrics, metric: str, message: str):
    @functools.wraps(handler)
    def counted(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except Exception:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
            logger.exception(message)
            raise

    return counted
