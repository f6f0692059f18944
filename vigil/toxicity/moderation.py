"""Moderation logic behind the API: validate the request, call the SageMaker endpoint, answer
which messages are flagged and why. Used by ``lambdas/toxicity/moderate/handler.py``.

Request ``{"messages": ["text", ...]}`` (1..MAX_MESSAGES strings, each 1..MAX_MESSAGE_CHARS
characters). Response ``{"results": [{"index", "flagged", "categories", "scores"}], "labels"}``.
Errors answer with a status and ``{"error": "...", "reason": "..."}``: 400 for a bad request
(including one the model rejected with a 4xx), 502 when the endpoint fails or answers
nonsense (a result that is not an object, a NaN or infinite score), with a generic reason: the
endpoint's own message names its ARN, so it is logged, not answered. Every outcome is counted
through ``count(name, value)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from vigil.toxicity.contract import MAX_MESSAGE_CHARS, MAX_MESSAGES

Message = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]
Counter = Callable[[str, float], None]

logger = Logger(child=True)

# What a caller sees of an endpoint failure: SageMaker's own messages name the endpoint's ARN
# (the account id) and its internals, so they go to the log only.
ENDPOINT_FAILED = "the moderation model is unavailable; try again later"
ENDPOINT_NONSENSE = "the moderation model answered outside its contract"


class ModerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)


class ModerationError(Exception):
    """An outcome other than success; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, error: str, reason: str, detail: str | None = None):
        super().__init__(f"{error}: {reason}")
        self.status, self.error, self.reason = status, error, reason
        self.detail = detail  # logged, never answered


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_request(body: str | None) -> ModerationRequest:
    if body is None or not body.strip():
        raise ModerationError(400, "InvalidRequest", 'the body is empty; send {"messages": [...]}')
    try:
        return ModerationRequest.model_validate_json(body)
    except ValidationError as exc:
        raise ModerationError(400, "InvalidRequest", _describe(exc)) from exc


def classify(messages: list[str], *, endpoint_name: str) -> dict:
    """Invoke the endpoint with ``{"inputs": messages}``; its JSON answer, validated."""
    from botocore.exceptions import BotoCoreError, ClientError

    from vigil.aws import client

    try:
        response = client("sagemaker-runtime", read_timeout=20.0).invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps({"inputs": messages}).encode("utf-8"),
        )
        prediction = json.loads(response["Body"].read())
    except ClientError as exc:
        error = exc.response.get("Error", {})
        original = exc.response.get("OriginalStatusCode")
        if error.get("Code") == "ModelError" and original and 400 <= int(original) < 500:
            message = exc.response.get("OriginalMessage") or error.get("Message", "")
            first = message.strip().splitlines()[0] if message.strip() else "rejected"
            raise ModerationError(400, "RejectedByModel", first) from exc
        detail = f"{error.get('Code', 'error')}: {error.get('Message', '')}"
        raise ModerationError(502, "EndpointError", ENDPOINT_FAILED, detail) from exc
    except BotoCoreError as exc:
        raise ModerationError(502, "EndpointError", ENDPOINT_FAILED, str(exc)) from exc
    except (ValueError, RecursionError) as exc:
        detail = f"not JSON: {exc}"[:500]
        raise ModerationError(502, "EndpointError", ENDPOINT_NONSENSE, detail) from exc
    results = prediction.get("results") if isinstance(prediction, dict) else None
    if not isinstance(results, list) or len(results) != len(messages):
        raise ModerationError(
            502,
            "EndpointError",
            f"the endpoint answered {len(results or [])} results for {len(messages)} messages",
        )
    for index, result in enumerate(results):
        problem = _result_problem(result)
        if problem:
            detail = f"results[{index}]: {problem}"
            raise ModerationError(502, "EndpointError", ENDPOINT_NONSENSE, detail)
    labels = prediction.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ModerationError(502, "EndpointError", ENDPOINT_NONSENSE, "labels: not strings")
    return prediction


def _result_problem(result: object) -> str | None:
    """What makes one endpoint result unusable (None when it is fine)."""
    if not isinstance(result, dict):
        return f"a {type(result).__name__}, not an object"
    flags = result.get("flags", {})
    if not isinstance(flags, dict) or not all(isinstance(k, str) for k in flags):
        return "flags is not an object"
    probabilities = result.get("probabilities", {})
    if not isinstance(probabilities, dict):
        return "probabilities is not an object"
    for label, value in probabilities.items():
        # NaN or an overflowing number would make the answer invalid JSON (NaN, Infinity)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"probability of {label} is not a number"
        if not math.isfinite(value):
            return f"probability of {label} is not finite ({value})"
    return None


def decisions(prediction: dict) -> dict:
    results = []
    for index, result in enumerate(prediction["results"]):
        flags = result.get("flags", {})
        results.append(
            {
                "index": index,
                "flagged": bool(result.get("flagged", any(flags.values()))),
                "categories": [label for label, on in flags.items() if on],
                "scores": result.get("probabilities", {}),
            }
        )
    return {"labels": prediction.get("labels", []), "results": results}


def moderate_api_body(
    body: str | None, *, endpoint_name: str, count: Counter, log: Logger | None = None
) -> tuple[int, dict]:
    """(status, answer) for one API request body; never raises for bad input or endpoint faults.

    An endpoint failure's detail goes to ``log`` (the handler's logger), never into the answer.
    """
    try:
        request = parse_request(body)
        count("MessagesReceived", len(request.messages))
        answer = decisions(classify(request.messages, endpoint_name=endpoint_name))
    except ModerationError as exc:
        count(exc.error, 1)
        if exc.detail:
            (log or logger).error("moderation endpoint failed", extra={"detail": exc.detail})
        return exc.status, {"error": exc.error, "reason": exc.reason}
    count("MessagesFlagged", sum(r["flagged"] for r in answer["results"]))
    return 200, answer
