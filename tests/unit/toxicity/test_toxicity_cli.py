"""The training scripts take hyperparameters the way SageMaker passes them (``--name value``),
with the issue's defaults, and read channel paths from ``SM_*`` variables at parse time."""

from __future__ import annotations

import pytest

from training.toxicity.bilstm.train import parse_args as bilstm_args
from training.toxicity.transformer.train import parse_args as transformer_args


def test_bilstm_defaults_match_the_issue(monkeypatch):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    args = bilstm_args([])
    assert (args.epochs, args.train_batch_size, args.eval_batch_size) == (20, 128, 1024)
    assert (args.embed_size, args.lstm_hidden_size, args.lstm_num_layers, args.proj_size) == (
        300,
        200,
        2,
        100,
    )
    assert args.metric_for_best_model == "ap_score_weighted"
    assert args.train == "/opt/ml/input/data/train" and args.model_dir == "/opt/ml/model"


@pytest.mark.parametrize(("value", "expected"), [("True", True), ("false", False), ("1", True)])
def test_boolean_hyperparameters_accept_sagemaker_values(value, expected):
    args = transformer_args(["--model-name", "x", "--freeze-embeddings", value])
    assert args.freeze_embeddings is expected
    assert transformer_args(["--train-tokenizer"]).train_tokenizer is True


def test_transformer_needs_a_model_or_a_tokenizer(capsys):
    with pytest.raises(SystemExit):
        transformer_args([])
    assert "--model-name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bilstm_args(["--train-embeddings", "maybe"])
