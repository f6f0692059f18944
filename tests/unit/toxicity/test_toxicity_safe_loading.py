"""Toxicity weights load with ``weights_only=True``: a state dict needs no pickled code, and the
explicit argument keeps it so whatever torch's default is."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import torch

from vigil.toxicity.transformer import (
    META_FILE,
    MeanPooledClassifier,
    load_classifier,
    roberta_from_config,
    train_bpe_tokenizer,
)

TOXICITY = Path(__file__).resolve().parents[3] / "vigil" / "toxicity"


def _torch_loads(path: Path) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "torch"
    ]


def test_every_torch_load_in_toxicity_is_weights_only():
    calls = {path.name: _torch_loads(path) for path in sorted(TOXICITY.glob("*.py"))}
    assert sum(len(found) for found in calls.values()) >= 2
    unsafe = [
        f"{name}:{call.lineno}"
        for name, found in calls.items()
        for call in found
        if not any(
            kw.arg == "weights_only"
            and isinstance(kw.value, ast.Constant)
            and kw.value.value is True
            for kw in call.keywords
        )
    ]
    assert unsafe == []


def test_classifier_head_loads_weights_only(tmp_path, monkeypatch):
    tokenizer = train_bpe_tokenizer(
        ["you are a stupid idiot"] * 10, tmp_path / "bpe", vocab_size=300
    )
    encoder = roberta_from_config(tokenizer, ["toxic"], hidden_size=16, num_layers=1, num_heads=2)
    folder = tmp_path / "model"
    MeanPooledClassifier(encoder.base_model, 1).save_pretrained(folder)
    tokenizer.save_pretrained(str(folder))
    (folder / META_FILE).write_text(json.dumps({"labels": ["toxic"], "pooling": "mean"}))
    seen = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    load_classifier(folder)
    assert seen == [True]
