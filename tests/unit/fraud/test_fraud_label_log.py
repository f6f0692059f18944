"""The label log's layout and the rule that turns it into training labels (vigil/fraud/label_log.py),
and the label API's request contract (vigil/fraud/labels.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vigil.fraud import label_log
from vigil.fraud.labels import LabelRequest, label_request_json_schema, parse_transaction_id


def test_keys_sort_by_version_and_name_it_back():
    keys = [label_log.object_key(42, v) for v in (10, 2, 1)]
    assert sorted(keys) == [
        "labels/log/42/00000001.json",
        "labels/log/42/00000002.json",
        "labels/log/42/00000010.json",
    ]
    assert [label_log.version_of_key(k) for k in sorted(keys)] == [1, 2, 10]
    assert label_log.version_of_key("labels/log/42/notes.txt") is None
    assert label_log.version_of_key("labels/log/42/00000003.json.tmp") is None


def test_the_highest_version_wins_whatever_the_order():
    records = [
        {"TransactionID": 7, "isFraud": 1, "version": 1},
        {"TransactionID": 7, "isFraud": 0, "version": 3},
        {"TransactionID": 7, "isFraud": 1, "version": 2},
        {"TransactionID": 8, "isFraud": 1, "version": 1},
    ]
    latest = label_log.latest_labels(records)
    assert {t: r["isFraud"] for t, r in latest.items()} == {7: 0, 8: 1}
    assert label_log.latest_labels(reversed(records))[7]["version"] == 3


def test_a_record_says_what_it_replaced():
    record = label_log.label_record(
        transaction_id="5",
        label="legit",
        source="analyst",
        version=2,
        labelled_at="2026-12-03T10:00:00.000+00:00",
        previous_label="fraud",
        previous_source="chargeback",
        override=True,
        request_id="r",
    )
    assert record["TransactionID"] == 5 and record["isFraud"] == 0
    assert (record["previous_label"], record["previous_source"]) == ("fraud", "chargeback")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("123", "123"), ("000123", "123"), ("0", "0"), (str(2**53 - 1), str(2**53 - 1)),
     (str(2**53), None), ("-1", None), ("1.0", None), ("", None), ("1e3", None), (None, None),
     ("12345678901234567", None)],
)  # fmt: skip
def test_the_path_id_is_a_transaction_id(raw, expected):
    assert parse_transaction_id(raw) == expected


def test_the_request_model_and_the_gateway_schema_agree_on_the_fields():
    schema = label_request_json_schema()
    assert set(schema["properties"]) == set(LabelRequest.model_fields)
    assert schema["required"] == [
        name for name, field in LabelRequest.model_fields.items() if field.is_required()
    ]
    assert schema["properties"]["source"]["pattern"] == (
        LabelRequest.model_fields["source"].metadata[0].pattern
    )
    with pytest.raises(ValidationError):
        LabelRequest.model_validate({"label": "fraud", "source": "analyst", "override": 1})
    assert LabelRequest.model_validate({"label": "legit", "source": "chargeback"}).override is False
