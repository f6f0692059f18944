"""The transformer as served on CPU: an int8 ONNX graph run by ONNX Runtime when the model's
folder holds one, else PyTorch int8 in the encoder's feed-forward layers (attention and head stay
float), full precision on request, and batching by length that keeps input order."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from vigil.toxicity.transformer import (
    META_FILE,
    ONNX_FILE,
    SERVING_PRECISION,
    MeanPooledClassifier,
    OnnxClassifier,
    choose_serving_precision,
    export_onnx_int8,
    load_classifier,
    predict,
    roberta_from_config,
    train_bpe_tokenizer,
)

LABELS = ["toxic", "insult"]
FEED_FORWARD = ("intermediate.dense", "output.dense")
TEXTS = [
    "you idiot",
    "thanks for the very helpful edit, it reads much better now and the sources check out",
    "stupid",
    "you are a stupid idiot and nobody wants your edits here",
    "ok",
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small mean-pooled classifier with random weights, saved as training saves one."""
    corpus = ["you are a stupid idiot", "thanks for the helpful edit"] * 10
    folder = tmp_path_factory.mktemp("cpu-serving")
    tokenizer = train_bpe_tokenizer(corpus, folder, vocab_size=300)
    torch.manual_seed(0)
    encoder = roberta_from_config(tokenizer, LABELS, hidden_size=32, num_layers=2, num_heads=2)
    model = MeanPooledClassifier(encoder.base_model, len(LABELS)).eval()
    torch.nn.init.normal_(model.classifier.weight, std=0.5)
    model.save_pretrained(folder)
    meta = {"labels": LABELS, "pooling": "mean", "loss_mode": "MULTI_LABEL", "max_length": 32}
    (folder / META_FILE).write_text(json.dumps(meta))
    return folder


def _quantized_linear_names(model) -> set[str]:
    return {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear)
    }


def _probs(model, tokenizer, meta, texts, **kwargs):
    return predict(model, tokenizer, texts, loss_mode=meta["loss_mode"], max_length=32, **kwargs)


@pytest.fixture(scope="module")
def exported(saved, tmp_path_factory):
    """The same model with its int8 ONNX graph, as the training script leaves it."""
    folder = tmp_path_factory.mktemp("cpu-serving-onnx")
    shutil.copytree(saved, folder, dirs_exist_ok=True)
    model, _, _ = load_classifier(folder, precision="fp32")
    export_onnx_int8(model, folder)
    return folder


# What the int8 graph may move a probability on this fixture (random weights): measured 0.004
# at most; a graph that pooled over the padding moves them by 0.16, one without the head's
# weights by far more.
INT8_TOLERANCE = 0.02


def test_the_onnx_int8_graph_is_served_by_default_and_close_to_full_precision(exported):
    assert SERVING_PRECISION == "onnx-int8"
    served, tokenizer, meta = load_classifier(exported)
    full, _, _ = load_classifier(exported, precision="fp32")
    assert meta["serving_precision"] == "onnx-int8" and isinstance(served, OnnxClassifier)
    p_served = _probs(served, tokenizer, meta, TEXTS)
    p_full = _probs(full, tokenizer, meta, TEXTS)
    assert not np.array_equal(p_served, p_full)  # it really is another computation
    assert np.abs(p_served - p_full).max() < INT8_TOLERANCE
    # alone (no padding) too; activations are quantized per call, so not to the digit
    one_by_one = np.concatenate([_probs(served, tokenizer, meta, [t]) for t in TEXTS])
    assert np.abs(one_by_one - p_full).max() < INT8_TOLERANCE


def test_the_graph_quantizes_every_matmul_and_fuses_attention(exported):
    import onnx

    graph = onnx.load(str(exported / ONNX_FILE)).graph
    kinds = [node.op_type for node in graph.node]
    assert "MatMul" not in kinds and "MatMulInteger" in kinds  # float matmuls: none left
    assert kinds.count("QAttention") == 2  # one fused, int8 attention per encoder layer


def test_a_session_per_thread_count(exported):
    served, tokenizer, meta = load_classifier(exported)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _probs(served, tokenizer, meta, TEXTS)
        torch.set_num_threads(2)
        two = _probs(served, tokenizer, meta, TEXTS)
    finally:
        torch.set_num_threads(threads)
    assert {1, 2} <= set(served._sessions)
    assert served._sessions[1].get_session_options().intra_op_num_threads == 1
    assert served._sessions[2].get_session_options().intra_op_num_threads == 2
    np.testing.assert_allclose(one, two, atol=1e-5)


def test_a_model_without_its_graph_cannot_be_served_as_one(saved):
    with pytest.raises(FileNotFoundError, match=ONNX_FILE):
        load_classifier(saved, precision="onnx-int8")


def test_without_a_graph_the_feed_forward_layers_are_int8_and_close_to_full_precision(saved):
    served, tokenizer, meta = load_classifier(saved)
    full, _, full_meta = load_classifier(saved, precision="fp32")
    assert meta["serving_precision"] == "int8" and full_meta["serving_precision"] == "fp32"
    quantized = _quantized_linear_names(served)
    feed_forward = {f"encoder.encoder.layer.{i}.{part}" for i in range(2) for part in FEED_FORWARD}
    assert quantized == feed_forward  # every one, and nothing else
    attention = served.encoder.encoder.layer[0].attention
    assert type(attention.self.query) is torch.nn.Linear  # attention stays float
    assert type(attention.output.dense) is torch.nn.Linear
    assert type(served.classifier) is torch.nn.Linear  # and so does the head
    assert not _quantized_linear_names(full)
    p_served = _probs(served, tokenizer, meta, TEXTS)
    p_full = _probs(full, tokenizer, meta, TEXTS)
    assert not np.array_equal(p_served, p_full)  # it really computes differently
    assert np.abs(p_served - p_full).max() < 0.02


def test_metadata_can_keep_a_model_at_full_precision(saved, tmp_path):
    meta = json.loads((saved / META_FILE).read_text())
    for item in saved.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    (tmp_path / META_FILE).write_text(json.dumps({**meta, "serving_precision": "fp32"}))
    model, _, loaded_meta = load_classifier(tmp_path)
    assert loaded_meta["serving_precision"] == "fp32" and not _quantized_linear_names(model)
    with pytest.raises(ValueError, match="fp16"):
        load_classifier(tmp_path, precision="fp16")


def test_length_sorted_batches_answer_in_input_order(saved):
    model, tokenizer, meta = load_classifier(saved, precision="fp32")
    together = _probs(model, tokenizer, meta, TEXTS, batch_size=2)
    one_by_one = np.concatenate([_probs(model, tokenizer, meta, [t]) for t in TEXTS])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert _probs(model, tokenizer, meta, []).shape == (0, len(LABELS))


@pytest.mark.parametrize(
    ("with_graph", "tolerance", "chosen"),
    [(True, 1.0, "onnx-int8"), (False, 1.0, "int8"), (True, -1.0, "fp32")],
)
def test_the_served_precision_is_chosen_by_held_out_auc(
    saved, exported, with_graph, tolerance, chosen
):
    folder = exported if with_graph else saved
    model, tokenizer, _ = load_classifier(folder, precision="fp32")
    targets = np.array([[1, 1], [0, 0], [1, 0], [1, 1], [0, 0]], dtype=float)
    check = choose_serving_precision(
        model,
        tokenizer,
        TEXTS,
        targets,
        folder=folder,
        tolerance=tolerance,
        loss_mode="MULTI_LABEL",
        max_length=32,
    )
    assert check["serving_precision"] == chosen
    measured = [key for key in check if key.startswith("valid_mean_auc_")]
    expected = {"onnx-int8": ["onnx-int8"], "int8": ["int8"], "fp32": ["onnx-int8", "int8"]}
    assert sorted(measured) == sorted(f"valid_mean_auc_{p}" for p in [*expected[chosen], "fp32"])
    assert all(0.0 <= check[key] <= 1.0 for key in measured)
