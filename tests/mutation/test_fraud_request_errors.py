"""The scoring API's 400 bodies name the problem in words a caller can act on."""

from __future__ import annotations

import pytest

from vigil.fraud.scoring.event import InvalidTransaction, parse_transaction


@pytest.mark.parametrize("payload", [[1, 2], "text", 3, None])
def test_a_body_that_is_not_an_object_says_what_to_send(payload):
    with pytest.raises(InvalidTransaction) as refused:
        parse_transaction(payload)
    assert refused.value.errors == [
        {"field": "body", "message": "must be a JSON object of IEEE-CIS columns"}
    ]


def test_an_unknown_field_is_named_as_unknown():
    with pytest.raises(InvalidTransaction) as refused:
        parse_transaction({"TransactionID": 1, "isFraud": 1})
    assert refused.value.errors == [{"field": "isFraud", "message": "unknown field"}]
