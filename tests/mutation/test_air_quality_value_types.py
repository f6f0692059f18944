"""Which raw JSON values count as numbers and which NaNs were sent (``vigil.air_quality.records``):
the per-column masks record validation builds on, for each column type pandas may infer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vigil.air_quality.records import _float_nan, _is_number_column


def _same(actual: np.ndarray, expected: list[bool]) -> None:
    assert isinstance(actual, np.ndarray) and actual.dtype == bool
    assert actual.tolist() == expected


def test_a_column_of_booleans_holds_no_numbers():
    _same(_is_number_column(pd.Series([True, False, True])), [False, False, False])


def test_a_numeric_column_is_all_numbers():
    _same(_is_number_column(pd.Series([1, 2, 3])), [True, True, True])
    _same(_is_number_column(pd.Series([1.5, math.nan])), [True, True])


def test_a_mixed_column_marks_each_value():
    column = pd.Series([1, 2.5, "3", True, None, np.float64(4.0)], dtype=object)
    _same(_is_number_column(column), [True, True, False, False, False, True])


def test_empty_columns_give_empty_masks():
    _same(_is_number_column(pd.Series([], dtype=bool)), [])
    _same(_float_nan(pd.Series([], dtype=object)), [])


def test_a_float_column_cannot_tell_a_sent_nan_from_a_missing_value():
    _same(_float_nan(pd.Series([1.0, math.nan])), [False, False])


def test_an_object_column_marks_the_nans_that_were_sent():
    column = pd.Series([math.nan, None, 1.0, "NaN", 2], dtype=object)
    _same(_float_nan(column), [True, False, False, False, False])
