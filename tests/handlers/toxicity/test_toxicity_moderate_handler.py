"""The moderation handler under mock_aws: the endpoint's answers are queued in moto's
SageMaker runtime in the exact format the inference entry points produce
(``vigil.toxicity.serving.build_response``)."""

from __future__ import annotations

import copy
import json

import pytest
import requests
from moto import mock_aws

from tests.conftest import EVENTS
from vigil.toxicity.labels import JIGSAW_LABELS
from vigil.toxicity.serving import build_response

THRESHOLDS = [0.5, 0.3, 0.5, 0.2, 0.4, 0.3]


@pytest.fixture
def event() -> dict:
    return json.loads((EVENTS / "toxicity_moderate.json").read_text())


@pytest.fixture
def handler(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "vigil-toxicity")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "vigil-toxicity-moderation")
    with mock_aws():
        from lambdas.toxicity.moderate import handler as module

        yield module.handler


def queue_endpoint_answer(body: str) -> None:
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": body, "ContentType": "application/json"}]},
        timeout=5,
    )


def emitted_metrics(output: str) -> dict[str, float]:
    found = {}
    for line in output.splitlines():
        if '"_aws"' in line:
            record = json.loads(line)
            for definition in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = record[definition["Name"]]
                found[definition["Name"]] = sum(value) if isinstance(value, list) else value
    return found


def test_flags_come_from_the_endpoint_thresholds(handler, event, lambda_context, capsys):
    probs = [[0.97, 0.35, 0.9, 0.01, 0.8, 0.05], [0.02, 0.0, 0.01, 0.0, 0.01, 0.0]]
    queue_endpoint_answer(json.dumps(build_response(probs, list(JIGSAW_LABELS), THRESHOLDS)))
    response = handler(event, lambda_context)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    first, second = body["results"]
    assert first["flagged"] and first["categories"] == [
        "toxic",
        "severe_toxic",
        "obscene",
        "insult",
    ]
    assert first["scores"]["toxic"] == pytest.approx(0.97)
    assert not second["flagged"] and second["categories"] == []
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["MessagesReceived"] == 2 and metrics["MessagesFlagged"] == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"messages": []}', "messages: List should have at least 1 item"),
        ('{"messages": ["ok", ""]}', "messages.1: String should have at least 1 character"),
        ('{"messages": ["ok"], "extra": 1}', "extra: Extra inputs are not permitted"),
        ('{"text": "hi"}', "messages: Field required"),
        ("not json", "Invalid JSON"),
        (json.dumps({"messages": ["a"] * 33}), "at most 32 items"),
        (None, "the body is empty"),
    ],
)
def test_bad_requests_are_400_with_the_reason(handler, event, lambda_context, capsys, body, reason):
    event = copy.deepcopy(event)
    event["body"] = body
    response = handler(event, lambda_context)
    assert response["statusCode"] == 400
    answer = json.loads(response["body"])
    assert answer["error"] == "InvalidRequest" and reason in answer["reason"]
    assert emitted_metrics(capsys.readouterr().out)["InvalidRequest"] == 1


def test_an_endpoint_answer_that_is_not_the_contract_is_a_502(handler, event, lambda_context):
    queue_endpoint_answer(json.dumps({"results": [{"flags": {}}]}))  # one result for two messages
    response = handler(event, lambda_context)
    assert response["statusCode"] == 502
    assert "1 results for 2 messages" in json.loads(response["body"])["reason"]


def test_a_non_json_endpoint_answer_is_a_502(handler, event, lambda_context):
    queue_endpoint_answer("<html>oops</html>")
    response = handler(event, lambda_context)
    assert response["statusCode"] == 502
    assert json.loads(response["body"])["error"] == "EndpointError"


def test_an_event_that_is_not_from_api_gateway_is_rejected(handler, lambda_context):
    response = handler({"Records": []}, lambda_context)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["reason"] == "not an API request"


def test_a_base64_encoded_body_is_decoded(handler, event, lambda_context):
    import base64

    probs = [[0.97, 0.35, 0.9, 0.01, 0.8, 0.05], [0.02, 0.0, 0.01, 0.0, 0.01, 0.0]]
    queue_endpoint_answer(json.dumps(build_response(probs, list(JIGSAW_LABELS), THRESHOLDS)))
    encoded = copy.deepcopy(event)
    encoded["body"] = base64.b64encode(event["body"].encode()).decode()
    encoded["isBase64Encoded"] = True
    response = handler(encoded, lambda_context)
    assert response["statusCode"] == 200
    assert len(json.loads(response["body"])["results"]) == 2
    encoded["body"] = "not base64 !"
    response = handler(encoded, lambda_context)
    assert response["statusCode"] == 400
    assert "base64" in json.loads(response["body"])["reason"]


def test_a_body_nested_too_deeply_is_a_400(handler, event, lambda_context):
    event = copy.deepcopy(event)
    event["body"] = '{"messages": ' + "[" * 5000 + "]" * 5000 + "}"
    response = handler(event, lambda_context)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "InvalidRequest"


def test_the_endpoint_error_text_is_logged_not_answered(
    handler, event, lambda_context, monkeypatch, caplog
):
    from botocore.exceptions import ClientError

    import vigil.aws

    secret = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/vigil-toxicity"

    class Failing:
        def invoke_endpoint(self, **kwargs):
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": f"Endpoint {secret} not found"}},
                "InvokeEndpoint",
            )

    def failing_client(*args, **kwargs):
        return Failing()

    failing_client.cache_clear = vigil.aws.client.cache_clear  # the suite's teardown calls it
    monkeypatch.setattr(vigil.aws, "client", failing_client)
    response = handler(event, lambda_context)
    assert response["statusCode"] == 502
    assert "123456789012" not in response["body"]
    assert json.loads(response["body"])["error"] == "EndpointError"
    details = [getattr(record, "detail", "") for record in caplog.records]
    assert any(secret in detail for detail in details)  # the operator still sees why


@pytest.mark.parametrize(
    "answer",
    [
        # a NaN (or an overflowing number) from the endpoint must not become invalid JSON
        '{"results": [{"flags": {"toxic": true}, "probabilities": {"toxic": NaN}},'
        ' {"flags": {}, "probabilities": {"toxic": 1e400}}], "labels": ["toxic"]}',
        json.dumps({"results": ["toxic", 1], "labels": []}),
        json.dumps({"results": [{"flags": ["toxic"]}, {"flags": {}}]}),
        json.dumps({"results": [{"flags": {}, "probabilities": [0.5]}, {"flags": {}}]}),
        json.dumps([1, 2]),
        "[" * 5000 + "]" * 5000,
    ],
)
def test_an_endpoint_answer_outside_the_contract_is_a_502(handler, event, lambda_context, answer):
    queue_endpoint_answer(answer)
    response = handler(event, lambda_context)
    assert response["statusCode"] == 502, response
    body = json.loads(response["body"])  # strict JSON: no NaN or Infinity
    assert body["error"] == "EndpointError"
    assert "NaN" not in response["body"] and "Infinity" not in response["body"]
