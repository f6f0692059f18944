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


def test_without_fraud_threshold_the_models_own_threshold_decides():
    answer, graph, _ = _score({"pred_prob": 0.04, "threshold": 0.03})
    assert answer.flag == "fraud"  # 0.04 ≥ the model's 0.03, far below the old fixed 0.5
    assert graph.inserts[0]["flag"] == "fraud"
    assert _score({"pred_prob": 0.02, "threshold": 0.03})[0].flag == "legit"


def test_fraud_threshold_overrides_the_models_threshold():
    answer, _, _ = _score({"pred_prob": 0.04, "threshold": 0.03}, threshold=0.5)
    assert answer.flag == "legit"


@pytest.mark.parametrize("threshold", [None, "0.2", 1.5, True])
def test_a_model_without_a_usable_threshold_flags_at_one_half(threshold):
    reply = {"pred_prob": 0.45} | ({} if threshold is None else {"threshold": threshold})
    assert _score(reply)[0].flag == "legit"
    assert _score(reply | {"pred_prob": 0.5})[0].flag == "fraud"


def test_explain_is_asked_of_the_endpoint_and_its_explanation_answered():
    explanation = {"logit": -1.0, "base_logit": -2.0, "interaction": 0.0,
                   "entities": [{"type": "card1", "key": "4242", "contribution": 1.0}]}  # fmt: skip
    graph, endpoint = MemoryGraph(), FixedEndpoint({"pred_prob": 0.27, "explanation": explanation})
    requests = []
    endpoint.invoke = lambda payload: requests.append(payload) or dict(endpoint.answer)
    config = ScoringConfig(
        graph_endpoint="http://127.0.0.1:9", endpoint_name="e", featurizer_spec="unused"
    )
    scorer = Scorer(config, featurizer=Featurizer(SPEC), graph=graph, endpoint=endpoint)
    answer = scorer.score_in_graph(TRANSACTION | {"explain": True})
    assert requests[0]["explain"] is True
    assert answer.body() == {"id": "3100001", "flag": "legit", "pred_prob": 0.27,
                             "explanation": explanation}  # fmt: skip
    plain = scorer.score_in_graph(TRANSACTION | {"TransactionID": 3_100_002})
    assert "explain" not in requests[1] and "explanation" not in plain.body()


def test_explain_is_an_optional_boolean_of_the_event():
    from vigil.fraud.scoring import InvalidTransaction, parse_transaction, request_json_schema

    assert parse_transaction({"TransactionID": 1, "explain": True})["explain"] is True
    with pytest.raises(InvalidTransaction, match="explain"):
        parse_transaction({"TransactionID": 1, "explain": "yes"})
    assert request_json_schema()["properties"]["explain"] == {"type": "boolean"}
