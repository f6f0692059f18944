"""The original recipe's hyperparameter dictionaries and metric definitions, as its notebooks
write them, work unchanged: SageMaker passes each dictionary entry as ``--key value``, and the
notebooks' ``validation:*`` regexes each capture the value the scripts print."""

from __future__ import annotations

import re

import numpy as np
import pytest

from training.toxicity.bilstm.train import parse_args as bilstm_args
from training.toxicity.transformer.train import parse_args as transformer_args
from vigil.toxicity.labels import RECIPE_METRIC_ALIASES, recipe_metric_definitions
from vigil.toxicity.metrics import compute_metrics, print_metrics
from vigil.toxicity.training import load_channels, resolve_class_weights

# The recipe's dictionaries, as its notebooks pass them to the SageMaker estimators.
RECIPE_BILSTM_HYPERPARAMETERS = {
    "epochs": 20,
    "train-batch-size": 128,
    "eval-batch-size": 1024,
    "embed-size": 300,
    "lstm-hidden-size": 200,
    "lstm-num-layers": 2,
    "proj-size": 100,
    "total-length": 128,
    "num-targets": 6,
    "class-weight": "0.43 4.17 0.79 13.8 0.85 4.88",
    "metric-for-best-model": "ap_score_weighted",
}
RECIPE_ROBERTA_HYPERPARAMETERS = {
    "model-name": "roberta-base",
    "epochs": 3,
    "train-batch-size": 16,
    "eval-batch-size": 64,
    "learning-rate": 5e-5,
    "max-length": 256,
    "num-labels": 6,
    "loss-mode": "MULTI_LABEL",
    "class-weight": "0.43 4.17 0.79 13.8 0.85 4.88",
    "metric-for-best-model": "f1_score_weighted",
}
# The recipe's metric definitions, verbatim: 6 of them read names Vigil did not print before.
RECIPE_METRIC_DEFINITIONS = [
    {"Name": "validation:loss", "Regex": r"eval_loss = ([0-9\.]+)"},
    {"Name": "validation:accuracy", "Regex": r"eval_accuracy = ([0-9\.]+)"},
    {"Name": "validation:f1_score_micro", "Regex": r"eval_f1_score_micro = ([0-9\.]+)"},
    {"Name": "validation:f1_score_macro", "Regex": r"eval_f1_score_macro = ([0-9\.]+)"},
    {"Name": "validation:f1_score_weighted", "Regex": r"eval_f1_score_weighted = ([0-9\.]+)"},
    {"Name": "validation:auc_score_micro", "Regex": r"eval_auc_score_micro = ([0-9\.]+)"},
    {"Name": "validation:auc_score_macro", "Regex": r"eval_auc_score_macro = ([0-9\.]+)"},
    {"Name": "validation:auc_score_weighted", "Regex": r"eval_auc_score_weighted = ([0-9\.]+)"},
    {"Name": "validation:ap_score_macro", "Regex": r"eval_ap_score_macro = ([0-9\.]+)"},
    {"Name": "validation:ap_score_weighted", "Regex": r"eval_ap_score_weighted = ([0-9\.]+)"},
]


def sagemaker_argv(hyperparameters: dict) -> list[str]:
    """What the SageMaker training toolkit hands a script-mode entry point."""
    return [part for key, value in hyperparameters.items() for part in (f"--{key}", str(value))]


def test_the_recipes_dictionaries_parse_unchanged():
    bilstm = bilstm_args(sagemaker_argv(RECIPE_BILSTM_HYPERPARAMETERS))
    assert (bilstm.num_targets, bilstm.embed_size, bilstm.total_length) == (6, 300, 128)
    roberta = transformer_args(sagemaker_argv(RECIPE_ROBERTA_HYPERPARAMETERS))
    assert roberta.num_targets == 6 and roberta.model_name == "roberta-base"
    # the recipe's metric name selects the same metric as Vigil's own
    assert roberta.metric_for_best_model == "f1_weighted"
    spec = RECIPE_ROBERTA_HYPERPARAMETERS["class-weight"]
    assert resolve_class_weights(spec, {}, 6) == [0.43, 4.17, 0.79, 13.8, 0.85, 4.88]
    assert resolve_class_weights(spec.replace(" ", ","), {}, 6) == [
        0.43,
        4.17,
        0.79,
        13.8,
        0.85,
        4.88,
    ]


def test_class_weights_of_the_wrong_length_or_kind_stop_with_a_clear_message():
    with pytest.raises(SystemExit, match="5 values for 6 labels"):
        resolve_class_weights("1 2 3 4 5", {}, 6)
    with pytest.raises(SystemExit, match="separated by commas or spaces"):
        resolve_class_weights("1 two 3", {}, 3)


@pytest.mark.parametrize(
    ("parse", "key"), [(bilstm_args, "num-targets"), (transformer_args, "num-labels")]
)
def test_a_label_count_the_data_does_not_have_is_named(parse, key, tox_channels):
    from tests.unit.toxicity.conftest import channel_args

    base = ["--model-name=x"] if parse is transformer_args else []
    args = parse([*base, *channel_args(tox_channels), f"--{key}", "1"])
    with pytest.raises(SystemExit, match=r"is 1 but the prepared data .* has 6 labels"):
        load_channels(args)
    args = parse([*base, *channel_args(tox_channels), f"--{key}", "6"])
    assert len(load_channels(args).labels) == 6


def test_the_recipes_metric_definitions_capture_every_printed_metric(capsys):
    rng = np.random.default_rng(3)
    targets = (rng.random((60, 6)) > 0.6).astype(float)
    metrics = {"loss": 0.25, **compute_metrics(targets, rng.random((60, 6)))}
    print_metrics(metrics)
    printed = capsys.readouterr().out
    for definition in RECIPE_METRIC_DEFINITIONS:
        name = definition["Name"].split(":", 1)[1]
        expected = metrics[RECIPE_METRIC_ALIASES.get(name, name)]
        (found,) = re.findall(definition["Regex"], printed)
        assert float(found) == pytest.approx(expected, abs=1e-6), name
    # Vigil's own validation:* definitions (the CDK jobs carry them) read the same lines
    ours = {d["Name"]: d["Regex"] for d in recipe_metric_definitions()}
    assert set(ours) == {d["Name"] for d in RECIPE_METRIC_DEFINITIONS}
    for name, regex in ours.items():
        assert len(re.findall(regex, printed)) == 1, name


def test_the_transformer_callback_prints_the_recipes_names(tmp_path, capsys):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from vigil.toxicity.transformer import metric_lines_callback

    metrics = {"eval_loss": 0.5, "eval_roc_auc_macro": 0.9, "eval_f1_weighted": 0.7}
    metric_lines_callback().on_evaluate(
        TrainingArguments(output_dir=str(tmp_path), report_to="none"),
        TrainerState(),
        TrainerControl(),
        metrics=metrics,
    )
    printed = capsys.readouterr().out
    by_name = {d["Name"]: d["Regex"] for d in RECIPE_METRIC_DEFINITIONS}
    assert re.findall(by_name["validation:auc_score_macro"], printed) == ["0.900000"]
    assert re.findall(by_name["validation:f1_score_weighted"], printed) == ["0.700000"]
    assert re.findall(by_name["validation:loss"], printed) == ["0.500000"]


def test_on_the_jigsaw_sample_the_two_label_modes_differ_only_in_class_weights(jigsaw_sample):
    """Why the comparison grid's label-handling axis measures class weights alone here: the
    Jigsaw 2018 labels are majority votes (0/1), so thresholding at 0.5 changes no target."""
    import pandas as pd

    from vigil.toxicity.data import prepare

    frame = pd.read_csv(jigsaw_sample)
    fractional, soft_meta = prepare(frame, label_mode="fractional")
    binary, hard_meta = prepare(frame, label_mode="binary")
    for channel in ("train", "valid", "test"):
        pd.testing.assert_frame_equal(fractional[channel], binary[channel])
    assert soft_meta.class_weights is None
    assert len(hard_meta.class_weights) == 6 and max(hard_meta.class_weights) > 2
