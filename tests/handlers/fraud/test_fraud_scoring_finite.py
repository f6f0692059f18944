"""Finite JSON numbers that overflow float32 once featurized, or once added to an entity's
``feat_sum``, are rejected with a reason (400) and never reach the graph; a body nested too deep
for the JSON parser is a 400 too."""

from __future__ import annotations

import json
import math

import pytest

from tests.handlers.fraud.conftest import serve_standin
from vigil.fraud.features import Featurizer, FeaturizerSpec, NumericFeature, decode_vector
from vigil.fraud.scoring import Scorer, ScoringConfig, handle_event

SPEC = FeaturizerSpec(
    numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True), NumericFeature("C1", 0, 10)],
    categorical=[],
    entity_columns=["card1"],
)


@pytest.fixture(scope="module")
def standin():
    server = serve_standin(SPEC.entity_columns)
    yield server
    server.stop()


@pytest.fixture
def scorer(standin, proxy, monkeypatch) -> Scorer:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", proxy.endpoint_url)
    config = ScoringConfig(
        graph_endpoint=standin.endpoint_url,
        endpoint_name="vigil-fraud-rgcn",
        featurizer_spec="unused",
        latency_budget_ms=5_000,
        graph_timeout_ms=150,
        endpoint_timeout_ms=150,
        backoff_base_ms=5,
        backoff_cap_ms=20,
    )
    return Scorer(config, featurizer=Featurizer(SPEC))


def _api(body: str) -> dict:
    return {"httpMethod": "POST", "requestContext": {"requestId": "r"}, "body": body}


def _feat_sums(standin, card: str) -> list[list[float]]:
    rows = standin.engine.execute(f"MATCH (c:Card1 {{key: '{card}'}}) RETURN c.feat_sum AS f")
    return [decode_vector(row["f"]) for row in rows]


def test_an_entity_sum_that_would_overflow_float32_is_rejected(scorer, standin):
    # 3e39 is a finite double; featurized (/10) it fits float32, but two of them do not
    first = handle_event(_api('{"TransactionID": 1, "card1": 77, "C1": 3e39}'), lambda: scorer)
    assert first["statusCode"] == 200
    second = handle_event(_api('{"TransactionID": 2, "card1": 77, "C1": 3e39}'), lambda: scorer)
    assert second["statusCode"] == 400, second
    errors = json.loads(second["body"])["errors"]
    assert any(e["field"] == "card1" and "finite" in e["message"] for e in errors), errors
    sums = _feat_sums(standin, "77")
    assert sums and all(math.isfinite(v) for s in sums for v in s)
    assert standin.engine.execute("MATCH (t:Transaction {id: '2'}) RETURN count(t) AS n") == [
        {"n": 0}
    ]
    # the card is not poisoned: an ordinary transaction on it is scored as before
    third = handle_event(_api('{"TransactionID": 3, "card1": 77, "C1": 1}'), lambda: scorer)
    assert third["statusCode"] == 200


@pytest.mark.parametrize("value", ["3.5e39", "1e300"])
def test_a_value_that_overflows_float32_once_featurized_is_a_400(scorer, standin, value):
    response = handle_event(
        _api(f'{{"TransactionID": 10, "card1": 78, "C1": {value}}}'), lambda: scorer
    )
    assert response["statusCode"] == 400, response
    errors = json.loads(response["body"])["errors"]
    assert any(e["field"] == "C1" and "finite" in e["message"] for e in errors), errors
    assert _feat_sums(standin, "78") == []
    # a direct invoke answers the same
    direct = handle_event({"TransactionID": 10, "card1": 78, "C1": float(value)}, lambda: scorer)
    assert direct["statusCode"] == 400


def test_the_graph_refuses_a_non_finite_feat_sum_or_answer(scorer, standin):
    from vigil.fraud.features import encode_vector
    from vigil.fraud.graph import EntityState

    state = EntityState(column="card1", key="79", feat_sum=None, degree=0)
    with pytest.raises(ValueError, match="not finite"):
        scorer.graph.insert(
            "20", 1, [(state, encode_vector([0.0, math.inf]))], pred_prob=None, flag=None
        )
    with pytest.raises(ValueError, match="not finite"):
        scorer.graph.insert("20", 1, [], pred_prob=math.nan, flag="legit")
    assert _feat_sums(standin, "79") == []


@pytest.mark.parametrize("body", ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000])
def test_a_body_nested_too_deep_is_a_400(body):
    def unused():
        raise AssertionError("the scorer must not be reached")

    response = handle_event(_api(body), unused)
    assert response["statusCode"] == 400
    assert "nested too deeply" in json.loads(response["body"])["errors"][0]["message"]
