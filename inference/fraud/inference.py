"""SageMaker inference entry point of the fraud RGCN (``code/inference.py`` in ``model.tar.gz``).

The model class, the request schema and the scoring arithmetic live in ``vigil.fraud``
(``model.py``, ``serving.py``); :func:`vigil.fraud.serving.add_serving_code` copies this file and
those modules into the model's ``code/`` folder. Request/response schema: docs/fraud-serving.md.
Malformed requests raise ``vigil.serving_errors.BadRequest``, which the serving stack answers as
HTTP 400 with the message.
"""

from __future__ import annotations

import json

from vigil.fraud.serving import CONTENT_TYPE, FraudPredictor
from vigil.serving_errors import BadRequest


def model_fn(model_dir: str) -> FraudPredictor:
    return FraudPredictor.load(model_dir)


def input_fn(request_body, request_content_type=CONTENT_TYPE):
    # The model is needed to validate dimensions and entity types, so parsing happens in
    # predict_fn; here only the content type and the JSON syntax are checked.
    media = (request_content_type or CONTENT_TYPE).split(";", 1)[0].strip().lower()
    if media != CONTENT_TYPE:
        raise BadRequest(
            f"unsupported content type {request_content_type!r}: send {CONTENT_TYPE}", 415
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


def predict_fn(input_data, model: FraudPredictor) -> dict:
    return model(input_data, CONTENT_TYPE)


def output_fn(prediction, accept=CONTENT_TYPE):
    media = (accept or CONTENT_TYPE).split(";", 1)[0].strip().lower()
    if media not in (CONTENT_TYPE, "*/*"):
        raise BadRequest(f"unsupported accept type {accept!r}: {CONTENT_TYPE} only", 406)
    return json.dumps(prediction), CONTENT_TYPE
