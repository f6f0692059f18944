"""SageMaker inference entry point of the fraud model (``code/inference.py`` in ``model.tar.gz``).

The model class, the request schema and the scoring arithmetic live in ``vigil.fraud``
(``model.py``, ``serving.py``); :func:`vigil.fraud.serving.add_serving_code` copies this file and
those modules into the model's ``code/`` folder. Request/response schema: docs/fraud-serving.md.
``application/json`` is the endpoint's request; ``application/jsonlines`` (one request instance a
line, one answer a line) is a Batch Transform mini-batch (``vigil.fraud.batch_transform``).
Malformed requests raise ``vigil.serving_errors.BadRequest``, which the serving stack answers as
HTTP 400 with the message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vigil.fraud.batch_transform import JSON_LINES, predict_lines, render_lines
from vigil.fraud.serving import CONTENT_TYPE, FraudPredictor
from vigil.serving_errors import BadRequest


@dataclass(frozen=True)
class LinesRequest:
    """A Batch Transform mini-batch, parsed line by line in predict_fn."""

    body: bytes | str


def model_fn(model_dir: str) -> FraudPredictor:
    return FraudPredictor.load(model_dir)


def _media(value: str | None, default: str) -> str:
    return (value or default).split(";", 1)[0].strip().lower()


def input_fn(request_body, request_content_type=CONTENT_TYPE):
    # The model is needed to validate dimensions and entity types, so parsing happens in
    # predict_fn; here only the content type and the JSON syntax are checked.
    media = _media(request_content_type, CONTENT_TYPE)
    if media == JSON_LINES:
        return LinesRequest(request_body)
    if media != CONTENT_TYPE:
        raise BadRequest(
            f"unsupported content type {request_content_type!r}: send {CONTENT_TYPE}"
            f" (or {JSON_LINES} for a batch)",
            415,
        )
    text = (
        request_body.decode("utf-8")
        if isinstance(request_body, bytes | bytearray)
        else request_body
    )
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(f"request body is not valid JSON: {error}") from None
    return text


def predict_fn(input_data, model: FraudPredictor):
    if isinstance(input_data, LinesRequest):
        return predict_lines(model, input_data.body)
    return model(input_data, CONTENT_TYPE)


def output_fn(prediction, accept=CONTENT_TYPE):
    media = _media(accept, CONTENT_TYPE)
    if isinstance(prediction, list):  # a JSON lines mini-batch: one answer a line
        if media not in (JSON_LINES, "*/*"):
            raise BadRequest(f"unsupported accept type {accept!r}: {JSON_LINES} for a batch", 406)
        return render_lines(prediction), JSON_LINES
    if media not in (CONTENT_TYPE, "*/*"):
        raise BadRequest(f"unsupported accept type {accept!r}: {CONTENT_TYPE} only", 406)
    return json.dumps(prediction), CONTENT_TYPE
