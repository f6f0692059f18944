"""The fraud model under SageMaker Batch Transform: a JSON lines mini-batch of endpoint requests.

Each line is one request instance in the endpoint's schema (``vigil.fraud.serving``: ``id``,
``features`` or ``transaction``, and each entity's ``key``, ``feat_sum``, ``degree``) — what
``python -m vigil.fraud.batch_scoring --requests-out`` writes from a file of transactions and the
ETL's graph. Each answer is one line, in input order: ``{"id", "pred_prob", "flag"}`` (flagged at
the model's operating threshold, 0.5 without one) or ``{"id", "rejected": "<reason>"}`` for a
line the endpoint would refuse; a bad line never fails its neighbours. The parsing and the model
call are the endpoint's own (``FraudPredictor.parse_instance`` and ``predict``). Torch only, as
the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from vigil.serving_errors import BadRequest

JSON_LINES = "application/jsonlines"
MAX_LINES = 10_000  # lines one mini-batch may carry, so one request cannot hold a worker long
MAX_PAYLOAD_MB = 6  # the transform job's MaxPayloadInMB: ~1,000 requests of 12 entities
FLAG_FRAUD, FLAG_LEGIT = "fraud", "legit"  # the scoring API's flags (vigil.fraud.scoring.scorer)
DEFAULT_THRESHOLD = 0.5  # a model trained without an operating threshold, as the API flags it


def predict_lines(predictor, body: bytes | str) -> list[dict]:
    """One answer per line of ``body`` (see the module docstring)."""
    lines = bytes(body).split(b"\n") if isinstance(body, bytes | bytearray) else body.split("\n")
    if lines and not lines[-1].strip():
        lines = lines[:-1]  # the newline that ends the last line
    if not lines:
        raise BadRequest("the JSON lines request holds no rows")
    if len(lines) > MAX_LINES:
        raise BadRequest(f"the request has {len(lines)} lines; at most {MAX_LINES}", 413)
    answers: list[dict | None] = []
    parsed = []
    for number, line in enumerate(lines, start=1):
        item = None
        try:
            item = json.loads(line)
            parsed.append(predictor.parse_instance(item, None))
            answers.append(None)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            answers.append({"id": None, "rejected": f"line {number} is not JSON: {error}"})
        except BadRequest as error:
            item_id = item.get("id") if isinstance(item, Mapping) else None
            answers.append({"id": item_id, "rejected": error.message})
    threshold = predictor.bundle.threshold
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    predictions = iter(predictor.predict(parsed) if parsed else [])
    out = []
    for answer in answers:
        if answer is None:
            prediction = next(predictions)
            prob = prediction["pred_prob"]
            answer = {
                "id": prediction["id"],
                "pred_prob": prob,
                "flag": FLAG_FRAUD if prob >= threshold else FLAG_LEGIT,
            }
        out.append(answer)
    return out


def render_lines(answers: list[dict]) -> str:
    return "".join(json.dumps(answer) + "\n" for answer in answers)
