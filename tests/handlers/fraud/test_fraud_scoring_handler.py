"""The scoring Lambda handler (Powertools) end to end on local stand-ins, without a model:
idempotency on TransactionID through the Powertools DynamoDB record (moto server) and the graph.

A transaction that already has an answer in the graph is a replay: the handler answers it
without calling the endpoint (here, the runtime proxy has no model behind it, so any endpoint
call would fall back). Scoring with a model is tested in tests/integration/fraud/.
"""

from __future__ import annotations

import json

import pytest

from tests.handlers.fraud.conftest import serve_standin
from vigil import aws
from vigil.fraud.features import CategoricalFeature, FeaturizerSpec, NumericFeature

SPEC = FeaturizerSpec(
    numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
    categorical=[CategoricalFeature("ProductCD", ["W", "C"])],
    entity_columns=["card1", "ProductCD"],
)
TABLE = "vigil-fraud-idempotency"


@pytest.fixture(scope="module")
def standin():
    server = serve_standin(SPEC.entity_columns)
    server.engine.execute(
        "CREATE (t:Transaction {id: '555', TransactionDT: 1, isFraud: -1, pred_prob: 0.875, "
        "flag: 'fraud'})"
    )
    yield server
    server.stop()


@pytest.fixture
def handler_module(moto_server, standin, proxy, monkeypatch, tmp_path):
    spec = tmp_path / "featurizer.json"
    spec.write_text(SPEC.to_json())
    monkeypatch.setenv("GRAPH_ENDPOINT", standin.endpoint_url)
    monkeypatch.setenv("SCORING_ENDPOINT_NAME", "vigil-fraud-rgcn")
    monkeypatch.setenv("FEATURIZER_SPEC", str(spec))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", proxy.endpoint_url)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", TABLE)
    monkeypatch.setenv("MAX_ATTEMPTS", "1")
    aws.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    from lambdas.fraud.score_transaction import handler

    handler.scorer.cache_clear()
    yield handler
    handler.scorer.cache_clear()


def _event(body: dict) -> dict:
    return {
        "resource": "/transactions",
        "path": "/transactions",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": "r-1", "stage": "v1"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def test_a_replay_returns_the_first_answer_from_the_idempotency_record(
    handler_module, standin, lambda_context
):
    event = _event({"TransactionID": 555, "TransactionAmt": 10.0, "card1": 9})
    first = handler_module.handler(event, lambda_context)
    assert first["statusCode"] == 200
    assert json.loads(first["body"]) == {"id": "555", "flag": "fraud", "pred_prob": 0.875}
    items = aws.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert len(items) == 1 and items[0]["status"]["S"] == "COMPLETED"
    # the graph is now unreachable: the record alone answers the replay, identically
    standin.httpd.faults.arm({"status": 500, "count": 5})
    try:
        again = handler_module.handler(event, lambda_context)
    finally:
        standin.httpd.faults.reset()
    assert json.loads(again["body"]) == json.loads(first["body"])
    assert standin.engine.execute("MATCH (t:Transaction) RETURN count(t) AS n") == [{"n": 1}]


def test_fallback_answers_are_not_recorded(handler_module, standin, lambda_context):
    event = _event({"TransactionID": 777, "TransactionAmt": 12.0, "card1": 9, "ProductCD": "W"})
    response = handler_module.handler(event, lambda_context)
    body = json.loads(response["body"])
    assert body["flag"] == "review" and body["pred_prob"] is None  # no model behind the proxy
    assert aws.client("dynamodb").scan(TableName=TABLE)["Items"] == []
    # the transaction was inserted (fresh for the next one), without an answer to replay
    rows = standin.engine.execute(
        "MATCH (t:Transaction {id: '777'})-[r]->() RETURN count(r) AS edges, max(t.pred_prob) AS p"
    )
    assert rows == [{"edges": 2, "p": None}]


def test_bad_input_is_rejected_before_any_record(handler_module, lambda_context):
    response = handler_module.handler(_event({"TransactionID": "x"}), lambda_context)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["errors"][0]["field"] == "TransactionID"
    assert aws.client("dynamodb").scan(TableName=TABLE)["Items"] == []
