"""The band the console's series chart draws, and the items that carry it: the band's scale is
the one the detector scored with (a reading sits on the edge of the band |z| scales wide), and
an item holds every measure of one place and interval, unknown numbers as null."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from vigil.air_quality.config import DetectorConfig, Measure
from vigil.air_quality.engine import Detector
from vigil.air_quality.interval_table import HISTORY_DAYS, TTL_ATTRIBUTE, interval_items
from vigil.air_quality.records import parse_json_lines, validate_frame
from vigil.air_quality.simulator import generate

START = datetime(2026, 1, 5)
HISTORY = 12 * 24 * 2


def _scored() -> tuple[Detector, list]:
    config = DetectorConfig(
        name="band",
        measures=[Measure(name="CO"), Measure(name="NO2")],
        dimensions=["LOCATION_ID"],
        interval_minutes=5,
        lateness_minutes=1,
    )
    records, _ = generate(2, START, HISTORY + 12, 5, sentinel_rate=0.0)
    cut = (START + timedelta(minutes=5 * HISTORY)).strftime("%Y-%m-%d %H:%M")
    detector = Detector(config)
    detector.learn(
        validate_frame(pd.DataFrame([r for r in records if r["TIMESTAMP"] < cut]), config)
    )
    live = "\n".join(json.dumps(r) for r in records if r["TIMESTAMP"] >= cut)
    closed = detector.ingest(parse_json_lines(live, config)).closed
    assert len(closed) >= 10
    return detector, closed


def test_a_reading_sits_on_the_edge_of_the_band_as_wide_as_its_z():
    detector, closed = _scored()
    checked = 0
    for interval in closed:
        for r in np.flatnonzero(np.isfinite(interval.z) & (np.abs(interval.z) > 0.05)).tolist():
            z = float(interval.z[r])
            low, high = detector.band(interval, abs(z))
            edge = high[r] if z > 0 else low[r]
            assert math.isclose(edge, interval.observed[r], rel_tol=1e-6, abs_tol=1e-9)
            checked += 1
    assert checked >= 20
    # and the 2-scale band holds the expected value, wider on the side the scale stretches
    low, high = detector.band(closed[-1], 2.0)
    known = np.isfinite(low)
    assert known.any() and (low[known] < closed[-1].expected[known]).all()
    assert (closed[-1].expected[known] < high[known]).all()


def test_an_item_holds_every_measure_of_a_place_and_interval():
    rows = [
        {"place": "LOCATION_ID=A", "interval_start": "2026-01-07T00:05", "measure": m}
        | {"observed": 2.0, "expected": 1.5, "low": lo, "high": 2.5, "severity": 10.0}
        | {"anomaly": m == "NO2"}
        for m, lo in (("CO", float("nan")), ("NO2", 1.0))
    ]
    rows.append(rows[0] | {"place": "LOCATION_ID=B"})
    items = interval_items("band", rows, now=1_000)
    assert [i["detector"]["S"] for i in items] == [
        "band#intervals#LOCATION_ID=A",
        "band#intervals#LOCATION_ID=B",
    ]
    measures = json.loads(items[0]["measures"]["S"])
    assert set(measures) == {"CO", "NO2"}
    assert measures["CO"]["low"] is None and measures["NO2"]["anomaly"] is True
    assert items[0][TTL_ATTRIBUTE]["N"] == str(1_000 + HISTORY_DAYS * 86_400)
    assert items[0]["sk"]["S"] == "2026-01-07T00:05"
