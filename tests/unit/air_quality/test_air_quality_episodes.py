"""Anomaly episodes across intervals, their kind, and silent series, on a real engine."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from tests.unit.air_quality.helpers import config, records
from vigil.air_quality.engine import Anomaly, AnomalyGroup, Detector
from vigil.air_quality.episodes import (
    CLOSED,
    EVENT,
    FEEDBACK_MAX,
    OPENED,
    RECOVERED,
    SENSOR_FAULT,
    WENT_SILENT,
    apply_feedback,
    check_recoveries,
    check_silence,
    iso_to_minute,
    series_status,
    track_episodes,
)
from vigil.air_quality.records import validate_frame

START = datetime(2026, 1, 5)


def _group(hour: int, *anomalies: tuple[str, str, float]) -> AnomalyGroup:
    stamp = (START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M")
    items = [
        Anomaly(stamp, measure, {"LOCATION_ID": loc}, 1.0, 0.0, 5.0, severity, "spike or dip")
        for measure, loc, severity in anomalies
    ]
    end = (START + timedelta(hours=hour + 1)).strftime("%Y-%m-%dT%H:%M")
    return AnomalyGroup(stamp, end, max(a.severity for a in items), items)


def _closed_through(detector: Detector, hour: int) -> None:
    """The engine has closed every interval up to and including ``hour``."""
    minute = iso_to_minute((START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M"))
    detector.last_closed = minute // detector.interval


def test_an_event_over_several_intervals_is_one_episode_with_one_alert():
    detector = Detector(config(episode_gap_intervals=1, cooldown_minutes=0))
    _closed_through(detector, 0)
    opened = track_episodes(detector, [_group(0, ("CO", "B-101", 60), ("NO2", "B-101", 55))])
    assert [(t.what, t.kind, t.alert) for t in opened] == [(OPENED, EVENT, True)]
    _closed_through(detector, 3)
    # 01:00 quiet (within the one-interval gap), 02:00 and 03:00 anomalous again: same episode
    later = track_episodes(
        detector, [_group(2, ("CO", "B-101", 80)), _group(3, ("CO", "B-101", 70))]
    )
    assert [t.what for t in later] == ["updated"]
    episode = detector.annotations["episodes"]["LOCATION_ID=B-101"]
    assert episode["start"].endswith("T00:00") and episode["last"].endswith("T03:00")
    assert episode["peak_severity"] == 80 and episode["intervals"] == 3
    assert episode["series"] == ["CO[LOCATION_ID=B-101]", "NO2[LOCATION_ID=B-101]"]
    # two quiet closed intervals after 03:00 (more than the gap): the episode closes
    _closed_through(detector, 5)
    closing = track_episodes(detector, [])
    assert [(t.what, t.alert) for t in closing] == [(CLOSED, False)]
    assert closing[0].detail["end"].endswith("T04:00")
    assert detector.annotations["episodes"] == {}


def test_one_measure_departing_alone_is_a_sensor_fault_and_places_are_separate():
    detector = Detector(config(cooldown_minutes=0))
    _closed_through(detector, 0)
    out = track_episodes(
        detector,
        [_group(0, ("NO2", "B-101", 70), ("CO", "B-102", 50), ("NO2", "B-102", 50))],
    )
    kinds = {t.dimensions["LOCATION_ID"]: t.kind for t in out if t.what == OPENED}
    assert kinds == {"B-101": SENSOR_FAULT, "B-102": EVENT}
    one_measure = Detector(config(measures=[{"name": "CO"}], cooldown_minutes=0))
    _closed_through(one_measure, 0)
    assert track_episodes(one_measure, [_group(0, ("CO", "B-101", 70))])[0].kind == "anomaly"


def test_a_new_episode_within_the_cool_down_is_stored_but_not_sent():
    detector = Detector(config(episode_gap_intervals=0, cooldown_minutes=180))
    _closed_through(detector, 0)
    track_episodes(detector, [_group(0, ("CO", "B-101", 60))])
    _closed_through(detector, 2)
    out = track_episodes(detector, [_group(2, ("CO", "B-101", 60))])
    assert [(t.what, t.alert) for t in out] == [(CLOSED, False), (OPENED, False)]
    _closed_through(detector, 5)
    out = track_episodes(detector, [_group(5, ("CO", "B-101", 60))])
    assert [(t.what, t.alert) for t in out] == [(CLOSED, False), (OPENED, True)]


def _learnt(cfg) -> Detector:
    detector = Detector(cfg)
    history = records(START, 48, locations=("B-101", "B-102"))
    detector.learn(validate_frame(pd.DataFrame(history), cfg))
    return detector


def _minute(hours_after_start: int) -> int:
    return iso_to_minute((START + timedelta(hours=hours_after_start)).strftime("%Y-%m-%dT%H:%M"))


def test_a_series_that_stops_reporting_is_alerted_once_and_its_return_noted():
    cfg = config(silent_intervals=3, silent_min_observations=12)
    detector = _learnt(cfg)
    # data through 47:00; at 50:00 only two whole intervals (48, 49) passed: not yet
    assert check_silence(detector, _minute(50)) == []
    silent = check_silence(detector, _minute(51))
    assert sorted(t.detail["series"] for t in silent) == [
        "CO[LOCATION_ID=B-101]",
        "CO[LOCATION_ID=B-102]",
        "NO2[LOCATION_ID=B-101]",
        "NO2[LOCATION_ID=B-102]",
    ]
    assert {(t.what, t.kind) for t in silent} == {(WENT_SILENT, "silent")}
    assert check_silence(detector, _minute(60)) == []  # once, not every check
    status = {row["series"]: row["status"] for row in series_status(detector, _minute(60))}
    assert set(status.values()) == {"silent"}
    # B-101 reports again: its two series recover, B-102's stay silent
    frame = pd.DataFrame(
        [r for r in records(START + timedelta(hours=60), 2) if r["LOCATION_ID"] == "B-101"]
    )
    detector.ingest(validate_frame(frame, cfg))
    back = check_recoveries(detector)
    assert sorted(t.detail["series"] for t in back) == [
        "CO[LOCATION_ID=B-101]",
        "NO2[LOCATION_ID=B-101]",
    ]
    assert {t.what for t in back} == {RECOVERED}
    assert sorted(detector.annotations["silent"]) == sorted(
        str(s) for s in np.flatnonzero([k.endswith("B-102") for _, k in detector.series])
    )


def test_a_series_still_learning_is_not_missed_and_says_how_much_it_needs():
    cfg = config(silent_intervals=1, silent_min_observations=500, warmup_intervals=100)
    detector = _learnt(cfg)
    assert check_silence(detector, _minute(200)) == []
    row = series_status(detector, _minute(48))[0]
    assert row["status"] == "learning" and row["intervals_still_needed"] > 0
    assert row["last_data"].endswith("T23:00")


def test_episodes_and_silence_survive_the_state_round_trip():
    cfg = config(cooldown_minutes=0)
    detector = _learnt(cfg)
    check_silence(detector, _minute(60))
    detector.last_closed = _minute(50) // 60
    track_episodes(detector, [_group(50, ("CO", "B-101", 60))])
    again = Detector.from_bytes(detector.to_bytes(), cfg)
    assert again.annotations == detector.annotations
    assert "LOCATION_ID=B-101" in again.annotations["episodes"]


def test_a_pattern_marked_false_needs_more_severity_bounded_and_a_true_one_clears_it():
    detector = Detector(config(cooldown_minutes=0, severity_threshold=40))
    _closed_through(detector, 0)
    (opened,) = track_episodes(detector, [_group(0, ("CO", "B-101", 55))])
    for _ in range(5):
        apply_feedback(detector, opened.detail, "not_anomaly")
    assert detector.annotations["muted"] == {"CO[LOCATION_ID=B-101]|spike or dip": FEEDBACK_MAX}
    _closed_through(detector, 10)
    quiet = [
        t for t in track_episodes(detector, [_group(10, ("CO", "B-101", 65))]) if t.what == OPENED
    ]
    assert not quiet[0].alert  # 65 < 40 + 30
    _closed_through(detector, 20)
    loud = [
        t for t in track_episodes(detector, [_group(20, ("CO", "B-101", 75))]) if t.what == OPENED
    ]
    assert loud[0].alert  # far beyond: still pages
    other = [
        t for t in track_episodes(detector, [_group(20, ("NO2", "B-102", 45))]) if t.what == OPENED
    ]
    assert other[0].alert  # other series are not muted
    apply_feedback(detector, opened.detail, "anomaly")
    assert detector.annotations["muted"] == {}


def test_a_measure_that_moved_with_the_anomaly_below_the_threshold_makes_it_an_event():
    from vigil.air_quality.engine import ClosedInterval
    from vigil.air_quality.kernel import ANOMALY, OK

    cfg = config(cooldown_minutes=0, co_movement_z=2.5)
    detector = _learnt(cfg)
    sids = {
        detector.series_info(s)[0] + "@" + detector.series_info(s)[1]["LOCATION_ID"]: s
        for s in range(len(detector.series))
    }
    start = _minute(50)
    detector.last_closed = start // 60

    def interval(no2_z: float) -> ClosedInterval:
        sid = np.array([sids["CO@B-101"], sids["NO2@B-101"]])
        return ClosedInterval(
            start=start,
            sid=sid,
            observed=np.array([9.0, 90.0]),
            expected=np.array([2.0, 80.0]),
            z=np.array([6.0, no2_z]),
            severity=np.array([70.0, 20.0]),
            status=np.array([ANOMALY, OK]),
            reason=np.array([0, 0]),
        )

    moved = track_episodes(detector, detector.groups([interval(3.0)]), [interval(3.0)])
    assert [(t.what, t.kind) for t in moved] == [(OPENED, EVENT)]
    assert moved[0].detail["moved_together"] == ["CO", "NO2"]
    # the other measure moved the other way, or too little: one measure departed alone
    for z in (-3.0, 1.0):
        fresh = _learnt(cfg)
        fresh.last_closed = start // 60
        (opened,) = track_episodes(fresh, fresh.groups([interval(z)]), [interval(z)])
        assert opened.kind == SENSOR_FAULT


def test_the_kind_comes_from_the_cross_measure_statistic_of_the_place():
    """With the place's measures learnt to move together, a modest rise that the others' modest
    rises explain is an event even though none of them reached ``co_movement_z``; a rise the
    others do not follow departs from them: a sensor fault. Both are read from the engine's
    conditional residual (``departure``), not from the co-movement count."""
    from vigil.air_quality.config import Measure
    from vigil.air_quality.engine import ClosedInterval
    from vigil.air_quality.kernel import ANOMALY, OK

    cfg = config(
        cooldown_minutes=0,
        measures=[Measure(name="CO"), Measure(name="NO2"), Measure(name="NOx")],
    )

    def learnt() -> Detector:
        detector = Detector(cfg)

        def with_nox(_h, _loc, record):
            record["NOx"] = round(record["NO2"] * 1.5, 2)

        history = records(START, 48, locations=("B-101",), change=with_nox)
        detector.learn(validate_frame(pd.DataFrame(history), cfg))
        for s in range(len(detector.series)):  # learnt: the three move together (0.8)
            own = cfg.measure_names.index(detector.series_info(s)[0])
            detector.xcov[s] = [1.0 if m == own else 0.8 for m in range(3)]
        detector.last_closed = _minute(50) // 60
        return detector

    def interval(detector: Detector, zs: tuple[float, float, float]) -> ClosedInterval:
        sid = np.array([detector.series.index((m, "B-101")) for m in range(3)])
        return ClosedInterval(
            start=_minute(50),
            sid=sid,
            observed=np.array([3.0, 90.0, 135.0]),
            expected=np.array([2.0, 80.0, 120.0]),
            z=np.array(zs),
            severity=np.array([70.0, 10.0, 10.0]),
            status=np.array([ANOMALY, OK, OK]),
            reason=np.array([0, 0, 0]),
        )

    detector = learnt()
    together = interval(detector, (3.0, 2.4, 2.4))  # below co_movement_z (2.5)
    (opened,) = track_episodes(detector, detector.groups([together]), [together])
    assert opened.detail["moved_together"] == ["CO"]  # co-movement alone would say fault
    assert opened.detail["departure"]["share"] < cfg.fault_departure_share
    assert opened.kind == EVENT

    detector = learnt()
    alone = interval(detector, (6.0, 0.2, -0.1))
    (opened,) = track_episodes(detector, detector.groups([alone]), [alone])
    apart = opened.detail["departure"]
    assert apart["measure"] == "CO" and apart["share"] >= cfg.fault_departure_share
    assert abs(apart["conditional_z"]) > abs(apart["z"])  # stands out more than on its own
    assert opened.kind == SENSOR_FAULT

    # one measure reporting at the place: no statistic, co-movement decides
    detector = learnt()
    single = ClosedInterval(
        start=_minute(50),
        sid=np.array([detector.series.index((0, "B-101"))]),
        observed=np.array([9.0]),
        expected=np.array([2.0]),
        z=np.array([6.0]),
        severity=np.array([70.0]),
        status=np.array([ANOMALY]),
        reason=np.array([0]),
    )
    (opened,) = track_episodes(detector, detector.groups([single]), [single])
    assert opened.detail["departure"] is None and opened.kind == SENSOR_FAULT
