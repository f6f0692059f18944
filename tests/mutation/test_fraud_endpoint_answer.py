"""The endpoint answer's probability (``pred_prob_of``) in both shapes the endpoint may answer."""

from __future__ import annotations

import math

import pytest

from vigil.fraud.scoring.endpoint import pred_prob_of


@pytest.mark.parametrize("value", [0.0, 0.3, 1.0])
def test_the_batch_shape_answers_its_first_prediction(value):
    assert pred_prob_of({"predictions": [{"pred_prob": value}, {"pred_prob": 0.9}]}) == value


def test_a_top_level_pred_prob_wins_over_predictions():
    assert pred_prob_of({"pred_prob": 0.2, "predictions": [{"pred_prob": 0.9}]}) == 0.2


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("shape", ["flat", "batch"])
def test_a_non_finite_probability_is_refused(value, shape):
    answer = {"pred_prob": value} if shape == "flat" else {"predictions": [{"pred_prob": value}]}
    with pytest.raises(ValueError, match="no finite pred_prob"):
        pred_prob_of(answer)


@pytest.mark.parametrize(
    "answer",
    [{}, {"predictions": []}, {"predictions": [{}]}, {"pred_prob": "0.5"}, {"pred_prob": True}],
)
def test_an_answer_without_a_number_is_refused(answer):
    with pytest.raises(ValueError, match="no finite pred_prob"):
        pred_prob_of(answer)


def test_the_refusal_quotes_the_answer_cut_to_200_characters():
    answer = {"pred_prob": None, "note": "x" * 500}
    with pytest.raises(ValueError) as refused:
        pred_prob_of(answer)
    assert str(refused.value) == f"endpoint answer has no finite pred_prob: {str(answer)[:200]}"


@pytest.mark.parametrize("value", [-0.5, 1.5])
def test_an_out_of_range_probability_is_refused_with_its_value(value):
    with pytest.raises(ValueError, match=rf"pred_prob {value} is outside \[0, 1\]"):
        pred_prob_of({"pred_prob": value})
