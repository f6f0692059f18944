"""What both inference entry points share: request parsing with clear 4xx errors, and the
response (per-text probabilities per label and flags at the per-label thresholds stored with
the model).

Request  ``{"inputs": ["text", ...]}`` (``application/json``; one string is accepted as a batch
of one). Response ``{"labels": [...], "results": [{"probabilities": {label: p},
"flags": {label: bool}, "flagged": bool}, ...]}`` in input order.

Bulk moderation (SageMaker Batch Transform, and the local CLI ``vigil.toxicity.batch`` that runs
the same functions): ``application/jsonlines``, one ``{"id": ..., "text": "..."}`` object a line.
A bad row never fails its neighbours: it comes back on its own line as
``{"id": ..., "rejected": "<reason>"}``, every other row as ``{"id": ..., "probabilities": ...,
"flags": ..., "flagged": ...}``: one output line per input line, in input order (a blank line is
a rejected row too, so positions always match; the body's final newline ends the last line).
A row without an ``id`` answers ``"id": null``; its position names it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from vigil.serving_errors import BadRequest

MAX_TEXTS = 64
MAX_TEXT_CHARS = 5_000
JSON = "application/json"
JSON_LINES = "application/jsonlines"
# The size of one bulk request: Batch Transform's MaxPayloadInMB in the stack and the local CLI's
# mini-batch (about 2,000 comments of the Jigsaw sample).
BULK_MAX_PAYLOAD_MB = 1
# A Batch Transform mini-batch holds as many lines as fit its MaxPayloadInMB; this bounds the
# rows one request may carry so that one request cannot hold a worker for minutes.
MAX_BULK_ROWS = 10_000


@dataclass(frozen=True)
class BulkRow:
    """One row of a bulk request: its ``id`` and ``text``, or the ``reason`` it is rejected."""

    id: object
    text: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class BulkRequest:
    rows: list[BulkRow]

    @property
    def texts(self) -> list[str]:
        return [row.text for row in self.rows if row.reason is None]


def _media_type(value: str) -> str:
    return (value or "").split(";")[0].strip().lower()


def _text_problem(text, *, max_chars: int) -> str | None:
    if text is None:
        return "'text' is null"
    if not isinstance(text, str):
        return f"'text' is {type(text).__name__}, not a string"
    if not text.strip():
        return "'text' is empty"
    if len(text) > max_chars:
        return f"'text' has {len(text)} characters; at most {max_chars}"
    return None


def parse_bulk_line(line: str, *, max_chars: int = MAX_TEXT_CHARS) -> BulkRow:
    """One JSON line → a row to score, or a rejected row whose ``reason`` names the problem."""
    if not line.strip():
        return BulkRow(id=None, reason="the line is blank")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return BulkRow(id=None, reason=f"the line is not valid JSON: {exc}")
    if not isinstance(record, dict):
        return BulkRow(id=None, reason=f"the line is a JSON {type(record).__name__}, not an object")
    row_id = record.get("id")
    if row_id is not None and (not isinstance(row_id, str | int) or isinstance(row_id, bool)):
        return BulkRow(id=None, reason="'id' must be a string or an integer")
    if "text" not in record:
        return BulkRow(id=row_id, reason="the row has no 'text'")
    problem = _text_problem(record["text"], max_chars=max_chars)
    if problem:
        return BulkRow(id=row_id, reason=problem)
    return BulkRow(id=row_id, text=record["text"])


def parse_bulk_request(
    body: bytes | str, *, max_rows: int = MAX_BULK_ROWS, max_chars: int = MAX_TEXT_CHARS
) -> BulkRequest:
    if not body.strip():
        raise BadRequest("the JSON lines request holds no rows")
    # Lines are decoded one by one: a byte sequence that is not UTF-8 spoils only its own row.
    # Split on "\n" only: a text may hold other line separators (U+2028) unescaped.
    lines = bytes(body).split(b"\n") if isinstance(body, bytes | bytearray) else body.split("\n")
    if lines and not lines[-1].strip():
        lines = lines[:-1]  # the newline that ends the last line
    rows = []
    for line in lines:
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                rows.append(BulkRow(id=None, reason=f"the line is not UTF-8: {exc}"))
                continue
        rows.append(parse_bulk_line(line, max_chars=max_chars))
    if len(rows) > max_rows:
        raise BadRequest(f"the request has {len(rows)} rows; at most {max_rows}", 413)
    return BulkRequest(rows)


def parse_input(body: bytes | str, content_type: str) -> list[str] | BulkRequest:
    """``input_fn`` of both models: a JSON request (texts) or a JSON lines bulk request."""
    if _media_type(content_type) == JSON_LINES:
        return parse_bulk_request(body)
    return parse_request(body, content_type)


def respond(
    request: list[str] | BulkRequest,
    score: Callable[[list[str]], object],
    labels: list[str],
    thresholds: list[float],
) -> dict | list[dict]:
    """``predict_fn`` of both models: ``score`` (texts → probabilities) on the texts, and the
    JSON response, or for a bulk request one result per row (rejected rows not scored)."""
    if not isinstance(request, BulkRequest):
        return build_response(score(request), labels, thresholds)
    texts = request.texts
    scored = iter(build_response(score(texts), labels, thresholds)["results"] if texts else [])
    return [
        {"id": row.id, "rejected": row.reason}
        if row.reason is not None
        else {"id": row.id, **next(scored)}
        for row in request.rows
    ]


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


def render_response(prediction: dict | list[dict], accept: str) -> str:
    """``output_fn``: JSON for a JSON request; JSON lines (one result a row) for a bulk one."""
    media_type = _media_type(accept or JSON)
    if isinstance(prediction, list):
        if media_type not in (JSON_LINES, "*/*", ""):
            raise BadRequest(f"accept type {accept!r} is not supported; accept {JSON_LINES}", 406)
        return "".join(json.dumps(row) + "\n" for row in prediction)
    if media_type not in (JSON, "*/*", ""):
        raise BadRequest(f"accept type {accept!r} is not supported; accept {JSON}", 406)
    return json.dumps(prediction)
