"""Malformed records are rejected with a named reason; nothing is dropped silently."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tests.unit.air_quality.helpers import config
from vigil.air_quality.records import _arrow_fast_path, parse_json_lines, validate_frame

GOOD = {"TIMESTAMP": "2022-03-20 00:05", "LOCATION_ID": "B-101", "CO": 3.9, "NO2": 73}


def test_clean_lines_take_the_fast_path_and_match_the_pandas_path():
    cfg = config(interval_minutes=5)
    lines = [dict(GOOD, CO=1.5 + i, LOCATION_ID=f"B-{i % 3}") for i in range(10)]
    lines[4]["NO2"] = -200  # sentinel: a missing value, not an error
    data = "\n".join(json.dumps(r) for r in lines).encode()
    fast = _arrow_fast_path(data, cfg)
    assert fast is not None
    slow = validate_frame(pd.DataFrame(lines), cfg)
    assert (fast.minutes == slow.minutes).all()
    assert list(fast.dim_keys) == list(slow.dim_keys)
    np.testing.assert_array_equal(fast.values, slow.values)
    assert fast.sentinels == slow.sentinels == 1
    assert np.isnan(fast.values[4, 1])


def test_every_kind_of_malformed_record_is_rejected_with_its_reason():
    cfg = config(interval_minutes=5)
    lines = [
        json.dumps(GOOD),
        "{not json",
        "[1, 2, 3]",
        json.dumps({k: v for k, v in GOOD.items() if k != "LOCATION_ID"}),
        json.dumps({k: v for k, v in GOOD.items() if k != "CO"}),
        json.dumps(dict(GOOD, CO="3.9")),
        json.dumps(dict(GOOD, CO=True)),
        json.dumps(dict(GOOD, CO=None)),
        '{"TIMESTAMP":"2022-03-20 00:05","LOCATION_ID":"B-101","CO":NaN,"NO2":73}',
        '{"TIMESTAMP":"2022-03-20 00:05","LOCATION_ID":"B-101","CO":Infinity,"NO2":73}',
        json.dumps(dict(GOOD, TIMESTAMP="20/03/2022 00:05")),
        json.dumps(dict(GOOD, LOCATION_ID="")),
        json.dumps(dict(GOOD, NO2=-200)),  # sentinel: valid
    ]
    batch = parse_json_lines("\n".join(lines) + "\n\n", cfg)
    assert batch.received == len(lines)
    assert len(batch) + len(batch.rejects) == batch.received
    assert len(batch) == 2 and batch.sentinels == 1
    reasons = [r.reason for r in batch.rejects]
    expected = [
        "not valid JSON",
        "not a JSON object",
        "missing field LOCATION_ID",
        "missing field CO",
        "CO must be a number, got str",
        "CO must be a number, got bool",
        "CO is null",
        "CO is not a finite number (nan)",
        "CO is not a finite number (inf)",
        "does not match format",
        "empty LOCATION_ID",
    ]
    assert len(reasons) == len(expected)
    unmatched = list(reasons)
    for fragment in expected:  # each reason names its problem (order: JSON-level first)
        match = next((r for r in unmatched if fragment in r), None)
        assert match is not None, (fragment, unmatched)
        unmatched.remove(match)
    # the original text travels with its reason, so the error prefix can be replayed
    assert batch.rejects[0].record == "{not json"


def test_multiple_timestamp_columns_and_no_dimensions():
    cfg = config(
        dimensions=[], timestamp_column=["Date", "Time"], timestamp_format="%d/%m/%Y %H.%M.%S"
    )
    frame = pd.DataFrame(
        {
            "Date": ["10/03/2004", "10/03/2004"],
            "Time": ["18.00.00", "bad"],
            "CO": [2.6, 2.0],
            "NO2": [1, 2],
        }
    )
    batch = validate_frame(frame, cfg)
    assert len(batch) == 1 and len(batch.rejects) == 1
    assert "Date+Time" in batch.rejects[0].reason
    assert batch.minutes[0] == int(pd.Timestamp("2004-03-10 18:00").value // 60_000_000_000)


def test_a_line_that_is_not_an_object_or_nests_too_deep_is_one_reject():
    """One bad device line is rejected alone; the good lines around it are processed."""
    cfg = config(interval_minutes=5)
    good = [json.dumps(dict(GOOD, LOCATION_ID=f"B-{i}")) for i in range(3)]
    bad_lines = {
        "[1, 2, 3]": "not a JSON object but list",
        "42": "not a JSON object but int",
        "null": "not a JSON object but NoneType",
        '"text"': "not a JSON object but str",
        "[" * 5000 + "]" * 5000: "nested too deeply",
        '{"a":' * 5000 + "1" + "}" * 5000: "nested too deeply",
    }
    for bad, reason in bad_lines.items():
        for position in (0, 1, 3):
            lines = list(good)
            lines.insert(position, bad)
            batch = parse_json_lines("\n".join(lines) + "\n", cfg)
            assert batch.received == 4 and len(batch) == 3, (bad[:12], position)
            assert [r.record for r in batch.rejects] == [bad]
            assert reason in batch.rejects[0].reason, (bad[:12], batch.rejects[0].reason)
