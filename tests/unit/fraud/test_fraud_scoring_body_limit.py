"""The scoring API's 32 KB body limit holds for a body that is otherwise a valid transaction:
valid JSON over ``MAX_BODY_BYTES`` answers 400 on ``body`` before any scoring, and the same
transaction at exactly the limit is scored (so the 400 is the size, not the content)."""

from __future__ import annotations

import json

from vigil.fraud import scoring
from vigil.fraud.scoring import handle_event
from vigil.fraud.scoring.scorer import Answer

VALID = {
    "TransactionID": 3_100_001,
    "TransactionDT": 90_000,
    "TransactionAmt": 49.5,
    "ProductCD": "W",
    "card1": 1234,
}


def _padded(size: int) -> str:
    """The valid transaction as JSON, padded with insignificant whitespace to ``size`` bytes."""
    text = json.dumps(VALID)
    return text[:-1] + " " * (size - len(text)) + "}"


def _api_event(body: str) -> dict:
    return {
        "resource": "/transactions",
        "path": "/transactions",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": "r-1", "stage": "v1"},
        "body": body,
        "isBase64Encoded": False,
    }


class RecordingScorer:
    def __init__(self):
        self.scored = []
        self.config = None  # the handler reads its settings: no recent-scores table here

    def score(self, transaction, metrics=None, context=None):
        self.scored.append(transaction)
        return Answer(id=str(transaction["TransactionID"]), flag="legit", pred_prob=0.01)


def test_the_limit_is_32_kib():
    assert scoring.MAX_BODY_BYTES == 32 * 1024


def test_a_valid_json_body_over_the_limit_answers_400_before_scoring():
    body = _padded(scoring.MAX_BODY_BYTES + 1)
    assert json.loads(body) == VALID  # valid JSON and a valid transaction, only too large
    assert len(body.encode()) == scoring.MAX_BODY_BYTES + 1
    scorer = RecordingScorer()
    response = handle_event(_api_event(body), lambda: scorer)
    assert response["statusCode"] == 400, response["body"]
    errors = json.loads(response["body"])["errors"]
    assert errors == [{"field": "body", "message": f"larger than {scoring.MAX_BODY_BYTES} bytes"}]
    assert scorer.scored == []


def test_the_same_transaction_at_the_limit_is_scored():
    body = _padded(scoring.MAX_BODY_BYTES)
    assert len(body.encode()) == scoring.MAX_BODY_BYTES
    scorer = RecordingScorer()
    response = handle_event(_api_event(body), lambda: scorer)
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["id"] == "3100001"
    assert [t["TransactionID"] for t in scorer.scored] == [3_100_001]
