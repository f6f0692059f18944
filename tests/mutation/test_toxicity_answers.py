"""Toxicity metrics and the moderation API's validation: exact outcomes and the reasons answered."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.toxicity.metrics import compute_metrics
from vigil.toxicity.moderation import ModerationError, _result_problem, decisions, parse_request


def test_accuracy_is_the_share_of_examples_with_every_label_right():
    targets = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    probs = np.array([[0.9, 0.1], [0.9, 0.2], [0.1, 0.1], [0.2, 0.2]])  # rows 2 and 4: one wrong
    assert compute_metrics(targets, probs)["accuracy"] == 0.5


def test_targets_and_probabilities_of_different_shapes_are_refused_by_shape():
    with pytest.raises(ValueError, match=r"targets \(2, 2\) and probabilities \(2, 3\) differ"):
        compute_metrics(np.zeros((2, 2)), np.zeros((2, 3)))


def test_an_empty_body_is_answered_with_what_to_send():
    with pytest.raises(ModerationError) as refused:
        parse_request("  ")
    assert (refused.value.status, refused.value.reason) == (
        400,
        'the body is empty; send {"messages": [...]}',
    )


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (5, "a int, not an object"),
        (["toxic"], "a list, not an object"),
        ({"flags": ["toxic"]}, "flags is not an object"),
        ({"probabilities": [0.1]}, "probabilities is not an object"),
        ({"probabilities": {"toxic": "0.5"}}, "probability of toxic is not a number"),
        ({"probabilities": {"toxic": True}}, "probability of toxic is not a number"),
        ({"probabilities": {"threat": float("nan")}}, "probability of threat is not finite (nan)"),
    ],
)
def test_an_unusable_endpoint_result_is_named_precisely(result, problem):
    assert _result_problem(result) == problem


@pytest.mark.parametrize(
    "result",
    [
        {},
        {"flags": {"toxic": True}},  # probabilities may be left out
        {"probabilities": {"toxic": 0.2, "insult": 1}},  # flags may be left out
    ],
)
def test_flags_and_probabilities_are_each_optional(result):
    assert _result_problem(result) is None


def test_decisions_answer_each_message_with_its_flag_categories_and_scores():
    prediction = {
        "labels": ["toxic", "insult"],
        "results": [
            {"flags": {"toxic": True, "insult": False}, "probabilities": {"toxic": 0.9}},
            {"flags": {"toxic": False, "insult": False}, "probabilities": {"toxic": 0.1}},
            {"flagged": False, "flags": {"toxic": True}},  # the endpoint's own verdict wins
        ],
    }
    assert decisions(prediction) == {
        "labels": ["toxic", "insult"],
        "results": [
            {"index": 0, "flagged": True, "categories": ["toxic"], "scores": {"toxic": 0.9}},
            {"index": 1, "flagged": False, "categories": [], "scores": {"toxic": 0.1}},
            {"index": 2, "flagged": False, "categories": ["toxic"], "scores": {}},
        ],
    }


def test_decisions_of_a_bare_result_are_empty_not_missing():
    assert decisions({"results": [{}]}) == {
        "labels": [],
        "results": [{"index": 0, "flagged": False, "categories": [], "scores": {}}],
    }
