"""The moderation Lambda's per-message limit: ``MAX_MESSAGE_CHARS`` (5,000) characters pass
validation and reach the endpoint; one more is a 400 naming the message, before any endpoint
call. Runs the real handler under mock_aws (as test_toxicity_moderate_handler.py does)."""

from __future__ import annotations

import copy
import json

import pytest
import requests
from moto import mock_aws

from tests.conftest import EVENTS
from vigil.toxicity.contract import MAX_MESSAGE_CHARS
from vigil.toxicity.labels import JIGSAW_LABELS
from vigil.toxicity.moderation import ModerationError, parse_request
from vigil.toxicity.serving import build_response

THRESHOLDS = [0.5, 0.3, 0.5, 0.2, 0.4, 0.3]


@pytest.fixture
def handler(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "vigil-toxicity")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "vigil-toxicity-moderation")
    with mock_aws():
        from lambdas.toxicity.moderate import handler as module

        yield module.handler


def _event(messages: list[str]) -> dict:
    event = copy.deepcopy(json.loads((EVENTS / "toxicity_moderate.json").read_text()))
    event["body"] = json.dumps({"messages": messages})
    return event


def _queue_endpoint_answer(messages: int) -> None:
    probs = [[0.01] * len(JIGSAW_LABELS)] * messages
    body = json.dumps(build_response(probs, list(JIGSAW_LABELS), THRESHOLDS))
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": body, "ContentType": "application/json"}]},
        timeout=5,
    )


def test_the_limit_is_five_thousand_characters():
    assert MAX_MESSAGE_CHARS == 5_000


def test_a_message_one_character_over_the_limit_answers_400(handler, lambda_context):
    too_long = "a" * (MAX_MESSAGE_CHARS + 1)
    response = handler(_event(["fine", too_long]), lambda_context)
    assert response["statusCode"] == 400
    answer = json.loads(response["body"])
    assert answer["error"] == "InvalidRequest"
    assert "messages.1: String should have at most 5000 characters" in answer["reason"]


def test_a_message_at_the_limit_passes_validation_and_is_classified(handler, lambda_context):
    _queue_endpoint_answer(2)
    at_limit = "b" * MAX_MESSAGE_CHARS
    response = handler(_event(["fine", at_limit]), lambda_context)
    assert response["statusCode"] == 200, response["body"]
    results = json.loads(response["body"])["results"]
    assert [r["index"] for r in results] == [0, 1]


def test_parse_request_holds_the_same_boundary():
    assert parse_request(json.dumps({"messages": ["c" * 5_000]})).messages == ["c" * 5_000]
    with pytest.raises(ModerationError) as raised:
        parse_request(json.dumps({"messages": ["c" * 5_001]}))
    assert raised.value.status == 400
    assert "at most 5000 characters" in raised.value.reason
