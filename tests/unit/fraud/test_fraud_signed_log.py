"""Log columns featurize as ``sign(v)·log1p(|v|)`` (``vigil.fraud.features``' documented
layout): a negative amount (a refund or reversal) keeps its sign and its magnitude's log."""

from __future__ import annotations

import math

import pytest

from vigil.fraud.features import (
    Featurizer,
    FeaturizerSpec,
    NumericFeature,
    numeric_value,
    signed_log1p,
    to_float32,
)

AMOUNT = NumericFeature("TransactionAmt", mean=0.0, std=1.0, log=True)


@pytest.mark.parametrize("magnitude", [0.25, 0.5, 0.999, 1.0, 99.0, 31_937.391])
def test_a_negative_value_is_minus_the_log_of_its_magnitude(magnitude):
    expected = -math.log1p(magnitude)
    assert signed_log1p(-magnitude) == pytest.approx(expected, rel=1e-12)
    assert signed_log1p(-magnitude) == -signed_log1p(magnitude)
    assert numeric_value(AMOUNT, -magnitude) == pytest.approx(expected, rel=1e-12)
    assert numeric_value(AMOUNT, str(-magnitude)) == pytest.approx(expected, rel=1e-12)


def test_the_featurizer_keeps_the_sign_of_a_negative_amount_after_scaling():
    spec = FeaturizerSpec(
        numeric=[NumericFeature("TransactionAmt", mean=3.0, std=2.0, log=True)], categorical=[]
    )
    featurizer = Featurizer(spec)
    (negative,) = featurizer.transform({"TransactionAmt": -49.5})
    (positive,) = featurizer.transform({"TransactionAmt": 49.5})
    assert negative == to_float32((-math.log1p(49.5) - 3.0) / 2.0)
    assert positive == to_float32((math.log1p(49.5) - 3.0) / 2.0)
    assert negative < -3.0 / 2.0 < positive  # below the (scaled) zero, not mirrored onto it


def test_zero_and_minus_zero_featurize_to_zero():
    assert signed_log1p(0.0) == 0.0
    assert signed_log1p(-0.0) == 0.0
