"""A transaction's detail from the read API: its scored record from the recent-scores table and,
from the fraud graph (the Neptune stand-in), each entity's degree and known fraud count."""

from __future__ import annotations

import json

import pytest

from local.console.stores import create_recent_scores_table
from tests.handlers.fraud.conftest import serve_standin
from vigil import aws
from vigil.console.contract import ConsoleSettings
from vigil.console.read_api import graph_from_settings, handle_event
from vigil.fraud import recent_scores
from vigil.fraud.features import encode_vector
from vigil.fraud.graph import store_label

COLUMNS = ["card1", "ProductCD"]
TABLE = "vigil-console-detail"


def _detail(transaction_id: str, settings: ConsoleSettings) -> tuple[int, dict]:
    event = {"httpMethod": "GET", "path": f"/fraud/transactions/{transaction_id}"}
    answer = handle_event(
        event, settings, aws.client("dynamodb"), graph=graph_from_settings(settings)
    )
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def graph_and_scores(moto_server):
    """Four transactions in the graph: three on card 7 (one labelled fraud), one on card 8, all
    product W; each recorded as scored."""
    standin = serve_standin(COLUMNS)
    settings = ConsoleSettings(
        recent_scores_table=create_recent_scores_table(TABLE),
        graph_endpoint=standin.endpoint_url,
        graph_entity_columns=",".join(COLUMNS),
        hub_degree_threshold=4,
    )
    graph = graph_from_settings(settings)
    ddb = aws.client("dynamodb")
    for transaction_id, card in (("1", 7), ("2", 7), ("3", 7), ("4", 8)):
        row = {"TransactionID": int(transaction_id), "card1": card, "ProductCD": "W"}
        keys = graph.entity_keys(row)
        read = graph.read(transaction_id, keys)
        updates = [(state, encode_vector([1.0])) for state in read.entities]
        assert graph.insert(transaction_id, 0, updates, pred_prob=0.1, flag="legit")
        answer = {"id": transaction_id, "flag": "legit", "pred_prob": 0.1}
        ddb.put_item(TableName=TABLE, Item=recent_scores.score_item(row, answer, 5.0))
    assert store_label(
        graph, "2", is_fraud=1, source="chargeback", version=1, seen_version=0, labelled_at="now"
    )
    yield settings
    standin.stop()


def test_each_entity_has_its_degree_and_known_fraud_count(graph_and_scores):
    status, body = _detail("3", graph_and_scores)
    assert status == 200, body
    card, product = body["entity_state"]["card1"], body["entity_state"]["ProductCD"]
    assert card == {"key": "7", "in_graph": True, "degree": 3, "known_fraud": 1}
    # product W links all four: at the hub threshold its transactions are not scanned
    assert product["degree"] == 4 and product["known_fraud"] is None and product["hub"]
    status, other = _detail("4", graph_and_scores)
    assert other["entity_state"]["card1"] == {
        "key": "8",
        "in_graph": True,
        "degree": 1,
        "known_fraud": 0,
    }


def test_without_a_graph_the_detail_says_so(graph_and_scores):
    settings = graph_and_scores.model_copy(update={"graph_endpoint": None})
    status, body = _detail("3", settings)
    assert status == 200 and body["entity_state"] is None
    assert "no connection to the fraud graph" in body["entity_state_note"]


def test_a_graph_that_does_not_answer_leaves_the_scored_record(graph_and_scores):
    from local.standins.loopback_process import free_port

    settings = graph_and_scores.model_copy(
        update={"graph_endpoint": f"http://127.0.0.1:{free_port()}"}
    )
    status, body = _detail("3", settings)
    assert status == 200 and body["id"] == "3" and body["entity_state"] is None
    assert body["entity_state_note"].startswith("the fraud graph did not answer")
