"""Transformer heads and partial freezing: the mean-pooled head ignores padding, saves and loads
back to the same outputs, and freezing the lower layers stops exactly their gradients."""

from __future__ import annotations

import json

import pytest
import torch

from vigil.toxicity.transformer import (
    META_FILE,
    MeanPooledClassifier,
    freeze_lower_layers,
    load_classifier,
    roberta_from_config,
    train_bpe_tokenizer,
)

LABELS = ["toxic", "insult"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    corpus = ["you are a stupid idiot", "thanks for the helpful edit"] * 10
    return train_bpe_tokenizer(corpus, tmp_path_factory.mktemp("bpe"), vocab_size=300)


def _mean_pooled(tokenizer):
    encoder = roberta_from_config(tokenizer, LABELS, hidden_size=16, num_layers=2, num_heads=2)
    return MeanPooledClassifier(encoder.base_model, len(LABELS)).eval()


def test_mean_pooled_head_ignores_padding(tokenizer):
    model = _mean_pooled(tokenizer)
    alone = tokenizer(["you idiot"], return_tensors="pt")
    batch = tokenizer(
        ["you idiot", "thanks for the very helpful edit"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        single = model(**alone).logits[0]
        padded = model(**batch).logits[0]
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]
    assert torch.allclose(single, padded, atol=1e-5)


def test_mean_pooled_classifier_saves_and_loads(tokenizer, tmp_path):
    model = _mean_pooled(tokenizer)
    torch.nn.init.normal_(model.classifier.weight)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(str(tmp_path))
    (tmp_path / META_FILE).write_text(json.dumps({"labels": LABELS, "pooling": "mean"}))
    loaded, loaded_tokenizer, meta = load_classifier(tmp_path, precision="fp32")
    assert isinstance(loaded, MeanPooledClassifier) and meta["pooling"] == "mean"
    enc = loaded_tokenizer(["you stupid idiot"], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**enc).logits, loaded(**enc).logits, atol=1e-6)


def test_freezing_lower_layers_stops_their_gradients(tokenizer):
    model = roberta_from_config(tokenizer, LABELS, hidden_size=16, num_layers=2, num_heads=2)
    freeze_lower_layers(model, 1)
    layers = model.base_model.encoder.layer
    assert not any(p.requires_grad for p in model.base_model.embeddings.parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in layers[1].parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    with pytest.raises(ValueError, match="cannot freeze 3 of 2"):
        freeze_lower_layers(model, 3)
