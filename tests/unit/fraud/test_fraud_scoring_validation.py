"""Event validation of the scoring API: bad input → 400 naming the field, before any I/O."""

from __future__ import annotations

import base64
import json

import pytest

from vigil.fraud import scoring
from vigil.fraud.scoring import (
    InvalidTransaction,
    handle_event,
    parse_transaction,
    request_json_schema,
)

VALID = {
    "TransactionID": 3_100_001,
    "TransactionDT": 90_000,
    "TransactionAmt": 49.5,
    "ProductCD": "W",
    "card1": 1234,
    "card4": "visa",
    "P_emaildomain": "gmail.com",
    "DeviceInfo": "Windows",
    "C1": 1.0,
    "M4": "M0",
}


def _never_called():
    raise AssertionError("invalid input must not reach the scorer (nothing may be written)")


def _api_event(body, *, b64: bool = False) -> dict:
    text = body if isinstance(body, str) else json.dumps(body)
    if b64:
        text = base64.b64encode(text.encode()).decode()
    return {
        "resource": "/transactions",
        "path": "/transactions",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": "r-1", "stage": "v1"},
        "body": text,
        "isBase64Encoded": b64,
    }


def test_a_valid_transaction_keeps_its_non_null_fields():
    parsed = parse_transaction({**VALID, "dist2": None})
    assert parsed["TransactionID"] == 3_100_001
    assert "dist2" not in parsed
    assert parsed["card1"] == 1234


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({k: v for k, v in VALID.items() if k != "TransactionID"}, "TransactionID", "required"),
        ({**VALID, "TransactionID": "3100001"}, "TransactionID", "integer"),
        ({**VALID, "TransactionID": -1}, "TransactionID", "greater than or equal"),
        ({**VALID, "TransactionID": True}, "TransactionID", "integer"),
        ({**VALID, "TransactionAmt": "49.5"}, "TransactionAmt", "number"),
        ({**VALID, "TransactionAmt": float("nan")}, "TransactionAmt", "finite"),
        ({**VALID, "C1": float("inf")}, "C1", "finite"),
        ({**VALID, "card4": 4}, "card4", "string"),
        ({**VALID, "DeviceInfo": "x" * 300}, "DeviceInfo", "at most 256"),
        ({**VALID, "isFraud": 1}, "isFraud", "unknown field"),
        ({**VALID, "favourite_colour": "red"}, "favourite_colour", "unknown field"),
        ({**VALID, "V1": [1, 2]}, "V1", "number"),
        ([VALID], "body", "JSON object"),
        ("just a string", "body", "JSON object"),
    ],
)
def test_bad_input_names_the_field(payload, field, message):
    with pytest.raises(InvalidTransaction) as raised:
        parse_transaction(payload)
    fields = {e["field"]: e["message"] for e in raised.value.errors}
    assert field in fields, fields
    assert message in fields[field]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (_api_event({**VALID, "TransactionAmt": "NaN"}), "TransactionAmt"),
        (_api_event('{"TransactionID": 1, "TransactionAmt": NaN}'), "TransactionAmt"),
        (_api_event('{"TransactionID": 1,'), "body"),
        (_api_event("x" * (scoring.MAX_BODY_BYTES + 1)), "body"),
        (_api_event({**VALID, "unknown": 1}, b64=True), "unknown"),
        ({**_api_event(VALID), "body": None}, "body"),
        ({**_api_event(VALID), "body": "!!!", "isBase64Encoded": True}, "body"),
    ],
)
def test_api_gateway_events_with_bad_bodies_answer_400(event, field):
    response = handle_event(event, _never_called)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert field in [e["field"] for e in body["errors"]]
    assert response["headers"]["Content-Type"] == "application/json"


def test_direct_invoke_with_bad_input_answers_400_in_the_payload():
    response = handle_event({"TransactionAmt": 3.0}, _never_called)
    assert response["statusCode"] == 400
    assert response["errors"][0]["field"] == "TransactionID"


def test_an_unexpected_scorer_failure_is_a_500_not_a_crash():
    def broken():
        raise RuntimeError("configuration missing")

    response = handle_event(_api_event(VALID), broken)
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "internal error"}


def test_the_api_gateway_model_matches_the_pydantic_model():
    schema = request_json_schema()
    properties = schema["properties"]
    assert schema["required"] == ["TransactionID"] and schema["additionalProperties"] is False
    assert set(properties) == set(scoring.TransactionEvent.model_fields)
    assert properties["card4"]["type"] == ["string", "null"]
    assert properties["TransactionAmt"]["type"] == ["number", "null"]
