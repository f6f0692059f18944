"""Event-level scoring of alerts against injected anomaly windows, and two baseline detectors.

Matching (per series, i.e. per measure here):

* an injected window ``[start, end]`` (interval indices) is **detected** when at least one alert of
  that series falls in ``[start, end + tolerance]``; its detection delay is the first such alert's
  index minus ``start`` (0 = alerted in the first anomalous interval);
* alerts of a series outside every window (+ tolerance) are **false positives**; consecutive
  false alerts less than ``tolerance + 1`` intervals apart count as one false-positive event
  (one operator page), so a detector is not rewarded or punished for the length of a blip;
* precision = detected / (detected + false-positive events); recall = detected / windows;
  F1 their harmonic mean. Alerts the data's own real anomalies cause count as false positives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vigil.air_quality.uci import Injection


@dataclass
class EventScore:
    windows: int
    detected: int
    false_positive_events: int
    delays: list[int]
    detected_by_kind: dict[str, list[int]]

    @property
    def precision(self) -> float:
        total = self.detected + self.false_positive_events
        return self.detected / total if total else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def median_delay(self) -> float | None:
        return float(np.median(self.delays)) if self.delays else None

    def summary(self) -> dict:
        return {
            "f1": round(self.f1, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "windows": self.windows,
            "detected": self.detected,
            "false_positive_events": self.false_positive_events,
            "median_detection_delay_intervals": self.median_delay,
            "recall_by_kind": {
                k: round(sum(v) / len(v), 3) for k, v in sorted(self.detected_by_kind.items())
            },
        }


def score_events(
    alerts: dict[str, np.ndarray],
    injections: list[Injection],
    *,
    tolerance: int = 3,
    first_row: int = 0,
) -> EventScore:
    """``alerts``: per measure, sorted row indices (intervals) that alerted, rows >= first_row."""
    windows = 0
    detected = 0
    fp_events = 0
    delays: list[int] = []
    by_kind: dict[str, list[int]] = {}
    measures = set(alerts) | {i.measure for i in injections}
    for measure in measures:
        rows = np.asarray(alerts.get(measure, np.zeros(0, dtype=int)))
        rows = rows[rows >= first_row]
        matched = np.zeros(rows.size, dtype=bool)
        for inj in (i for i in injections if i.measure == measure):
            windows += 1
            inside = (rows >= inj.start_row) & (rows <= inj.end_row + tolerance)
            hit = bool(inside.any())
            by_kind.setdefault(inj.kind, []).append(int(hit))
            if hit:
                detected += 1
                delays.append(int(rows[inside].min() - inj.start_row))
            matched |= inside
        false_rows = rows[~matched]
        if false_rows.size:
            fp_events += 1 + int((np.diff(false_rows) > tolerance).sum())
    return EventScore(windows, detected, fp_events, delays, by_kind)


def threshold_alerts(history: pd.Series, test: pd.Series, low_q: float, high_q: float):
    """Fixed thresholds: alert when a value leaves the [low_q, high_q] quantiles of history."""
    lo, hi = history.quantile(low_q), history.quantile(high_q)
    values = test.to_numpy(dtype=float)
    return np.flatnonzero(np.isfinite(values) & ((values < lo) | (values > hi)))


def zscore_alerts(series: pd.Series, window: int, k: float, first_row: int):
    """Rolling z-score: alert when |value - rolling mean| > k * rolling std of the last window."""
    past = series.shift(1).rolling(window, min_periods=max(3, window // 2))
    z = (series - past.mean()) / past.std()
    rows = np.flatnonzero((z.abs() > k).to_numpy())
    return rows[rows >= first_row]
