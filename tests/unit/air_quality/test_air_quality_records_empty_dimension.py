"""An empty (or blank) dimension value is rejected as ``empty <dimension>`` on the Arrow fast path
just as on the pandas path: the fast path must hand such a batch over, never key a series by an
empty value — with one dimension or with several (where the joined key is not empty)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.unit.air_quality.helpers import config
from vigil.air_quality.records import _arrow_fast_path, parse_json_lines, validate_frame

GOOD = {"TIMESTAMP": "2022-03-20 00:05", "LOCATION_ID": "B-101", "SENSOR": "s-1", "CO": 3.9}
ONE = ["LOCATION_ID"]
TWO = ["LOCATION_ID", "SENSOR"]


def _lines(*records: dict) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


@pytest.mark.parametrize(
    ("dimensions", "column", "value"),
    [
        (ONE, "LOCATION_ID", ""),
        (ONE, "LOCATION_ID", "   "),
        (TWO, "LOCATION_ID", ""),
        (TWO, "SENSOR", ""),
        (TWO, "SENSOR", " \t"),
    ],
)
def test_an_empty_dimension_is_rejected_on_the_fast_path_like_the_slow_path(
    dimensions, column, value
):
    cfg = config(interval_minutes=5, dimensions=dimensions, measures=[{"name": "CO"}])
    bad = dict(GOOD, **{column: value})
    data = _lines(GOOD, bad, dict(GOOD, CO=4.1))
    assert _arrow_fast_path(data, cfg) is None, "the fast path keyed a series by an empty value"
    batch = parse_json_lines(data, cfg)
    assert (len(batch), batch.received) == (2, 3)
    assert [r.reason for r in batch.rejects] == [f"empty {column}"]
    assert json.loads(batch.rejects[0].record) == bad
    assert "" not in [part for key in batch.dim_keys for part in key.split("\x1f")]
    slow = validate_frame(pd.DataFrame([GOOD, bad, dict(GOOD, CO=4.1)]), cfg)
    assert [r.reason for r in slow.rejects] == [f"empty {column}"]


@pytest.mark.parametrize("dimensions", [ONE, TWO])
def test_clean_dimensions_still_take_the_fast_path(dimensions):
    cfg = config(interval_minutes=5, dimensions=dimensions, measures=[{"name": "CO"}])
    fast = _arrow_fast_path(_lines(GOOD, dict(GOOD, LOCATION_ID="B-102")), cfg)
    assert fast is not None and len(fast) == 2
    assert fast.dim_keys[0] == "\x1f".join(GOOD[d] for d in dimensions)
