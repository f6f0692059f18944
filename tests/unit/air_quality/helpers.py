"""Small synthetic readings shared by the air-quality unit tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np

from vigil.air_quality.config import DetectorConfig, Measure
from vigil.air_quality.records import parse_json_lines


def config(**overrides) -> DetectorConfig:
    values = dict(
        interval_minutes=60,
        measures=[Measure(name="CO"), Measure(name="NO2")],
        dimensions=["LOCATION_ID"],
        lateness_minutes=0,
        severity_threshold=40,
    )
    values.update(overrides)
    return DetectorConfig(**values)


def seasonal_value(stamp: datetime, base: float = 2.0, trend_per_day: float = 0.0) -> float:
    """A daily cycle with rush hours, quieter weekends and an optional linear trend."""
    hour = stamp.hour
    rush = np.exp(-0.5 * ((hour - 8) / 1.5) ** 2) + 0.8 * np.exp(-0.5 * ((hour - 19) / 2) ** 2)
    weekend = stamp.weekday() >= 5
    day = (stamp - datetime(2026, 1, 5)).total_seconds() / 86400
    return base * (0.6 + (0.4 if weekend else 1.0) * rush) + trend_per_day * day


def records(
    start: datetime,
    hours: int,
    *,
    locations=("B-101",),
    noise: float = 0.03,
    seed: int = 0,
    trend_per_day: float = 0.0,
    change=None,
) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for h in range(hours):
        stamp = start + timedelta(hours=h)
        for loc in locations:
            co = seasonal_value(stamp, 2.0, trend_per_day) * (1 + rng.normal(0, noise))
            no2 = seasonal_value(stamp, 80.0, trend_per_day * 40) * (1 + rng.normal(0, noise))
            record = {
                "TIMESTAMP": stamp.strftime("%Y-%m-%d %H:%M"),
                "LOCATION_ID": loc,
                "CO": round(co, 3),
                "NO2": round(no2, 2),
            }
            if change:
                change(h, loc, record)
            out.append(record)
    return out


def as_lines(items: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r) for r in items) + "\n").encode()


def batch(items: list[dict], cfg: DetectorConfig):
    return parse_json_lines(as_lines(items), cfg)
