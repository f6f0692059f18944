"""A distilled student: the teacher's full-precision probabilities become the training targets
(and the class weights follow them), and the student keeps the teacher's chosen encoder layers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.unit.toxicity.conftest import TINY_TRANSFORMER_ARGS, channel_args
from training.toxicity.transformer.train import (
    distill,
    keep_encoder_layers,
    main,
    parse_args,
    student_layers,
)
from vigil.toxicity.data import class_weights_from
from vigil.toxicity.training import load_channels
from vigil.toxicity.transformer import (
    META_FILE,
    SERVING_AUC_TOLERANCE,
    MeanPooledClassifier,
    load_classifier,
    predict,
    roberta_from_config,
    train_bpe_tokenizer,
)


def test_the_teachers_probabilities_replace_the_training_targets(tiny_transformer, tox_channels):
    out, _ = tiny_transformer
    args = parse_args(
        [
            *channel_args(tox_channels),
            f"--distill-from={out / 'model'}",
            "--max-train-samples=40",
            "--class-weight=balanced",
        ]
    )
    assert args.model_name == str(out / "model")  # the student starts from the teacher
    data = load_channels(args)
    truth = data.train.targets.copy()
    distill(args, data)
    teacher, tokenizer, meta = load_classifier(out / "model", precision="fp32")
    expected = predict(
        teacher,
        tokenizer,
        data.train.texts,
        loss_mode=meta["loss_mode"],
        max_length=meta["max_length"],
        normalizer=teacher.text_normalizer,
    )
    np.testing.assert_allclose(data.train.targets, expected, atol=1e-6)
    assert not np.array_equal(data.train.targets, truth)
    # the weights follow the targets the student learns ("balanced": n / (k * positives_k))
    assert data.class_weights == pytest.approx(class_weights_from(data.train.targets))


def test_a_student_keeps_the_chosen_encoder_layers(tmp_path):
    tokenizer = train_bpe_tokenizer(
        ["you are a stupid idiot", "thanks"] * 10, tmp_path, vocab_size=300
    )
    encoder = roberta_from_config(tokenizer, ["toxic"], hidden_size=16, num_layers=3, num_heads=2)
    model = MeanPooledClassifier(encoder.base_model, 1)
    teacher_layers = list(model.base_model.encoder.layer)
    keep_encoder_layers(model, [0, 2])
    assert list(model.base_model.encoder.layer) == [teacher_layers[0], teacher_layers[2]]
    assert model.config.num_hidden_layers == 2
    ids = torch.tensor([[0, 5, 6, 2]])
    assert model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.shape == (1, 1)
    with pytest.raises(SystemExit, match="not a subset"):
        keep_encoder_layers(model, [0, 2])  # it has two layers now


def test_student_layers_are_evenly_spaced_and_keep_the_first_and_last():
    assert student_layers(6, 3) == [0, 2, 5]
    assert student_layers(12, 4) == [0, 4, 7, 11]
    assert student_layers(6, 1) == [5]
    for kept in (0, 6):
        with pytest.raises(SystemExit, match="between 1 and 5"):
            student_layers(6, kept)


def test_distill_student_is_not_combined_with_a_given_teacher(tox_channels, tmp_path):
    with pytest.raises(SystemExit):
        parse_args(
            [*channel_args(tox_channels), "--distill-student=1", f"--distill-from={tmp_path}"]
        )


def test_the_job_serves_the_student_only_when_it_keeps_the_teachers_quality(tox_channels, tmp_path):
    summary = main(
        [
            *channel_args(tox_channels),
            f"--model-dir={tmp_path / 'model'}",
            f"--output-data-dir={tmp_path / 'output'}",
            *TINY_TRANSFORMER_ARGS,
            "--num-hidden-layers=2",
            "--distill-student=1",
        ]
    )
    decision = summary["distillation"]
    assert decision["student_layers"] == [1] and decision["teacher_layers"] == 2
    keeps = (
        decision["teacher_valid_mean_auc_fp32"] - decision["student_valid_mean_auc_served"]
        <= SERVING_AUC_TOLERANCE
    )
    assert decision["served"] == ("student" if keeps else "teacher")
    served_layers = 1 if keeps else 2
    meta = json.loads((tmp_path / "model" / META_FILE).read_text())
    assert meta["distillation"] == decision
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["num_hidden_layers"] == served_layers
    teacher = json.loads((tmp_path / "output" / "teacher" / "config.json").read_text())
    assert teacher["num_hidden_layers"] == 2
    # the served folder loads and scores as the endpoint loads it
    model, tokenizer, meta = load_classifier(tmp_path / "model")
    probs = predict(
        model,
        tokenizer,
        ["you idiot", "thank you"],
        loss_mode=meta["loss_mode"],
        max_length=meta["max_length"],
        normalizer=model.text_normalizer,
    )
    assert probs.shape == (2, len(meta["labels"]))
