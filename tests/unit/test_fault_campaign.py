"""The fault campaign's own judgements (benchmarks/faults.py): what counts as an answer, and where
each air-quality fault lands (a fault on an object it cannot touch would test nothing)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "faults.py"


@pytest.fixture(scope="module")
def faults():
    spec = importlib.util.spec_from_file_location("fault_campaign", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "body",
    [
        {"id": "1", "flag": "legit", "pred_prob": 0.1},
        {"id": "1", "flag": "fraud", "pred_prob": 1.0},
        {"id": "1", "flag": "review", "pred_prob": None, "fallback": "GraphUnavailable"},
    ],
)
def test_a_score_or_the_configured_fallback_is_an_answer(faults, body):
    assert faults.answer_problem(200, json.dumps(body), "review") is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"message": "Internal server error"}),
        (None, "ConnectionResetError: peer closed"),
        (200, {"id": "1", "flag": "fraud", "pred_prob": None, "fallback": "GraphTimeout"}),
        (200, {"id": "1", "flag": "review", "pred_prob": None}),  # no reason given
        (200, {"id": "1", "flag": "review", "pred_prob": 0.4}),  # a score needs fraud/legit
        (200, {"id": "1", "flag": "legit", "pred_prob": 1.2}),
    ],
)
def test_anything_else_is_unanswered(faults, status, body):
    text = body if isinstance(body, str) else json.dumps(body)
    assert faults.answer_problem(status, text, "review")


def test_each_air_fault_lands_on_its_own_object_and_sns_faults_where_alerts_go_out(faults):
    alerts_by_object = {0: 0, 1: 1, 2: 0, 3: 2, 4: 1, 5: 2, 6: 0}
    placed = faults.place_faults(alerts_by_object, objects=28)
    where = {name: index for index, (name, _) in placed.items()}
    assert len(placed) == len(faults.AIR_FAULTS)  # no fault dropped, none sharing an object
    assert alerts_by_object[where["sns_throttled"]] >= 1
    assert alerts_by_object[where["sns_failing"]] >= 1
    assert alerts_by_object[where["sns_failing_after_one_alert"]] >= 2
    assert not set(placed) & set(faults.REDELIVERED)  # a redelivery is a fault of its own
