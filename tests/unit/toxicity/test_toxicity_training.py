"""Both training entry points, a few steps on tiny models: artefacts, metric lines that parse
with the SageMaker regexes, best-model selection, thresholds, and the in-process inference hooks
(the real serving stack is exercised in tests/integration/toxicity)."""

from __future__ import annotations

import importlib
import json
import re

import pytest
import torch

from vigil.serving_errors import BadRequest
from vigil.toxicity.bilstm import BiLSTMClassifier, BiLSTMConfig, encode
from vigil.toxicity.embeddings import SubwordVocabulary
from vigil.toxicity.labels import JIGSAW_LABELS, METRIC_NAMES, sagemaker_metric_definitions
from vigil.toxicity.transformer import train_bpe_tokenizer

pytestmark = pytest.mark.slow


def hooks(kind: str):
    return importlib.import_module(f"inference.toxicity.{kind}.inference")


def test_bilstm_padding_is_masked_exactly():
    """A text scores the same alone and batched with a longer one (both directions masked)."""
    torch.manual_seed(0)
    vocab = SubwordVocabulary(["a", "b"], min_n=2, max_n=3, bucket=50)
    config = BiLSTMConfig(labels=["x", "y"], embed_size=8, lstm_hidden_size=4, proj_size=4)
    model = BiLSTMClassifier(config, vocab.rows, freeze_embeddings=False).eval()
    short, long = "a b", "b a b a b a b a"
    alone = model(encode([short], vocab, 16))
    together = model(encode([short, long], vocab, 16))
    torch.testing.assert_close(alone[0], together[0])


def test_bpe_tokenizer_trains_and_round_trips(tmp_path):
    texts = ["you are an idiot", "thanks for the edit", "what a stupid idea"] * 30
    tokenizer = train_bpe_tokenizer(texts, tmp_path, vocab_size=300)
    ids = tokenizer("you are stupid")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "you are stupid"
    assert (tmp_path / "tokenizer.json").is_file()
    assert len(tokenizer) <= 300


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_training_writes_a_deployable_model(kind, request, capfd):
    out, summary = request.getfixturevalue(f"tiny_{kind}")
    model_dir = out / "model"
    assert (model_dir / "code" / "inference.py").is_file()
    assert (model_dir / "code" / "vigil" / "toxicity" / "serving.py").is_file()
    assert (model_dir / "code" / "vigil" / "serving_errors.py").is_file()
    assert len(summary["thresholds"]) == len(JIGSAW_LABELS)
    report = json.loads((out / "output" / "test_metrics.json").read_text())
    assert set(report["metrics"]) >= {"roc_auc_macro", "ap_score_weighted", "f1_micro"}
    assert (out / "output" / "test_roc.png").is_file() and (
        out / "output" / "test_pr.png"
    ).is_file()


def test_bilstm_epoch_lines_parse_with_the_regexes(tox_channels, tmp_path, capsys):
    from tests.unit.toxicity.conftest import channel_args
    from training.toxicity.bilstm.train import main

    main(
        [
            *channel_args(tox_channels),
            f"--model-dir={tmp_path / 'm'}",
            f"--output-data-dir={tmp_path / 'o'}",
            "--epochs=2",
            "--patience=5",
            "--embed-size=8",
            "--lstm-hidden-size=4",
            "--lstm-num-layers=1",
            "--proj-size=4",
            "--total-length=16",
            "--fasttext-epochs=1",
            "--fasttext-bucket=500",
            "--max-train-samples=128",
            "--class-weight=1,2,1,3,1,2",
            "--metric-for-best-model=loss",
        ]
    )
    out = capsys.readouterr().out
    for d in sagemaker_metric_definitions():
        assert len(re.findall(d["Regex"], out)) == 2, d["Name"]  # one per epoch
    for d in sagemaker_metric_definitions("test"):
        assert len(re.findall(d["Regex"], out)) == (0 if d["Name"] == "test:loss" else 1)
    losses = [float(v) for v in re.findall(sagemaker_metric_definitions()[0]["Regex"], out)]
    best = re.search(r"best epoch = (\d+); best_loss = ([0-9.]+);", out)
    assert float(best.group(2)) == pytest.approx(min(losses), abs=1e-6)


def test_transformer_prints_metric_lines_and_keeps_the_best_checkpoint(tiny_transformer):
    out, summary = tiny_transformer
    assert summary["best_checkpoint"] is not None
    assert "checkpoint-" in summary["best_checkpoint"]
    checkpoints = list((out / "output" / "checkpoints").glob("checkpoint-*"))
    assert 1 <= len(checkpoints) <= 2  # save_total_limit=1 keeps the best (and the last)
    meta = json.loads((out / "model" / "vigil_toxicity.json").read_text())
    assert meta["loss_mode"] == "MULTI_LABEL" and meta["labels"] == list(JIGSAW_LABELS)


def test_transformer_training_leaves_the_int8_graph_and_measures_it(tiny_transformer):
    from vigil.toxicity.transformer import ONNX_FILE, SERVING_PRECISIONS

    out, _ = tiny_transformer
    assert (out / "model" / ONNX_FILE).is_file()
    meta = json.loads((out / "model" / "vigil_toxicity.json").read_text())
    check = meta["serving_precision_check"]
    assert meta["serving_precision"] in SERVING_PRECISIONS
    assert 0.0 <= check["valid_mean_auc_onnx-int8"] <= 1.0  # the graph was scored first


def test_transformer_metric_lines_parse(tox_channels, tmp_path, capsys):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from vigil.toxicity.transformer import metric_lines_callback

    metrics = {f"eval_{name}": 0.25 for name in METRIC_NAMES} | {"eval_runtime": 1.0, "epoch": 1}
    metric_lines_callback().on_evaluate(
        TrainingArguments(output_dir=str(tmp_path), report_to="none"),
        TrainerState(),
        TrainerControl(),
        metrics=metrics,
    )
    out = capsys.readouterr().out
    for d in sagemaker_metric_definitions():
        assert re.findall(d["Regex"], out) == ["0.250000"], d["Name"]


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_inference_hooks_answer_batches(kind, request):
    out, _ = request.getfixturevalue(f"tiny_{kind}")
    module = hooks(kind)
    model = module.model_fn(str(out / "model"))
    texts = module.input_fn(
        json.dumps({"inputs": ["you idiot", "thank you", "x" * 50]}), "application/json"
    )
    prediction = module.predict_fn(texts, model)
    body = json.loads(module.output_fn(prediction, "application/json"))
    assert body["labels"] == list(JIGSAW_LABELS)
    assert len(body["results"]) == 3
    for result in body["results"]:
        assert set(result["probabilities"]) == set(JIGSAW_LABELS)
        assert all(0.0 <= p <= 1.0 for p in result["probabilities"].values())
        flags = {
            label: result["probabilities"][label] >= body["thresholds"][label]
            for label in JIGSAW_LABELS
        }
        assert result["flags"] == flags and result["flagged"] == any(flags.values())


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ('{"inputs": []}', "application/json", 400, "empty"),
        ('{"inputs": ["ok", 3]}', "application/json", 400, r"inputs\[1\] is int"),
        ('{"inputs": ["  "]}', "application/json", 400, r"inputs\[0\] is empty"),
        ('{"inputs": ["' + "a" * 5001 + '"]}', "application/json", 413, "5001 characters"),
        ('{"inputs": [' + ",".join(['"a"'] * 65) + "]}", "application/json", 413, "65 texts"),
        ('{"text": "hi"}', "application/json", 400, "inputs"),
        ("{not json", "application/json", 400, "not valid JSON"),
        ('{"inputs": ["hi"]}', "text/csv", 415, "text/csv"),
    ],
)
def test_bad_input_is_a_clear_4xx(body, content_type, status, message):
    module = hooks("bilstm")
    with pytest.raises(BadRequest, match=message) as caught:
        module.input_fn(body, content_type)
    assert caught.value.status_code == status
