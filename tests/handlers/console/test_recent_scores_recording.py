"""The scoring handler records each answered transaction for the console, and a write that
fails (no such table) is logged and counted without changing the answer."""

from __future__ import annotations

import json

import pytest

from local.console.stores import create_recent_scores_table
from tests.handlers.fraud.conftest import proxy, serve_standin  # noqa: F401 (fixture)
from vigil import aws
from vigil.fraud import recent_scores
from vigil.fraud.features import CategoricalFeature, FeaturizerSpec, NumericFeature

SPEC = FeaturizerSpec(
    numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
    categorical=[CategoricalFeature("ProductCD", ["W", "C"])],
    entity_columns=["card1", "ProductCD"],
)


@pytest.fixture(scope="module")
def standin():
    server = serve_standin(SPEC.entity_columns)
    yield server
    server.stop()


@pytest.fixture
def handler_module(moto_server, standin, proxy, monkeypatch, tmp_path):  # noqa: F811
    spec = tmp_path / "featurizer.json"
    spec.write_text(SPEC.to_json())
    monkeypatch.setenv("GRAPH_ENDPOINT", standin.endpoint_url)
    monkeypatch.setenv("SCORING_ENDPOINT_NAME", "vigil-fraud-rgcn")
    monkeypatch.setenv("FEATURIZER_SPEC", str(spec))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", proxy.endpoint_url)
    monkeypatch.setenv("MAX_ATTEMPTS", "1")
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


def _recorded(table: str) -> list[dict]:
    items = aws.client("dynamodb").scan(TableName=table)["Items"]
    return [recent_scores.item_to_record(item) for item in items]


def test_each_answer_is_recorded_with_its_summary_and_latency(
    handler_module, monkeypatch, lambda_context
):
    table = create_recent_scores_table("vigil-recent-it")
    monkeypatch.setenv("RECENT_SCORES_TABLE", table)
    event = {"TransactionID": 4242, "TransactionAmt": 12.5, "ProductCD": "W", "card1": 9}
    answer = handler_module.handler(_event(event), lambda_context)
    assert answer["statusCode"] == 200
    body = json.loads(answer["body"])
    (record,) = _recorded(table)
    assert record["id"] == "4242" and record["flag"] == body["flag"]
    assert record["fallback"] == body.get("fallback")  # no model here: the review fallback
    assert record["transaction"] == {"TransactionAmt": 12.5, "ProductCD": "W", "card1": 9}
    assert record["latency_ms"] > 0


def test_a_failed_write_does_not_change_the_answer(
    handler_module, monkeypatch, lambda_context, capsys, caplog
):
    monkeypatch.setenv("RECENT_SCORES_TABLE", "no-such-table")
    answer = handler_module.handler(_event({"TransactionID": 4343, "card1": 1}), lambda_context)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["id"] == "4343"
    assert "recent score not recorded" in caplog.text
    assert '"RecentScoreNotRecorded"' in capsys.readouterr().out  # the metrics (EMF) line
