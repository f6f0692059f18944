"""Schema helpers and the pure-Python featurizer."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.fraud import schema
from vigil.fraud.features import (
    CategoricalFeature,
    Featurizer,
    FeaturizerSpec,
    NumericFeature,
    add_vectors,
    decode_vector,
    encode_vector,
    to_float32,
)


def test_ieee_cis_column_lists_match_kaggle():
    assert len(schema.TRANSACTION_COLUMNS) == 394
    assert len(schema.IDENTITY_COLUMNS) == 41
    assert schema.TRANSACTION_COLUMNS[:5] == [
        "TransactionID",
        "isFraud",
        "TransactionDT",
        "TransactionAmt",
        "ProductCD",
    ]
    assert schema.IDENTITY_COLUMNS[-2:] == ["DeviceType", "DeviceInfo"]
    assert schema.normalize_identity_column("id-07") == "id_07"


@pytest.mark.parametrize(
    ("raw", "key"),
    [("315.0", "315"), (315, "315"), (315.0, "315"), (" gmail.com ", "gmail.com"), ("", None),
     ("NaN", None), (float("nan"), None), (None, None), ("12.5", "12.5"), ("T", "T")],
)  # fmt: skip
def test_canonical_key(raw, key):
    assert schema.canonical_key(raw) == key


def test_parse_columns_ranges_and_defaults():
    assert schema.parse_columns("card1-card3,V1-V2", []) == ["card1", "card2", "card3", "V1", "V2"]
    assert schema.parse_columns("id_01-id_03", []) == ["id_01", "id_02", "id_03"]
    assert schema.parse_columns(None, ["a"]) == ["a"]
    assert schema.parse_columns("none", ["a"]) == []


def test_graph_schema_names():
    assert schema.entity_label("P_emaildomain") == "PEmaildomain"
    assert schema.entity_label("card1") == "Card1"
    assert schema.edge_type("P_emaildomain") == "USES_P_EMAILDOMAIN"
    assert schema.entity_node_id("card1", "13926") == "card1-13926"
    assert schema.transaction_node_id("2987000.0") == "t-2987000"
    labels = set(schema.DEFAULT_ENTITY_LABELS.values())
    assert len(labels) == len(schema.DEFAULT_ENTITY_COLUMNS)  # one distinct label per type


def _spec():
    return FeaturizerSpec(
        numeric=[
            NumericFeature("TransactionAmt", mean=3.0, std=2.0, log=True),
            NumericFeature("C1", mean=1.0, std=0.0),
        ],
        categorical=[
            CategoricalFeature("ProductCD", ["W", "C"]),
            CategoricalFeature("card2", ["321"]),
        ],
        entity_columns=["card1"],
    )


def test_featurizer_arithmetic():
    featurizer = Featurizer(_spec())
    vector = featurizer.transform(
        {"TransactionAmt": "100", "C1": 3, "ProductCD": "C", "card2": 321.0}
    )
    assert vector[0] == to_float32((math.log1p(100) - 3.0) / 2.0)
    assert vector[1] == 2.0  # std 0 → 1
    assert vector[2:] == [0.0, 1.0, 1.0]
    missing = featurizer.transform({"TransactionAmt": "", "ProductCD": "H"})
    assert missing == [0.0, 0.0, 0.0, 0.0, 0.0]  # missing numeric → mean, unseen category → zeros
    assert featurizer.dim == 5 == len(_spec().feature_names)


def test_spec_json_round_trip_and_dim_check():
    spec = _spec()
    again = FeaturizerSpec.from_json(spec.to_json())
    assert again == spec
    data = spec.to_dict()
    data["dim"] = 99
    with pytest.raises(ValueError, match="dim=99"):
        FeaturizerSpec.from_dict(data)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e30, 1e30, allow_nan=False, allow_subnormal=True),
            st.floats(-1e30, 1e30, allow_nan=False, allow_subnormal=True),
        ),
        max_size=70,
    )
)
def test_vector_addition_rounds_each_sum_to_float32_like_to_float32(pairs):
    total, values = [a for a, _ in pairs], [b for _, b in pairs]
    assert add_vectors(total, values) == [to_float32(a + b) for a, b in pairs]


def test_vector_encoding_round_trip():
    values = [0.5, -1.25, 3.0e-8, 1234.5]
    text = encode_vector(values)
    assert decode_vector(text, 4) == [to_float32(v) for v in values]
    assert add_vectors(values, values) == [to_float32(2 * v) for v in values]
    with pytest.raises(ValueError, match="expected 3"):
        decode_vector(text, 3)
    with pytest.raises(ValueError):
        decode_vector("not base64!!")
