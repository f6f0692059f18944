"""The SageMaker endpoint call: the request body for one transaction and its ``pred_prob``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from vigil.fraud import schema
from vigil.fraud.features import (
    encode_vector,
)


class ModelEndpoint:
    """``sagemaker-runtime`` InvokeEndpoint with a JSON body (the request ``inference/fraud/inference.py`` reads)."""

    def __init__(self, client, endpoint_name: str):
        self.client = client
        self.endpoint_name = endpoint_name
        self.seconds = 0.0

    def invoke(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name,
                Body=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
                ContentType="application/json",
                Accept="application/json",
            )
            return json.loads(response["Body"].read())
        finally:
            self.seconds += time.perf_counter() - started


def endpoint_request(
    transaction: Mapping[str, Any],
    features: list[float],
    entities: Mapping[str, Mapping[str, Any] | None],
    *,
    explain: bool = False,
) -> dict[str, Any]:
    """The InvokeEndpoint body for one transaction (see ``docs/fraud-serving.md``)."""
    request = {
        "id": str(transaction[schema.ID_COLUMN]),
        "features": encode_vector(features),
        "entities": dict(entities),
    }
    if explain:
        request["explain"] = True
    return request


def _prediction(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    if "pred_prob" not in answer and isinstance(answer.get("predictions"), list):
        return answer["predictions"][0] if answer["predictions"] else {}
    return answer


def threshold_of(answer: Mapping[str, Any]) -> float | None:
    """The model's operating threshold in its answer (None: a model trained without one)."""
    value = _prediction(answer).get("threshold")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 < value < 1.0 else None


def explanation_of(answer: Mapping[str, Any]) -> dict[str, Any] | None:
    value = _prediction(answer).get("explanation")
    return dict(value) if isinstance(value, Mapping) else None


def pred_prob_of(answer: Mapping[str, Any]) -> float:
    value = answer.get("pred_prob")
    if value is None and isinstance(answer.get("predictions"), list) and answer["predictions"]:
        value = answer["predictions"][0].get("pred_prob")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"endpoint answer has no finite pred_prob: {str(answer)[:200]}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"endpoint pred_prob {value} is outside [0, 1]")
    return float(value)
