"""Anomaly episodes across time, their kind (sensor fault or real event) and silent series.

The engine scores one interval at a time; people want one alert per *event*. An episode is the
run of anomalous intervals of one place (one set of dimension values): an anomaly of the place
joins its open episode when at most ``episode_gap_intervals`` quiet intervals lie between them,
otherwise it opens a new one. The episode keeps its start, its last anomalous interval, its end
once it closes (the place stayed quiet for more than the gap), its peak severity and every series
and reason involved. It alerts once, when it opens (and, with ``alert_on_episode_close``, once
when it closes).

Kind, from the cross-measure statistic the engine scores with (``Detector._cross_z``: each
measure's residual conditional on the place's other measures, with their learnt covariance). For
the place's most severe anomalous measure, the *departure* is the share of its standardized
residual the others do not explain (|conditional| / |own|). When it keeps at least
``fault_departure_share`` (0.7) and no other measure of the place moved with it (a standardized
residual of at least ``co_movement_z`` on the same side), it departed from the place's others:
what a faulty sensor does (``sensor_fault``). When the others explain it, or moved with it, the
place's air changed (``event``). A detector with one measure, or a place with one measure
reporting that interval, has no cross-measure statistic: then co-movement alone decides, and a
detector with one measure cannot tell them apart (``anomaly``). The kind is decided from the
anomalies known when the episode opens (what its alert carries) and becomes ``event`` if a later
interval of the episode is one.

Silent series: a series that normally reports (``silent_min_observations`` scored intervals) and
has had no data for ``silent_intervals`` whole intervals raises one ``silent`` alert; the first
data afterwards raises one ``recovered`` note. The check runs on every object a shard receives
(its watermark is the clock) and on a schedule (EventBridge → the detector Lambda; the wall clock),
so a place that stops reporting altogether is still noticed.

All of it is kept in the shard's detector state (``Detector.annotations``) and committed with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from vigil.air_quality.engine import (
    ANOMALY,
    AnomalyGroup,
    ClosedInterval,
    Detector,
    minute_to_iso,
    series_label,
)
from vigil.air_quality.episode_table import FEEDBACK_VERDICTS
from vigil.air_quality.subscriptions import (  # noqa: F401 - the alert vocabulary, defined once
    ANOMALY_KIND,
    CLOSED,
    EVENT,
    KINDS,
    OPENED,
    RECOVERED,
    SENSOR_FAULT,
    SILENT,
    WENT_SILENT,
)


def place_key(dimensions: dict[str, str]) -> str:
    return "|".join(f"{k}={v}" for k, v in dimensions.items()) or "-"


def iso_to_minute(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp.rstrip("Z"))
    return int(moment.replace(tzinfo=UTC).timestamp() // 60)


def classify(
    measures: set[str], measures_configured: int, departure: float | None = None, share: float = 1.0
) -> str:
    """The kind from the measures that moved together and the top measure's departure (the
    share of its residual the place's other measures do not explain; None: no statistic)."""
    if measures_configured < 2:
        return ANOMALY_KIND
    if len(measures) >= 2 or (departure is not None and departure < share):
        return EVENT
    return SENSOR_FAULT


@dataclass
class Episode:
    id: str
    place: str
    dimensions: dict[str, str]
    start: str  # first anomalous interval's start
    last: str  # latest anomalous interval's start
    peak_severity: float
    kind: str
    series: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    moved_together: list[str] = field(default_factory=list)  # what the kind is decided on
    departure: dict | None = None  # the top measure's own and conditional residual, and share
    intervals: int = 0
    end: str | None = None  # end of the last anomalous interval, once closed

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Transition:
    """Something to tell people: an episode opened or closed, a series went silent or recovered."""

    what: str  # OPENED, CLOSED, WENT_SILENT, RECOVERED
    kind: str  # one of KINDS
    dimensions: dict[str, str]
    measures: list[str]
    severity: float
    detail: dict
    alert: bool = True  # False: stored, not sent (within the place's cool-down)
    group: AnomalyGroup | None = None  # an opening episode's first anomalies (the alert's text)

    @property
    def id(self) -> str:
        return f"{self.detail.get('id') or self.detail.get('series')}#{self.what}"


def _book(detector: Detector) -> dict:
    book = detector.annotations.setdefault("episodes", {})
    detector.annotations.setdefault("silent", {})
    detector.annotations.setdefault("last_alert", {})
    return book


def _close(detector: Detector, episode: dict) -> Transition:
    episode["end"] = minute_to_iso(iso_to_minute(episode["last"]) + detector.interval)
    return Transition(
        CLOSED,
        episode["kind"],
        episode["dimensions"],
        episode["measures"],
        episode["peak_severity"],
        dict(episode),
        alert=detector.config.alert_on_episode_close,
    )


def co_moving(
    detector: Detector, closed: list[ClosedInterval]
) -> dict[tuple[str, str], dict[str, float]]:
    """Per (interval start, place) with an anomaly: the signed standardized residual of every
    measure of the place that reached ``co_movement_z`` (the anomalous ones included)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    limit = detector.config.co_movement_z
    for interval in closed:
        if not (interval.status == ANOMALY).any():
            continue
        start = minute_to_iso(interval.start)
        for r in np.flatnonzero(np.abs(interval.z) >= limit).tolist():
            measure, dims = detector.series_info(int(interval.sid[r]))
            out.setdefault((start, place_key(dims)), {})[measure] = float(interval.z[r])
    return out


def cross_measure_view(
    detector: Detector, closed: list[ClosedInterval]
) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """Per (interval start, place) with an anomaly: each measure's standardized residual as the
    cross-measure statistic sees it (clipped) and its residual conditional on the place's other
    measures (the engine's statistic, with the covariance it has learnt; NaN where the place had
    one measure that interval)."""
    out: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    if len(detector.config.measures) < 2:
        return out
    for interval in closed:
        if not (interval.status == ANOMALY).any():
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            conditional, _ = detector._cross_z(interval.sid, interval.z, np.isfinite(interval.z))
        # the statistic sees each residual clipped (a gross fault counts as a large one)
        limit = 2 * detector.config.model.cross_clip
        seen = np.clip(interval.z, -limit, limit)
        start = minute_to_iso(interval.start)
        for r in range(interval.sid.size):
            measure, dims = detector.series_info(int(interval.sid[r]))
            out.setdefault((start, place_key(dims)), {})[measure] = (
                float(seen[r]),
                float(conditional[r]),
            )
    return out


def departure(anomalies: list, view: dict[str, tuple[float, float]]) -> dict | None:
    """The most severe anomalous measure's residual, its residual conditional on the place's
    others, and the share of it they do not explain (None without the statistic)."""
    top = max(anomalies, key=lambda a: a.severity)
    own, conditional = view.get(top.measure, (float("nan"), float("nan")))
    if not (np.isfinite(own) and np.isfinite(conditional)) or own == 0:
        return None
    return {
        "measure": top.measure,
        "z": round(own, 3),
        "conditional_z": round(conditional, 3),
        "share": round(abs(conditional) / abs(own), 3),
    }


def _moved_together(anomalies: list, moving: dict[str, float]) -> set[str]:
    """The anomalous measures and those that moved on the same side as the strongest one."""
    top = max(anomalies, key=lambda a: a.severity)
    side = np.sign(top.z) or 1.0
    return {a.measure for a in anomalies} | {m for m, z in moving.items() if np.sign(z) == side}


FEEDBACK_STEP = 10.0  # severity points a confirmed-false episode adds to its series' pattern
FEEDBACK_MAX = 30.0  # at most: a muted pattern still alerts when it is far beyond the usual


def apply_feedback(detector: Detector, episode: dict, verdict: str) -> None:
    """Learn from an operator's verdict on an episode. ``not_anomaly``: each (series, reason)
    of the episode needs ``FEEDBACK_STEP`` more severity to open an alerting episode, up to
    ``FEEDBACK_MAX``; ``anomaly``: the pattern mattered, its extra need is cleared."""
    if verdict not in FEEDBACK_VERDICTS:
        raise ValueError(f"feedback must be one of {FEEDBACK_VERDICTS}, not {verdict!r}")
    muted = detector.annotations.setdefault("muted", {})
    for series in episode["series"]:
        for reason in episode["reasons"]:
            key = f"{series}|{reason}"
            if verdict == "not_anomaly":
                muted[key] = min(muted.get(key, 0.0) + FEEDBACK_STEP, FEEDBACK_MAX)
            else:
                muted.pop(key, None)


def _extra_need(detector: Detector, anomaly) -> float:
    return (detector.annotations.get("muted") or {}).get(f"{anomaly.series}|{anomaly.reason}", 0.0)


def track_episodes(
    detector: Detector, groups: list[AnomalyGroup], closed: list[ClosedInterval] | None = None
) -> list[Transition]:
    """Fold the anomalies of newly closed intervals into the places' episodes; close the
    episodes whose place has been quiet longer than the gap. Returns what changed, in order.
    ``closed`` (the intervals the groups came from) lets the kind see measures that moved with
    an anomaly without reaching the alert threshold themselves."""
    moving = co_moving(detector, closed or [])
    cross = cross_measure_view(detector, closed or [])
    book = _book(detector)
    interval, config = detector.interval, detector.config
    reach = (config.episode_gap_intervals + 1) * interval
    out: list[Transition] = []
    updated: dict[str, dict] = {}
    for group in sorted(groups, key=lambda g: g.interval_start):
        at = iso_to_minute(group.interval_start)
        by_place: dict[str, list] = {}
        for a in group.anomalies:
            by_place.setdefault(place_key(a.dimensions), []).append(a)
        for place, anomalies in by_place.items():
            episode = book.get(place)
            if episode is not None and at - iso_to_minute(episode["last"]) > reach:
                out.append(_close(detector, book.pop(place)))
                updated.pop(place, None)
                episode = None
            measures = {a.measure for a in anomalies}
            together = _moved_together(anomalies, moving.get((group.interval_start, place), {}))
            apart = departure(anomalies, cross.get((group.interval_start, place), {}))
            kind = classify(
                together,
                len(config.measures),
                apart["share"] if apart else None,
                config.fault_departure_share,
            )
            peak = max(a.severity for a in anomalies)
            if episode is None:
                episode = Episode(
                    id=f"{group.interval_start}#{place}",
                    place=place,
                    dimensions=dict(anomalies[0].dimensions),
                    start=group.interval_start,
                    last=group.interval_start,
                    peak_severity=peak,
                    kind=kind,
                    series=sorted({a.series for a in anomalies}),
                    measures=sorted(measures),
                    reasons=sorted({a.reason for a in anomalies}),
                    moved_together=sorted(together),
                    departure=apart,
                    intervals=1,
                ).to_dict()
                book[place] = episode
                previous = detector.annotations["last_alert"].get(place)
                quiet = previous is None or at - previous >= config.cooldown_minutes
                # patterns operators marked as false need more severity before they page
                heard = any(
                    a.severity >= config.severity_threshold + _extra_need(detector, a)
                    for a in anomalies
                )
                quiet = quiet and heard
                if quiet:
                    detector.annotations["last_alert"][place] = at
                out.append(
                    Transition(
                        OPENED,
                        episode["kind"],
                        episode["dimensions"],
                        episode["measures"],
                        peak,
                        dict(episode),
                        alert=quiet,
                        group=AnomalyGroup(
                            interval_start=group.interval_start,
                            interval_end=group.interval_end,
                            severity=peak,
                            anomalies=anomalies,
                            contributions=group.contributions,
                        ),
                    )
                )
                continue
            episode["last"] = group.interval_start
            episode["intervals"] += 1
            episode["peak_severity"] = max(episode["peak_severity"], peak)
            episode["series"] = sorted(set(episode["series"]) | {a.series for a in anomalies})
            episode["measures"] = sorted(set(episode["measures"]) | measures)
            episode["reasons"] = sorted(set(episode["reasons"]) | {a.reason for a in anomalies})
            episode["moved_together"] = sorted(set(episode["moved_together"]) | together)
            # a later interval where the place's measures moved together makes it an event
            if (
                kind == EVENT
                or classify(set(episode["moved_together"]), len(config.measures)) == EVENT
            ):
                episode["kind"] = EVENT
            updated[place] = episode
    out += expire_episodes(detector)
    closed_places = {t.detail["place"] for t in out if t.what == CLOSED}
    out += [
        Transition(
            "updated", e["kind"], e["dimensions"], e["measures"], e["peak_severity"], e, False
        )
        for place, e in updated.items()
        if place not in closed_places
    ]
    return out


def expire_episodes(detector: Detector) -> list[Transition]:
    """Close every open episode whose place has had more quiet closed intervals than the gap."""
    if detector.last_closed is None:
        return []
    book = _book(detector)
    closed_through = (detector.last_closed + 1) * detector.interval  # end of the latest closed
    reach = (detector.config.episode_gap_intervals + 1) * detector.interval
    out = []
    for place in sorted(book):
        if closed_through - iso_to_minute(book[place]["last"]) > reach:
            out.append(_close(detector, book.pop(place)))
    return out


def check_silence(detector: Detector, now_minute: int | None) -> list[Transition]:
    """Series that normally report and have had no data for ``silent_intervals`` whole
    intervals before ``now_minute`` (the shard's watermark or the scheduler's clock)."""
    config = detector.config
    silent = detector.annotations.setdefault("silent", {})
    if not config.silent_intervals or now_minute is None or not len(detector.series):
        return []
    current = (now_minute - config.lateness_minutes) // detector.interval
    latest = latest_data_interval(detector)
    quiet = current - 1 - latest
    candidates = np.flatnonzero(
        (detector.nobs >= config.silent_min_observations)
        & (latest >= 0)
        & (quiet >= config.silent_intervals)
    )
    out = []
    for sid in candidates.tolist():
        if str(sid) in silent:
            continue
        measure, dims = detector.series_info(sid)
        detail = {
            "series": series_label(measure, dims),
            "place": place_key(dims),
            "last_data": minute_to_iso(int(latest[sid]) * detector.interval),
            "silent_intervals": int(quiet[sid]),
            "last_iv": int(latest[sid]),
        }
        silent[str(sid)] = detail
        out.append(Transition(WENT_SILENT, SILENT, dims, [measure], 0.0, detail))
    return out


def latest_data_interval(detector: Detector) -> np.ndarray:
    """Per series, the latest interval with data: scored, or still open (its readings wait for
    the interval to close; a sensor that stops leaves its last interval open)."""
    latest = detector.last_iv.copy()
    if detector.ob_sid.size:
        np.maximum.at(latest, detector.ob_sid, detector.ob_iv)
    return latest


def check_recoveries(detector: Detector) -> list[Transition]:
    """Silent series that have sent data again (scored or waiting in an open interval)."""
    silent = detector.annotations.get("silent") or {}
    latest = latest_data_interval(detector)
    out = []
    for key in sorted(silent, key=int):
        sid = int(key)
        if latest[sid] > silent[key]["last_iv"]:
            detail = silent.pop(key)
            measure, dims = detector.series_info(sid)
            out.append(Transition(RECOVERED, SILENT, dims, [measure], 0.0, detail))
    return out


def series_status(detector: Detector, now_minute: int | None) -> list[dict]:
    """Per series: learning (with the scored intervals still needed), active or silent."""
    silent = detector.annotations.get("silent") or {}
    warm = int(detector._params.warm_after)  # what the kernel waits for before alerting
    out = []
    for sid in range(len(detector.series)):
        measure, dims = detector.series_info(sid)
        seen = max(int(detector.nobs[sid]), 0)
        last = int(detector.last_iv[sid])
        if str(sid) in silent:
            state = "silent"
        elif seen < warm:
            state = "learning"
        else:
            state = "active"
        row = {
            "series": series_label(measure, dims),
            "measure": measure,
            "dimensions": dims,
            "status": state,
            "scored_intervals": seen,
            "intervals_still_needed": max(warm - seen, 0),
            "last_data": minute_to_iso(last * detector.interval) if last >= 0 else None,
        }
        if now_minute is not None and last >= 0:
            row["intervals_since_data"] = int(now_minute // detector.interval - 1 - last)
        out.append(row)
    return out
