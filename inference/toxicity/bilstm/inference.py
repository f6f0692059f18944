"""SageMaker inference entry point of the BiLSTM toxicity classifier (``code/inference.py``).

``{"inputs": ["text", ...]}`` → per-text probabilities per label and flags at the per-label
thresholds stored with the model; bad input (empty, oversized, non-string, wrong content type)
raises ``BadRequest`` so the serving stack answers 4xx with the reason.
``application/jsonlines`` (Batch Transform) → one result or rejection per row
(``vigil.toxicity.serving``).
"""

from __future__ import annotations

from vigil.toxicity.bilstm import load_model, predict
from vigil.toxicity.serving import parse_input, render_response, respond


def model_fn(model_dir, context=None):
    model, vocab = load_model(model_dir)
    return {"model": model, "vocab": vocab}


def input_fn(request_body, request_content_type, context=None):
    return parse_input(request_body, request_content_type)


def predict_fn(request, bundle, context=None):
    model, vocab = bundle["model"], bundle["vocab"]
    return respond(
        request,
        lambda texts: predict(model, vocab, texts),
        model.config.labels,
        model.config.thresholds,
    )


def output_fn(prediction, accept, context=None):
    return render_response(prediction, accept)
