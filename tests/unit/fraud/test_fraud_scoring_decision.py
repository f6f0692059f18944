"""The scorer's decision on the endpoint's answer, with the graph and the endpoint faked in
memory: ``pred_prob >= threshold`` flags fraud (the threshold itself included), and a
``pred_prob`` outside [0, 1] is an endpoint fault (a fallback answer, nothing stored), never a
score."""

from __future__ import annotations

import pytest

from vigil.fraud.features import CategoricalFeature, Featurizer, FeaturizerSpec, NumericFeature
from vigil.fraud.graph import EntityState, FraudGraph, GraphRead, graph_layout
from vigil.fraud.scoring import Scorer, ScoringConfig

SPEC = FeaturizerSpec(
    numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
    categorical=[CategoricalFeature("ProductCD", ["W", "C"])],
    entity_columns=["card1", "DeviceInfo"],
)
TRANSACTION = {
    "TransactionID": 3_100_001,
    "TransactionDT": 90_000,
    "TransactionAmt": 49.5,
    "ProductCD": "W",
    "card1": 4242,
    "DeviceInfo": "decision-device",
}


class MemoryGraph(FraudGraph):
    """An empty graph: every read finds nothing; inserts are recorded, never refused."""

    def __init__(self):
        super().__init__(client=None, layout=graph_layout(SPEC.entity_columns))
        self.inserts: list[dict] = []

    def read(self, transaction_id, keys):
        entities = tuple(EntityState(e.column, key, None, 0) for e, key in keys)
        return GraphRead(transaction_exists=False, pred_prob=None, flag=None, entities=entities)

    def insert(self, transaction_id, transaction_dt, updates, *, pred_prob, flag):
        self.inserts.append({"id": transaction_id, "pred_prob": pred_prob, "flag": flag})
        return True

    def store_answer(self, transaction_id, pred_prob, flag):  # pragma: no cover - not reached
        raise AssertionError("a new transaction is inserted, not updated")


class FixedEndpoint:
    """Answers every InvokeEndpoint with ``answer``."""

    def __init__(self, answer: dict):
        self.answer = answer
        self.calls = 0

    def invoke(self, payload):
        self.calls += 1
        return dict(self.answer)


def _score(answer: dict, **settings):
    graph, endpoint = MemoryGraph(), FixedEndpoint(answer)
    config = ScoringConfig(
        graph_endpoint="http://127.0.0.1:9",  # never called: the graph is in memory
        endpoint_name="vigil-fraud-rgcn",
        featurizer_spec="unused",
        **settings,
    )
    scorer = Scorer(config, featurizer=Featurizer(SPEC), graph=graph, endpoint=endpoint)
    return scorer.score_in_graph(TRANSACTION), graph, endpoint


@pytest.mark.parametrize("threshold", [0.5, 0.37, 0.9])
def test_a_pred_prob_exactly_at_the_threshold_is_flagged_fraud(threshold):
    answer, graph, _ = _score({"pred_prob": threshold}, threshold=threshold)
    assert answer.fallback is None
    assert (answer.flag, answer.pred_prob) == ("fraud", threshold)
    assert graph.inserts == [{"id": "3100001", "pred_prob": threshold, "flag": "fraud"}]


def test_just_below_the_threshold_is_legit_and_the_flag_rule_is_inclusive():
    answer, _, _ = _score({"pred_prob": 0.3699}, threshold=0.37)
    assert answer.flag == "legit"
    scorer = Scorer(
        ScoringConfig(
            graph_endpoint="http://127.0.0.1:9",
            endpoint_name="vigil-fraud-rgcn",
            featurizer_spec="unused",
            threshold=0.37,
        ),
        featurizer=Featurizer(SPEC),
        graph=MemoryGraph(),
        endpoint=FixedEndpoint({}),
    )
    assert scorer.flag(0.37) == "fraud"
    assert scorer.flag(0.36999999) == "legit"


@pytest.mark.parametrize(
    "answer",
    [
        {"pred_prob": 1.5},
        {"pred_prob": -0.01},
        {"pred_prob": 1.0000001},
        {"predictions": [{"pred_prob": 7}]},
        {"predictions": [{"pred_prob": -3.0}]},
    ],
)
@pytest.mark.parametrize(("fallback", "flag"), [("review", "review"), ("closed", "fraud")])
def test_an_out_of_range_pred_prob_is_an_endpoint_fault(answer, fallback, flag):
    scored, graph, endpoint = _score(answer, fallback=fallback)
    assert endpoint.calls == 1  # a bad answer is not retried
    assert scored.fallback == "EndpointBadAnswer"
    assert (scored.flag, scored.pred_prob) == (flag, None)
    assert scored.body() == {
        "id": "3100001",
        "flag": flag,
        "pred_prob": None,
        "fallback": "EndpointBadAnswer",
    }
    # the transaction is inserted without an answer (a replay scores it again)
    assert graph.inserts == [{"id": "3100001", "pred_prob": None, "flag": None}]


@pytest.mark.parametrize("edge", [0.0, 1.0])
def test_the_ends_of_the_range_are_scores_not_faults(edge):
    scored, graph, _ = _score({"pred_prob": edge})
    assert scored.fallback is None and scored.pred_prob == edge
    assert graph.inserts[0]["pred_prob"] == edge
