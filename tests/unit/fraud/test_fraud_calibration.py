"""Platt calibration on scores whose true probabilities are known, the threshold rules and the
threshold table."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.fraud.calibration import (
    PlattCalibration,
    choose_threshold,
    expected_calibration_error,
    threshold_curve,
    threshold_table,
)
from vigil.fraud.hyperparameters import Hyperparameters


def _known_probabilities(n: int = 40_000, seed: int = 0):
    """Raw logits z whose true fraud probability is sigmoid(1.7 z - 2.5), and labels drawn from
    it (a model with over-confident, shifted scores, as a class-weighted one has)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, n)
    truth = 1 / (1 + np.exp(-(1.7 * z - 2.5)))
    return z, truth, (rng.random(n) < truth).astype(int)


def test_platt_recovers_the_true_probabilities():
    z, truth, labels = _known_probabilities()
    calibration = PlattCalibration.fit(z[:20_000], labels[:20_000])
    assert calibration.a == pytest.approx(1.7, abs=0.1)
    assert calibration.b == pytest.approx(-2.5, abs=0.1)
    held_out = np.array([calibration.prob(v) for v in z[20_000:]])
    assert np.abs(held_out - truth[20_000:]).max() < 0.03
    raw = 1 / (1 + np.exp(-z[20_000:]))
    before = expected_calibration_error(raw, labels[20_000:])
    after = expected_calibration_error(held_out, labels[20_000:])
    assert before > 0.1 and after < 0.02


def test_calibration_round_trips_and_one_class_leaves_scores_as_they_are():
    calibration = PlattCalibration(a=0.5, b=-1.0)
    assert PlattCalibration.from_dict(calibration.to_dict()) == calibration
    assert PlattCalibration.from_dict(None) == PlattCalibration()
    assert PlattCalibration.fit([0.1, 0.2, 0.3], [0, 0, 0]) == PlattCalibration()
    with pytest.raises(ValueError, match="unsupported calibration"):
        PlattCalibration.from_dict({"method": "isotonic"})


def test_expected_calibration_error_of_a_perfect_and_a_wrong_forecast():
    labels = np.array([1] * 20 + [0] * 80)
    assert expected_calibration_error(np.full(100, 0.2), labels) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(100, 0.7), labels) == pytest.approx(0.5)


PROBS = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
LABELS = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0])


def test_the_curve_counts_what_each_threshold_flags():
    curve = threshold_curve(PROBS, LABELS)
    i = list(curve["threshold"]).index(0.6)  # flags 0.9, 0.8, 0.7, 0.6: three of four frauds
    assert curve["precision"][i] == pytest.approx(3 / 4)
    assert curve["recall"][i] == pytest.approx(3 / 4)
    assert curve["fpr"][i] == pytest.approx(1 / 6)
    assert curve["flagged_share"][i] == pytest.approx(0.4)


def test_rules_pick_the_documented_threshold():
    # F1: at 0.8 → 2/3·… = 0.667; at 0.6 → 0.75; at 0.3 → 4/7·… = 0.727: 0.6 is best
    assert choose_threshold(PROBS, LABELS, "max_f1") == 0.6
    # precision ≥ 0.75: 0.9 (1.0), 0.8 (1.0), 0.7 (0.67), 0.6 (0.75) → the lowest is 0.6
    assert choose_threshold(PROBS, LABELS, "precision:0.75") == 0.6
    assert choose_threshold(PROBS, LABELS, "precision:0.99") == 0.8
    # flag at most 30 %: 0.7 flags three of ten
    assert choose_threshold(PROBS, LABELS, "flagged_share:0.3") == 0.7
    with pytest.raises(ValueError, match="threshold rule"):
        choose_threshold(PROBS, LABELS, "recall:0.9")


def test_the_rule_pattern_is_the_hyperparameters():
    Hyperparameters(threshold_rule="precision:0.9")
    Hyperparameters(threshold_rule="flagged_share:.01")
    for bad in ("max_f2", "precision:2", "precision", "flagged_share:-0.1"):
        with pytest.raises(ValueError):
            Hyperparameters(threshold_rule=bad)


def test_the_table_holds_the_operating_row_and_is_bounded():
    rng = np.random.default_rng(1)
    probs = rng.random(5_000)
    labels = (rng.random(5_000) < probs).astype(int)
    operating = choose_threshold(probs, labels, "max_f1")
    table = threshold_table(probs, labels, operating, rows=50)
    assert len(table) <= 51
    assert any(row["threshold"] == round(operating, 6) for row in table)
    thresholds = [row["threshold"] for row in table]
    assert thresholds == sorted(thresholds, reverse=True)
    shares = [row["flagged_share"] for row in table]
    assert shares == sorted(shares)
