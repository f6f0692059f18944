"""Data quality per interval: every record counted once, in its own interval, by outcome and by
the bounded reason code of its rejection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np

from tests.unit.air_quality.helpers import config
from vigil.air_quality.contract import (
    BAD_DIMENSION,
    BAD_MEASURE,
    BAD_TIMESTAMP,
    LATE,
    MISSING_FIELD,
    NOT_JSON,
    REJECT_REASONS,
)
from vigil.air_quality.data_quality import IntakeCounter, ingest_counted
from vigil.air_quality.engine import Detector
from vigil.air_quality.records import parse_json_lines


def _line(hour: int, place: str = "B-101", **values) -> str:
    record = {"TIMESTAMP": f"2026-01-19 {hour:02d}:10", "LOCATION_ID": place, "CO": 2.0, "NO2": 70}
    record.update(values)
    return json.dumps(record)


BAD = [
    "{broken",  # no readable time
    "[1, 2]",
    _line(1, CO="high"),
    _line(1, CO=None),
    json.dumps({"TIMESTAMP": "2026-01-19 02:10", "CO": 1.0, "NO2": 5}),  # no LOCATION_ID
    _line(2, LOCATION_ID=" "),
    json.dumps({"TIMESTAMP": "yesterday", "LOCATION_ID": "B-101", "CO": 1.0, "NO2": 5}),
]


def test_every_reject_gets_one_code_from_the_bounded_list_and_its_time_when_readable():
    batch = parse_json_lines("\n".join([_line(0), *BAD]), config())
    assert batch.received == 8 and len(batch) == 1
    got = [(r.code, r.minute is not None) for r in batch.rejects]
    assert sorted(got) == sorted(
        [
            (NOT_JSON, False),
            (NOT_JSON, False),
            (BAD_MEASURE, True),
            (MISSING_FIELD, True),  # null measure in an object column: a missing field
            (MISSING_FIELD, True),  # the time is read even though the record was refused early
            (BAD_DIMENSION, True),
            (BAD_TIMESTAMP, False),
        ]
    ), got
    assert all(r.code in REJECT_REASONS for r in batch.rejects)
    one = next(r for r in batch.rejects if r.code == BAD_MEASURE)
    assert datetime.fromtimestamp(one.minute * 60, UTC).strftime("%H:%M") == "01:10"
    assert json.loads(one.to_json())["code"] == BAD_MEASURE


def test_counts_per_interval_add_up_and_undated_rejects_join_the_latest_interval():
    cfg = config(interval_minutes=60)
    detector = Detector(cfg)
    first = parse_json_lines("\n".join([_line(0), _line(0), _line(3), *BAD]), cfg)
    counter = IntakeCounter(cfg.interval_minutes)
    outcome, accepted_iv = ingest_counted(detector, first)
    counter.add_valid(first.minutes, accepted_iv)
    counter.add_rejects(first.rejects + outcome.late)
    rows = {row["interval_start"][11:]: row for row in counter.rows()}
    assert rows["00:00"] == {
        "interval_start": "2026-01-19T00:00",
        "received": 2,
        "accepted": 1,
        "duplicate": 1,  # same place and time twice
        "rejected": 0,
        "rejected_by_reason": {},
    }
    assert rows["01:00"]["rejected_by_reason"] == {BAD_MEASURE: 1, MISSING_FIELD: 1}
    assert rows["02:00"]["rejected_by_reason"] == {BAD_DIMENSION: 1, MISSING_FIELD: 1}
    # no readable time: counted in the latest interval the object's records reach (03:00)
    assert rows["03:00"]["rejected_by_reason"] == {BAD_TIMESTAMP: 1, NOT_JSON: 2}
    assert rows["03:00"]["received"] == 4 and rows["03:00"]["accepted"] == 1
    for row in rows.values():
        assert row["received"] == row["accepted"] + row["duplicate"] + row["rejected"]
    assert sum(r["received"] for r in rows.values()) == first.received

    # a later object: a record for 00:00, closed since the watermark passed 03:00, is late there
    second = parse_json_lines("\n".join([_line(0, "B-102"), _line(4)]), cfg)
    counter = IntakeCounter(cfg.interval_minutes)
    outcome, accepted_iv = ingest_counted(detector, second)
    assert len(outcome.late) == 1 and outcome.late[0].code == LATE
    counter.add_valid(second.minutes, accepted_iv)
    counter.add_rejects(outcome.late)
    rows = {row["interval_start"][11:]: row for row in counter.rows()}
    assert rows["00:00"]["received"] == 1 and rows["00:00"]["rejected_by_reason"] == {LATE: 1}
    assert rows["00:00"]["accepted"] == rows["00:00"]["duplicate"] == 0
    assert rows["04:00"]["accepted"] == 1


def test_counting_does_not_change_what_ingest_closes():
    cfg = config(interval_minutes=60)
    data = "\n".join(_line(h, place) for h in range(6) for place in ("B-101", "B-102"))
    plain, counted = Detector(cfg), Detector(cfg)
    closed = plain.ingest(parse_json_lines(data, cfg)).closed
    outcome, accepted_iv = ingest_counted(counted, parse_json_lines(data, cfg))
    assert [c.start for c in closed] == [c.start for c in outcome.closed]
    assert accepted_iv.size == 12 and plain.last_closed == counted.last_closed
    assert np.array_equal(plain.nobs, counted.nobs)


def test_a_batch_with_no_readable_time_counts_at_the_processing_time():
    cfg = config(interval_minutes=60)
    batch = parse_json_lines("{broken\n[1]", cfg)
    counter = IntakeCounter(cfg.interval_minutes)
    counter.add_rejects(batch.rejects, now=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    (row,) = counter.rows()
    assert row["interval_start"] == "2026-03-01T09:00"
    assert row["received"] == row["rejected"] == 2 and row["rejected_by_reason"] == {NOT_JSON: 2}


def test_a_record_with_several_problems_gets_the_most_basic_code_on_either_parsing_path():
    both = json.dumps({"TIMESTAMP": "2026-01-19 01:10", "LOCATION_ID": "B-101", "CO": "x"})
    alone = parse_json_lines(both, config())  # the pandas path: CO's type is flagged first
    beside_bad_json = parse_json_lines("{broken\n" + both, config())  # the per-line path
    assert [r.code for r in alone.rejects] == [MISSING_FIELD]  # NO2 is missing
    assert sorted(r.code for r in beside_bad_json.rejects) == [MISSING_FIELD, NOT_JSON]
    assert "CO must be a number" in alone.rejects[0].reason  # the text still names every problem
