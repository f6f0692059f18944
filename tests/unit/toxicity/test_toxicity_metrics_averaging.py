"""Metric truth and averaging: a fractional label of exactly 0.5 is a positive
(``label >= 0.5``), and the ``*_weighted`` metrics weight each label by its positives
(sklearn's ``average="weighted"``), which differs from the plain ``*_macro`` mean when the
labels are imbalanced."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from vigil.toxicity.metrics import best_thresholds, compute_metrics, per_label_auc

# the only positive of each label is a fractional 0.5 (half the annotators)
HALF_TARGETS = np.array([[0.5, 0.0], [0.0, 0.5], [0.49, 0.0], [0.0, 0.2]])
HALF_PROBS = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.2], [0.1, 0.3]])


def test_a_fractional_label_of_exactly_one_half_is_a_positive():
    metrics = compute_metrics(HALF_TARGETS, HALF_PROBS)
    assert metrics["accuracy"] == 1.0
    for avg in ("micro", "macro", "weighted"):
        assert metrics[f"f1_{avg}"] == pytest.approx(1.0), avg
        assert metrics[f"roc_auc_{avg}"] == pytest.approx(1.0), avg
        assert metrics[f"ap_score_{avg}"] == pytest.approx(1.0), avg
    assert per_label_auc(HALF_TARGETS, HALF_PROBS) == [pytest.approx(1.0)] * 2


def test_thresholds_are_tuned_on_the_one_half_positives():
    # each label has one positive (0.5) to find; without it the threshold would default to 0.5
    thresholds = best_thresholds(HALF_TARGETS, HALF_PROBS)
    assert thresholds == [pytest.approx(0.9), pytest.approx(0.8)]


# label 0: 4 positives of 8, ranked perfectly; label 1: 1 positive of 8, ranked badly
TRUTH = np.array(
    [[1, 0], [1, 0], [1, 1], [1, 0], [0, 0], [0, 0], [0, 0], [0, 0]],
    dtype=float,
)
PROBS = np.array(
    [
        [0.9, 0.6],
        [0.8, 0.1],
        [0.7, 0.2],
        [0.6, 0.7],
        [0.4, 0.9],
        [0.3, 0.3],
        [0.2, 0.4],
        [0.1, 0.05],
    ]
)


def test_weighted_averages_weight_labels_by_their_positives():
    metrics = compute_metrics(TRUTH, PROBS)
    truth = TRUTH.astype(int)
    expected = {
        "f1": f1_score(truth, (PROBS >= 0.5).astype(int), average=None),
        "roc_auc": roc_auc_score(truth, PROBS, average=None),
        "ap_score": average_precision_score(truth, PROBS, average=None),
    }
    support = truth.sum(axis=0)
    assert list(support) == [4, 1]
    for name, per_label in expected.items():
        weighted = float((per_label * support).sum() / support.sum())
        macro = float(per_label.mean())
        assert abs(weighted - macro) > 0.05, name  # the data tells the two apart
        assert metrics[f"{name}_weighted"] == pytest.approx(weighted), name
        assert metrics[f"{name}_macro"] == pytest.approx(macro), name
    assert metrics["f1_weighted"] == pytest.approx(
        f1_score(truth, (PROBS >= 0.5).astype(int), average="weighted", zero_division=0)
    )
    assert metrics["roc_auc_weighted"] == pytest.approx(
        roc_auc_score(truth, PROBS, average="weighted")
    )
    assert metrics["ap_score_weighted"] == pytest.approx(
        average_precision_score(truth, PROBS, average="weighted")
    )
