"""The simulator's readings and its injected anomalies."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from vigil.air_quality.simulator import generate, thing_name
from vigil.air_quality.topic_rule import TOPIC_TEMPLATE

START = datetime(2026, 1, 5)


def test_readings_have_rush_hours_quiet_weekends_and_sentinels():
    records, injected = generate(3, START, 12 * 24 * 7, 5, seed=1, sentinel_rate=0.01)
    assert len(records) == 3 * 12 * 24 * 7 and injected == []
    assert {r["LOCATION_ID"] for r in records} == {"B-101", "B-102", "B-103"}
    co = np.array([r["CO"] for r in records])
    assert 0.005 < (co == -200).mean() < 0.02
    hours = np.array([int(r["TIMESTAMP"][11:13]) for r in records])
    weekend = np.array([datetime.fromisoformat(r["TIMESTAMP"]).weekday() >= 5 for r in records])
    ok = co != -200
    rush, night = (hours == 8) & ok & ~weekend, (hours == 3) & ok & ~weekend
    assert co[rush].mean() > 1.8 * co[night].mean()
    assert co[(hours == 8) & ok & weekend].mean() < 0.8 * co[rush].mean()


def test_injected_anomalies_happen_where_and_when_declared():
    clean, _ = generate(2, START, 200, 5, seed=2, sentinel_rate=0)
    dirty, injected = generate(
        2,
        START,
        200,
        5,
        seed=2,
        sentinel_rate=0,
        anomalies=[(1, "NO2", "spike", 50, 1), (0, "SO2", "stuck", 100, 10)],
    )
    assert [(i.location, i.measure, i.kind) for i in injected] == [
        ("B-102", "NO2", "spike"),
        ("B-101", "SO2", "stuck"),
    ]
    diff = [k for k, (a, b) in enumerate(zip(clean, dirty, strict=True)) if a != b]
    spike_row = 50 * 2 + 1
    assert dirty[spike_row]["NO2"] > 2 * clean[spike_row]["NO2"]
    stuck = [dirty[k * 2]["SO2"] for k in range(100, 110)]
    assert len(set(stuck)) == 1
    assert spike_row in diff and all(k == spike_row or (200 <= k < 220) for k in diff)


def test_each_thing_publishes_to_its_own_topic():
    assert thing_name("B-101") == "sensor-B-101"
    assert TOPIC_TEMPLATE.format(thing="sensor-B-101") == "vigil/air-quality/sensor-B-101/telemetry"
