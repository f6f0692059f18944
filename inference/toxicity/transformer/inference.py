"""SageMaker inference entry point of the transformer toxicity classifier (``code/inference.py``).

Works in the PyTorch and the Hugging Face inference images alike. ``{"inputs": ["text", ...]}``
(``application/json``) → per-text probabilities per label and flags at the per-label thresholds
stored with the model; bad input raises ``BadRequest`` so the serving stack answers 4xx with the
reason. ``application/jsonlines`` (Batch Transform) → one result or rejection per row
(``vigil.toxicity.serving``). The model is served as ``load_classifier`` prepares it for CPU:
its int8 ONNX graph run by ONNX Runtime, or the PyTorch forms (int8 feed-forward layers, full
precision) where the training-time check chose one of them.
"""

from __future__ import annotations

from vigil.toxicity.serving import parse_input, render_response, respond
from vigil.toxicity.transformer import load_classifier, predict


def model_fn(model_dir, context=None):
    model, tokenizer, meta = load_classifier(model_dir)
    return {"model": model, "tokenizer": tokenizer, "meta": meta}


def input_fn(request_body, request_content_type, context=None):
    return parse_input(request_body, request_content_type)


def predict_fn(request, bundle, context=None):
    meta = bundle["meta"]

    def score(texts):
        return predict(
            bundle["model"],
            bundle["tokenizer"],
            texts,
            loss_mode=meta["loss_mode"],
            max_length=meta["max_length"],
            normalizer=bundle["model"].text_normalizer,  # rules + the model's lexicon
        )

    return respond(request, score, meta["labels"], meta["thresholds"])


def output_fn(prediction, accept, context=None):
    return render_response(prediction, accept)
