"""State shards: Firehose's jq and the detector agree on a place's shard, and splitting a fleet
into shards changes no score (the cross-measure statistics only need a place's own measures)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from tests.unit.air_quality.helpers import as_lines, config, records
from vigil.air_quality.engine import Detector, merge_groups
from vigil.air_quality.records import DIM_SEPARATOR, parse_json_lines, rows_by_shard
from vigil.air_quality.sharding import shard_jq_query, shard_of

START = datetime(2026, 1, 5)
PLACES = tuple(f"B-{100 + i}" for i in range(12))


@pytest.mark.skipif(shutil.which("jq") is None, reason="the jq binary is not installed")
@pytest.mark.parametrize("shards", [1, 7, 64])
def test_firehose_jq_query_and_python_give_the_same_shard(shards):
    places = [
        {"LOCATION_ID": "B-101", "ZONE": "north"},
        {"LOCATION_ID": 101, "ZONE": "été"},  # a number is joined as its text, as records.py
        {"LOCATION_ID": "𝄞" * 3, "ZONE": "x" * 400},  # beyond the BMP; a long key
    ]
    query = shard_jq_query(["LOCATION_ID", "ZONE"], shards)
    lines = "\n".join(json.dumps(p) for p in places)
    out = subprocess.run(
        ["jq", "-c", query], input=lines, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = [shard_of(f"{p['LOCATION_ID']}{DIM_SEPARATOR}{p['ZONE']}", shards) for p in places]
    assert [int(json.loads(line)["shard"]) for line in out] == expected


def test_shards_spread_places_and_keep_each_place_whole():
    cfg = config(state_shards=4)
    batch = parse_json_lines(as_lines(records(START, 3, locations=PLACES)), cfg)
    parts = rows_by_shard(batch.dim_keys, cfg.state_shards)
    assert len(parts) > 1  # twelve places do not all hash to one of four shards
    assert sorted(np.concatenate(list(parts.values()))) == list(range(len(batch)))
    for k, rows in parts.items():
        assert {shard_of(key, 4) for key in batch.dim_keys[rows]} == {k}
        assert (np.diff(rows) > 0).all()  # a shard's records keep their order


def test_sharded_engines_score_exactly_as_one_engine():
    cfg = config(state_shards=4)

    def change(h, loc, record):
        if h == 14 * 24 + 5 and loc in ("B-103", "B-104"):  # shards 1 and 2
            record["NO2"] = round(record["NO2"] * 3, 2)

    history = parse_json_lines(as_lines(records(START, 14 * 24, locations=PLACES)), cfg)
    live_records = records(START, 14 * 24 + 24, locations=PLACES, change=change)[
        14 * 24 * len(PLACES) :
    ]
    live = parse_json_lines(as_lines(live_records), cfg)
    whole = Detector(cfg)
    whole.learn(history)
    whole_closed = whole.ingest(live).closed
    expected = whole.scores_frame(whole_closed)
    frames, groups = [], []
    history_parts = rows_by_shard(history.dim_keys, 4)
    for k, rows in rows_by_shard(live.dim_keys, 4).items():
        engine = Detector(cfg)
        engine.learn(history.take(history_parts[k]))
        closed = engine.ingest(live.take(rows)).closed
        frames.append(engine.scores_frame(closed))
        groups += engine.groups(closed)
    sharded = pd.concat(frames)
    key = ["interval_start", "LOCATION_ID", "measure"]
    pd.testing.assert_frame_equal(
        sharded.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
    )
    merged = merge_groups(groups)
    one = whole.groups(whole_closed)
    assert [(g.interval_start, sorted(a.series for a in g.anomalies)) for g in merged] == [
        (g.interval_start, sorted(a.series for a in g.anomalies)) for g in one
    ]
    spiked = [g for g in merged if {"B-103", "B-104"} <= set(g.contributions["LOCATION_ID"])]
    assert spiked  # one alert group for the interval, from two shards' engines
    (reference,) = [g for g in one if g.interval_start == spiked[0].interval_start]
    for place, share in reference.contributions["LOCATION_ID"].items():
        assert spiked[0].contributions["LOCATION_ID"][place] == pytest.approx(share, abs=0.2)
