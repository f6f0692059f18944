"""What both inference entry points share: request parsing with clear 4xx errors, and the
response (per-text probabilities per label and flags at the per-label thresholds stored with
the model).

Request  ``{"inputs": ["text", ...]}`` (``application/json``; one string is accepted as a batch
of one). Response ``{"labels": [...], "results": [{"probabilities": {label: p},
"flags": {label: bool}, "flagged": bool}, ...]}`` in input order.
"""

from __future__ import annotations

import json

from vigil.serving_errors import BadRequest

MAX_TEXTS = 64
MAX_TEXT_CHARS = 5_000
JSON = "application/json"


def parse_request(
    body: bytes | str,
    content_type: str,
    *,
    max_texts: int = MAX_TEXTS,
    max_chars: int = MAX_TEXT_CHARS,
) -> list[str]:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != JSON:
        raise BadRequest(f"content type {content_type!r} is not supported; send {JSON}", 415)
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the body is not UTF-8: {exc}") from exc
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise BadRequest('the body must be a JSON object {"inputs": ["text", ...]}')
    inputs = payload["inputs"]
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list):
        raise BadRequest(f"'inputs' must be a list of strings, not {type(inputs).__name__}")
    if not inputs:
        raise BadRequest("'inputs' is empty: send at least one text")
    if len(inputs) > max_texts:
        raise BadRequest(f"'inputs' has {len(inputs)} texts; at most {max_texts} per request", 413)
    for i, text in enumerate(inputs):
        if not isinstance(text, str):
            raise BadRequest(f"inputs[{i}] is {type(text).__name__}, not a string")
        if not text.strip():
            raise BadRequest(f"inputs[{i}] is empty")
        if len(text) > max_chars:
            raise BadRequest(f"inputs[{i}] has {len(text)} characters; at most {max_chars}", 413)
    return inputs


def build_response(probs, labels: list[str], thresholds: list[float]) -> dict:
    if len(thresholds) != len(labels):
        thresholds = [0.5] * len(labels)
    results = []
    for row in probs:
        p = {label: round(float(v), 6) for label, v in zip(labels, row, strict=True)}
        flags = {label: p[label] >= t for label, t in zip(labels, thresholds, strict=True)}
        results.append({"probabilities": p, "flags": flags, "flagged": any(flags.values())})
    return {
        "labels": list(labels),
        "thresholds": dict(zip(labels, thresholds, strict=True)),
        "results": results,
    }


def render_response(prediction: dict, accept: str) -> str:
    media_type = (accept or JSON).split(";")[0].strip().lower()
    if media_type not in (JSON, "*/*", ""):
        raise BadRequest(f"accept type {accept!r} is not supported; accept {JSON}", 406)
    return json.dumps(prediction)
