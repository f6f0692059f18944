"""Faults of the graph and endpoint calls: classification, the latency budget, and jittered
retries inside it (``DependencyFailed`` when they run out)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from vigil.fraud.contract import ScoringSettings

logger = Logger(child=True)

RETRYABLE_CODES = {
    "ThrottlingException",
    "TooManyRequestsException",
    "ConcurrentModificationException",
    "ModelNotReadyException",
    "ServiceUnavailable",
    "InternalFailure",
}


class DependencyFailed(Exception):
    """A graph or endpoint call failed after its retries; ``reason`` is the metric suffix."""

    def __init__(self, dependency: str, reason: str, detail: str):
        super().__init__(f"{dependency} {reason}: {detail}")
        self.dependency = dependency
        self.reason = reason
        self.detail = detail


def classify(error: Exception) -> tuple[str, bool]:
    """(reason, retryable) of a failed boto3 call."""
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        return "Timeout", True
    if isinstance(error, EndpointConnectionError | ConnectionClosedError):
        return "Unavailable", True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = error.response.get("Error", {}).get("Code", "")
        if status == 429 or code in ("ThrottlingException", "TooManyRequestsException"):
            return "Throttled", True
        if status >= 500 or code in RETRYABLE_CODES:
            return "ServerError", True
        return "Rejected", False
    if isinstance(error, BotoCoreError):
        return "ClientFailure", False
    return "Unexpected", False


@dataclass
class Budget:
    """The request's latency budget: retries stop when the next attempt would not fit."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)


T = TypeVar("T")


def call_with_retries(
    dependency: str,
    call: Callable[[], T],
    *,
    budget: Budget,
    config: ScoringSettings,
    metrics=None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; retry retryable failures with full-jitter backoff inside ``budget``."""
    last_reason, last_detail = "Unexpected", ""
    for attempt in range(config.max_attempts):
        try:
            return call()
        except Exception as error:  # classified below; nothing escapes unclassified
            last_reason, retryable = classify(error)
            last_detail = f"{type(error).__name__}: {error}"
            logger.warning(
                "dependency call failed",
                extra={
                    "dependency": dependency,
                    "reason": last_reason,
                    "attempt": attempt + 1,
                    "error": last_detail[:500],
                },
            )
            if not retryable or attempt + 1 >= config.max_attempts:
                break
            cap = min(config.backoff_cap_ms, config.backoff_base_ms * 2**attempt) / 1000
            delay = random.uniform(0, cap)
            # the next attempt needs its delay plus (at least) a fast answer within the budget
            if budget.remaining() - delay < 0.05 * budget.seconds:
                last_reason = "BudgetExhausted" if last_reason != "Timeout" else last_reason
                break
            if metrics is not None:
                metrics.add_metric(name=f"{dependency}Retry", unit=MetricUnit.Count, value=1)
            sleep(delay)
    raise DependencyFailed(dependency, last_reason, last_detail)
