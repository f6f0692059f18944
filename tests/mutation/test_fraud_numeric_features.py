"""Raw numeric values → features (``vigil.fraud.features``): what is a number, how it is scaled,
and which column an overflow names."""

from __future__ import annotations

import math

import pytest

from vigil.fraud.features import (
    NonFiniteFeature,
    NumericFeature,
    _finite_float32,
    numeric_value,
    parse_number,
)


@pytest.mark.parametrize("raw", [True, False, "inf", "-inf", float("inf"), "1e400", "nan"])
def test_booleans_and_non_finite_numbers_are_not_numbers(raw):
    assert parse_number(raw) is None


@pytest.mark.parametrize(
    ("raw", "number"), [(" 3.5 ", 3.5), ("-2", -2.0), (7, 7.0), (1e300, 1e300)]
)
def test_finite_numbers_and_numeric_strings_are_numbers(raw, number):
    assert parse_number(raw) == number


@pytest.mark.parametrize(
    ("std", "expected"),
    [
        (0.5, (3.0 - 1.0) / 0.5),  # a spread below 1 still scales
        (4.0, (3.0 - 1.0) / 4.0),
        (0.0, 3.0 - 1.0),  # no spread: centred only
        (-2.0, 3.0 - 1.0),  # a broken spec's negative spread is not used
        (math.inf, 3.0 - 1.0),
        (math.nan, 3.0 - 1.0),
    ],
)
def test_a_value_is_centred_and_scaled_by_a_usable_spread_only(std, expected):
    feature = NumericFeature(column="C1", mean=1.0, std=std)
    assert numeric_value(feature, "3") == pytest.approx(expected)


@pytest.mark.parametrize("value", [1e39, math.inf, -math.inf])  # beyond float32, or infinite
def test_an_overflow_names_its_column(value):
    with pytest.raises(NonFiniteFeature) as overflow:
        _finite_float32("TransactionAmt", value)
    assert overflow.value.column == "TransactionAmt"
    assert str(overflow.value) == "TransactionAmt is not finite once featurized (float32)"
