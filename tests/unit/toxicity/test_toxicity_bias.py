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
    TOXIC_TEMPLATES,
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


def test_mitigation_sentences_are_neutral_and_never_evaluation_sentences():
    evaluation = set(template_set()[0])
    extra = augmentation_texts(1200, seed=1)
    assert len(extra) == 1200 and len(set(extra)) == len(IDENTITY_TERMS) * len(
        AUGMENTATION_TEMPLATES
    )
    assert not evaluation & set(extra)
    assert augmentation_texts(50, seed=1) == extra[:50]


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
