"""Identity-bias evaluation: the template set, the subgroup / BPSN / BNSP AUCs and their
generalised mean on scorers whose bias is known, and the training scripts' bias report."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from vigil.toxicity.bias import (
    AUGMENTATION_TEMPLATES,
    IDENTITY_TERMS,
    NEUTRAL_TEMPLATES,
    TOXIC_AUGMENTATION_TEMPLATES,
    TOXIC_TEMPLATES,
    augmentation_rows,
    augmentation_texts,
    bias_metrics,
    evaluate_bias,
    power_mean,
    template_set,
)
from vigil.toxicity.labels import JIGSAW_LABELS


def test_the_template_set_covers_at_least_40_identities_evenly():
    assert len(set(IDENTITY_TERMS)) == len(IDENTITY_TERMS) >= 40
    texts, truth, identity = template_set()
    assert len(texts) == len(IDENTITY_TERMS) * (len(NEUTRAL_TEMPLATES) + len(TOXIC_TEMPLATES))
    for index, term in enumerate(IDENTITY_TERMS):
        mine = [t for t, i in zip(texts, identity, strict=True) if i == index]
        assert all(term in t.lower() for t in mine)
        assert truth[identity == index].sum() == len(TOXIC_TEMPLATES)


def test_mitigation_balances_neutral_and_toxic_sentences_for_every_identity():
    rows = augmentation_rows(2 * len(IDENTITY_TERMS) * 3, seed=1)  # three template rounds
    for term in IDENTITY_TERMS:
        mine = [labels for text, labels in rows if f" {term} " in f" {text.lower()} "]
        # "african american" also holds "african" and "american": count at least, equal classes
        neutral = sum(1 for labels in mine if not labels)
        assert neutral >= 3 and neutral == len(mine) - neutral
    assert all(labels[0] == "toxic" for _text, labels in rows if labels)
    assert augmentation_texts(50, seed=1) == [text for text, _labels in rows[:50]]
    distinct = augmentation_rows(2000, seed=1)
    assert len({text for text, _labels in distinct}) == len(IDENTITY_TERMS) * (
        len(AUGMENTATION_TEMPLATES) + len(TOXIC_AUGMENTATION_TEMPLATES)
    )


def _words(templates) -> set[str]:
    return {w for t in templates for w in re.findall(r"[a-z]+", t.lower())}


def test_mitigation_never_uses_an_evaluation_sentence_frame_or_toxic_word():
    evaluation = set(template_set()[0])
    assert not evaluation & set(augmentation_texts(2000))
    evaluation_frames = {*NEUTRAL_TEMPLATES, *TOXIC_TEMPLATES}
    augmentation_frames = {*AUGMENTATION_TEMPLATES, *(t for t, _ in TOXIC_AUGMENTATION_TEMPLATES)}
    assert not evaluation_frames & augmentation_frames
    # the words that make an evaluation sentence toxic (in its toxic templates, in no neutral
    # one, and no function word) are never taught by the mitigation
    function_words = {"a", "all", "you", "should", "be", "will", "every", "person", "makes"}
    toxic_cues = _words(TOXIC_TEMPLATES) - _words(NEUTRAL_TEMPLATES) - function_words
    assert {"hate", "stupid", "scum", "shot", "hurt", "moron"} <= toxic_cues
    assert not toxic_cues & _words(t for t, _ in TOXIC_AUGMENTATION_TEMPLATES)


def test_identity_mentions_carry_their_labels_in_the_task_they_join():
    from vigil.toxicity.training import Split, with_identity_mentions

    empty = Split(texts=[], targets=np.zeros((0, 6), np.float32), sample_weights=np.ones(0))
    joined = with_identity_mentions(empty, list(JIGSAW_LABELS), 200)
    rows = augmentation_rows(200)
    assert joined.texts == [text for text, _labels in rows]
    for target, (_text, labels) in zip(joined.targets, rows, strict=True):
        assert {JIGSAW_LABELS[i] for i in np.flatnonzero(target)} == set(labels)
    binary = with_identity_mentions(
        Split(texts=[], targets=np.zeros((0, 1), np.float32), sample_weights=np.ones(0)),
        ["toxic"],
        200,
    )
    assert binary.targets.sum() == 100  # half of them toxic
    with pytest.raises(SystemExit, match="toxic"):
        with_identity_mentions(empty, ["insult", "threat"], 10)


def test_power_mean_is_dominated_by_the_worst_value():
    assert power_mean([0.9, 0.9, 0.9]) == pytest.approx(0.9)
    # ((1 + 1 + 0.5**-5) / 3) ** (-1/5) = (34 / 3) ** -0.2
    assert power_mean([1.0, 1.0, 0.5]) == pytest.approx((34 / 3) ** -0.2)
    assert power_mean([1.0, 1.0, 0.5]) < np.mean([1.0, 1.0, 0.5])


def test_a_fair_scorer_scores_well_and_a_biased_one_is_caught_on_its_identity():
    rng = np.random.default_rng(0)
    _texts, truth, identity = template_set()
    fair = truth * 0.6 + rng.random(len(truth)) * 0.5  # overlap, the same for every identity
    fair_report = bias_metrics(truth, fair, identity)
    gay = IDENTITY_TERMS.index("gay")
    biased = fair + 0.5 * (identity == gay)  # the identity alone raises the score
    report = bias_metrics(truth, biased, identity)
    row = report["per_identity"]["gay"]
    assert row["bpsn_auc"] < 0.7 < fair_report["per_identity"]["gay"]["bpsn_auc"]
    assert row["bnsp_auc"] > 0.99  # raising it never hides a toxic sentence
    # raising every score of one identity leaves its within-identity ranking unchanged
    assert row["subgroup_auc"] == fair_report["per_identity"]["gay"]["subgroup_auc"]
    assert report["worst_bpsn_identity"] == "gay"
    assert report["most_flagged_neutral_identity"] == "gay"
    assert report["min_bpsn_auc"] == row["bpsn_auc"]
    assert report["bias_generalized_mean_auc"] < fair_report["bias_generalized_mean_auc"]


def test_evaluate_bias_reads_the_toxic_column_and_skips_models_without_it():
    def predict(texts):
        # column 0 (toxic) flags the toxic templates' words, the rest is noise
        toxic = [
            float(
                any(
                    w in t.lower()
                    for w in (
                        "hate",
                        "stupid",
                        "scum",
                        "hurt",
                        "shot",
                        "moron",
                        "animals",
                        "freak",
                        "loser",
                        "disgusting",
                    )
                )
            )
            for t in texts
        ]
        return np.column_stack([toxic, np.full((len(texts), 5), 0.5)])

    report = evaluate_bias(predict, list(JIGSAW_LABELS))
    assert report["bias_generalized_mean_auc"] == pytest.approx(1.0)
    assert evaluate_bias(predict, ["obscene", "insult"]) is None


@pytest.mark.slow
def test_training_with_identity_mentions_reports_bias_in_its_metrics_file(
    tox_channels, tmp_path, capsys
):
    from tests.unit.toxicity.conftest import channel_args
    from training.toxicity.bilstm.train import main

    main(
        [
            *channel_args(tox_channels),
            f"--model-dir={tmp_path / 'm'}",
            f"--output-data-dir={tmp_path / 'o'}",
            "--epochs=1",
            "--embed-size=8",
            "--lstm-hidden-size=4",
            "--lstm-num-layers=1",
            "--proj-size=4",
            "--total-length=16",
            "--fasttext-epochs=1",
            "--fasttext-bucket=500",
            "--max-train-samples=128",
            "--identity-augmentation=64",
        ]
    )
    report = json.loads((tmp_path / "o" / "test_metrics.json").read_text())
    bias = report["bias"]
    assert bias["identity_terms"] == len(IDENTITY_TERMS)
    assert set(bias["per_identity"]) == set(IDENTITY_TERMS)
    printed = capsys.readouterr().out
    found = re.findall(r"test_bias_generalized_mean_auc = ([0-9.]+);", printed)
    assert float(found[0]) == pytest.approx(bias["bias_generalized_mean_auc"], abs=1e-6)
