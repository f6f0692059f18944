"""Air-quality detector: quality on the UCI file, continuous-path throughput, alert latency.

Quality: the first 40 % of the UCI file (hourly) is history to learn from; anomalies of six kinds
are injected into the rest at known times (``vigil.air_quality.uci.inject``), 3 per kind and
measure over CO, NO2, NOx and C6H6. Vigil's detector and two baselines run in the same pass:

* fixed thresholds: alert outside the [q_low, q_high] quantiles of the history;
* rolling z-score: alert when |x - mean| > k * std over the previous ``window`` hours.

Every method's knobs (Vigil's severity threshold; the baselines' quantiles, window and k) are
chosen by the same rule, the best mean F1 over injections drawn with ``--tune-seeds`` (1, 3-10),
and reported on injections drawn with ``--seed`` (2: different times, kinds order and
magnitudes; never used for any choice, the engine's parameters included). Matching is event-level, documented in
``vigil/air_quality/evaluation.py``: a window counts as detected when an alert of that series falls
inside it or within 3 intervals after it; alerts outside every window are false positives, merged
into events when less than 4 intervals apart.

Episodes (report seed, tuned threshold): the injected file streamed one day per object with
anomalies folded into episodes as the service does (``vigil.air_quality.episodes``);
``alerts_per_true_event`` is the number of opened-episode alerts inside a detected injection's
window (or up to 3 intervals after it) per detected injection (one alert per anomalous interval
for comparison). ``fault_vs_event_accuracy``: 20 single-measure shifts (sensor faults) and 20
whole-place shifts (every measure by 4-6 of its own sigma, events), 6 intervals each, alternating
at least 96 intervals apart on the clean file; each alerted one is labelled by the ``kind`` its
first alert carries; accuracy over the alerted ones (``..._statistic_only``: labelled by the
cross-measure statistic's departure share alone, without co-movement). Feedback: every alert in the first half of
the test rows gets the ground truth's verdict (``anomaly`` inside an injection window or up to 3
intervals after it, else ``not_anomaly``) through ``episodes.apply_feedback`` as it is sent;
``precision_before_feedback``/``precision_after_feedback`` score the alerts of the second half
(the same windows), with the second half's event recall beside them (what muting costs).
Silence: the device stops at 10 times after the history and the scheduled check runs at every
interval boundary; the delay is counted from the end of its last interval with data.

Throughput: synthetic Firehose objects (newline-delimited JSON, 1,000 locations x CO/SO2/NO2,
one reading per location per minute, 5-minute intervals) through the continuous path:
``parse_json_lines`` (validation) + ``Detector.ingest`` (dedup, aggregation, closing, scoring).
Reported per core as records / CPU seconds of this single-threaded process, best of 3 runs
(the machine is shared; the least disturbed run is the closest to one free core).

Single series: one long generated series (1-minute readings of one measure, no dimensions, a
daily cycle and noise) through ``run_backtest`` (the first 30 % learnt as history), as rows per CPU
second; numba's one-time compilation is excluded (a short series runs first).

Latency: the whole local path (amqtt broker → topic-rule bridge → Firehose on moto → S3 → the
detector handler → SNS → SQS): wall time from publishing the record that closes an anomalous
interval to its alert arriving in the SQS queue; and the configured worst case in the cloud.

    python benchmarks/air_quality.py            # prints one JSON object as its last line
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vigil.air_quality.backtest import run_backtest  # noqa: E402
from vigil.air_quality.config import DetectorConfig, Measure  # noqa: E402
from vigil.air_quality.engine import ANOMALY, Detector  # noqa: E402
from vigil.air_quality.episodes import (  # noqa: E402
    EVENT,
    OPENED,
    SENSOR_FAULT,
    apply_feedback,
    check_silence,
    iso_to_minute,
    track_episodes,
)
from vigil.air_quality.evaluation import (  # noqa: E402
    score_events,
    threshold_alerts,
    zscore_alerts,
)
from vigil.air_quality.records import parse_json_lines, validate_frame  # noqa: E402
from vigil.air_quality.uci import inject, load_uci, robust_sigma  # noqa: E402
from vigil.datasets import UCI_AIR_QUALITY, data_file  # noqa: E402

MEASURES = ["CO", "NO2", "NOx", "C6H6"]
OUT = ROOT / "build" / "benchmarks" / "air_quality"
THRESHOLDS = [30, 35, 40, 45, 50, 55, 60, 65, 70]

# Cloud worst case, record → alert (seconds): IoT rule → Firehose is sub-second; Firehose holds a
# record up to its buffering interval; S3 → Lambda event delivery is typically well under a
# second (budgeted at 5 s); SNS → e-mail/SMS delivery is outside Vigil (not counted).
IOT_RULE_BUDGET_S = 1.0
S3_EVENT_BUDGET_S = 5.0


def _config(threshold: float, interval: int = 60) -> DetectorConfig:
    return DetectorConfig(
        interval_minutes=interval,
        measures=[Measure(name=m) for m in MEASURES],
        dimensions=["LOCATION_ID"],
        lateness_minutes=0,
        severity_threshold=threshold,
    )


def _vigil_severities(frame: pd.DataFrame, split: int) -> dict[str, pd.Series]:
    """Severity per measure and row (NaN where not scored), threshold-independent."""
    config = _config(100.0)
    detector = Detector(config)
    detector.learn(validate_frame(frame.iloc[:split], config))
    closed = []
    for start in range(split, len(frame), 24):  # one day per object, as Firehose would deliver
        closed += detector.ingest(validate_frame(frame.iloc[start : start + 24], config)).closed
    closed += detector.flush()
    minute_of_row = (
        pd.to_datetime(frame["TIMESTAMP"]).astype("datetime64[ns]").astype("int64")
        // 60_000_000_000
    )
    row_of = pd.Series(np.arange(len(frame)), index=minute_of_row.to_numpy())
    out = {m: pd.Series(np.nan, index=np.arange(len(frame))) for m in MEASURES}
    for interval in closed:
        row = int(row_of[interval.start])
        for k in range(interval.sid.size):
            if interval.status[k] in (ANOMALY, 0):
                measure, _ = detector.series_info(int(interval.sid[k]))
                out[measure].iat[row] = interval.severity[k]
    return out


def _vigil_alerts(severities, threshold):
    return {m: np.flatnonzero((s >= threshold).to_numpy()) for m, s in severities.items()}


def _clean(frame: pd.DataFrame, measure: str) -> pd.Series:
    return frame[measure].where(frame[measure] != -200.0)


def quality(seed: int, tune_seeds: list[int]) -> dict:
    # ../shared/data/ when present (the development machine), else the copy vendored in data/.
    frame = load_uci(data_file(UCI_AIR_QUALITY, prefer_shared=True))
    split = int(len(frame) * 0.4)
    methods: dict[str, dict] = {}

    def run_all(s: int):
        injected, injections = inject(frame, MEASURES, seed=s, start_row=split)
        severities = _vigil_severities(injected, split)
        candidates = {
            "vigil": {thr: _vigil_alerts(severities, thr) for thr in THRESHOLDS},
            "threshold": {},
            "zscore": {},
        }
        for low, high in [(0.001, 0.999), (0.005, 0.995), (0.01, 0.99), (0.0, 0.995)]:
            candidates["threshold"][(low, high)] = {
                m: threshold_alerts(
                    _clean(injected.iloc[:split], m), _clean(injected, m).iloc[split:], low, high
                )
                + split
                for m in MEASURES
            }
        for window in (6, 12, 24, 72, 168):
            for k in (3.0, 4.0, 5.0, 6.0):
                candidates["zscore"][(window, k)] = {
                    m: zscore_alerts(_clean(injected, m), window, k, split) for m in MEASURES
                }
        return injections, candidates

    if seed in tune_seeds:
        raise ValueError(f"report seed {seed} must not be one of the tuning seeds {tune_seeds}")
    tuning = [run_all(s) for s in tune_seeds]
    test_injections, test_candidates = run_all(seed)

    def tune_f1s(name, knob):
        return [
            score_events(cands[name][knob], injections, first_row=split).f1
            for injections, cands in tuning
        ]

    for name in ("vigil", "threshold", "zscore"):
        # the same rule for every method: the knob with the best mean F1 over the tuning seeds
        best = max(tuning[0][1][name], key=lambda knob, n=name: float(np.mean(tune_f1s(n, knob))))
        tuned = tune_f1s(name, best)
        result = score_events(test_candidates[name][best], test_injections, first_row=split)
        methods[name] = {
            "knob": list(best) if isinstance(best, tuple) else best,
            "tune_f1": round(float(np.mean(tuned)), 4),
            "tune_f1_by_seed": {
                str(s): round(f, 4) for s, f in zip(tune_seeds, tuned, strict=True)
            },
            **result.summary(),
        }
    return {
        "methods": methods,
        "history_rows": split,
        "test_rows": len(frame) - split,
        "injections_per_seed": len(test_injections),
    }


def _episode_alerts(
    frame: pd.DataFrame,
    split: int,
    threshold: float,
    *,
    truth: set[int] | None = None,
    feedback_before: int = 0,
    **settings,
) -> dict:
    """Stream ``frame`` after ``split`` through the detector at ``threshold`` one day per object,
    folding each object's closed intervals into episodes as the service does. Returns the row of
    every opened episode's alert with its kind, and the rows of every per-interval group (what
    alerting once per interval would send). With ``truth`` (the rows of true anomalies), every
    alert before row ``feedback_before`` gets the operator's verdict as feedback at once."""
    config = _config(threshold).model_copy(update=settings)
    detector = Detector(config)
    detector.learn(validate_frame(frame.iloc[:split], config))
    minute_of_row = (
        pd.to_datetime(frame["TIMESTAMP"]).astype("datetime64[ns]").astype("int64")
        // 60_000_000_000
    )
    row_of = pd.Series(np.arange(len(frame)), index=minute_of_row.to_numpy())
    opened, interval_groups = [], []
    departures = {}  # alert row -> the top measure's departure share (cross-measure statistic)
    for start in range(split, len(frame) + 24, 24):
        part = frame.iloc[start : start + 24]
        closed = (
            detector.ingest(validate_frame(part, config)).closed if len(part) else detector.flush()
        )
        groups = detector.groups(closed)
        interval_groups += [int(row_of[iso_to_minute(g.interval_start)]) for g in groups]
        for t in track_episodes(detector, groups, closed):
            if t.what == OPENED and t.alert:
                row = int(row_of[iso_to_minute(t.detail["start"])])
                opened.append((row, t.kind))
                if t.detail.get("departure"):
                    departures[row] = t.detail["departure"]["share"]
                if truth is not None and row < feedback_before:
                    verdict = "anomaly" if row in truth else "not_anomaly"
                    apply_feedback(detector, t.detail, verdict)
    return {"opened": opened, "interval_groups": interval_groups, "departures": departures}


def _matches(rows: list[int], windows: list[tuple[int, int]], after: int = 3) -> list[list[int]]:
    """Per window, the alert rows inside it or within ``after`` intervals after it."""
    return [[r for r in rows if lo <= r <= hi + after] for lo, hi in windows]


def alerts_per_event(seed: int, threshold: float) -> dict:
    """Alerts per detected true event with episodes (one alert per opened episode) and with one
    alert per anomalous interval, on the report seed's injections."""
    frame = load_uci(data_file(UCI_AIR_QUALITY, prefer_shared=True))
    split = int(len(frame) * 0.4)
    injected, injections = inject(frame, MEASURES, seed=seed, start_row=split)
    found = _episode_alerts(injected, split, threshold)
    windows = [(i.start_row, i.end_row) for i in injections]
    by_episode = _matches([r for r, _ in found["opened"]], windows)
    by_interval = _matches(found["interval_groups"], windows)
    detected = [k for k, hits in enumerate(by_episode) if hits]
    # an alert inside two overlapping windows is counted once
    episode_alerts = {r for k in detected for r in by_episode[k]}
    interval_alerts = {r for k in detected for r in by_interval[k]}
    return {
        "alerts_per_true_event": round(len(episode_alerts) / max(len(detected), 1), 3),
        "alerts_per_true_event_one_per_interval": round(
            len(interval_alerts) / max(len(detected), 1), 3
        ),
        "true_events": len(injections),
        "true_events_alerted": len(detected),
        "episode_alerts_total": len(found["opened"]),
        "interval_alerts_total": len(found["interval_groups"]),
    }


def precision_with_feedback(seed: int, threshold: float, share: float = 0.5) -> dict:
    """Alert precision on the last ``1 - share`` of the test rows, without feedback and with
    the operator's verdict (from the ground truth) on every alert of the first ``share``."""
    frame = load_uci(data_file(UCI_AIR_QUALITY, prefer_shared=True))
    split = int(len(frame) * 0.4)
    injected, injections = inject(frame, MEASURES, seed=seed, start_row=split)
    truth = {r for i in injections for r in range(i.start_row, i.end_row + 4)}
    cut = split + int((len(frame) - split) * share)

    def precision(rows: list[int]) -> tuple[float, int]:
        scored = [r for r in rows if r >= cut]
        return round(sum(r in truth for r in scored) / max(len(scored), 1), 4), len(scored)

    before = _episode_alerts(injected, split, threshold)
    after = _episode_alerts(injected, split, threshold, truth=truth, feedback_before=cut)
    p_before, n_before = precision([r for r, _ in before["opened"]])
    p_after, n_after = precision([r for r, _ in after["opened"]])
    in_events = [r for r in range(cut, len(frame)) if r in truth]
    recall = {
        name: round(
            sum(
                any(lo <= r <= hi + 3 for r, _ in found["opened"])
                for lo, hi in ((i.start_row, i.end_row) for i in injections if i.start_row >= cut)
            )
            / max(sum(i.start_row >= cut for i in injections), 1),
            4,
        )
        for name, found in (("before", before), ("after", after))
    }
    return {
        "precision_before_feedback": p_before,
        "precision_after_feedback": p_after,
        "alerts_scored_before_feedback": n_before,
        "alerts_scored_after_feedback": n_after,
        "event_recall_before_feedback": recall["before"],
        "event_recall_after_feedback": recall["after"],
        "feedback_share_of_test_rows": share,
        "true_anomaly_rows_scored": len(in_events),
    }


def silent_delay(cuts: int = 10) -> dict:
    """The UCI device stops reporting at ``cuts`` times after the history; the scheduled check
    runs at every interval boundary after that. Delay per series: whole intervals from the end
    of its last interval with data to the check that raises its silent alert."""
    frame = load_uci(data_file(UCI_AIR_QUALITY, prefer_shared=True))
    split = int(len(frame) * 0.4)
    config = _config(45.0)
    base = Detector(config)
    base.learn(validate_frame(frame.iloc[:split], config))
    state = base.to_bytes()
    delays = []
    for stop in np.linspace(split + 48, len(frame) - 48, cuts).astype(int).tolist():
        detector = Detector.from_bytes(state, config)
        detector.ingest(validate_frame(frame.iloc[split:stop], config))
        last = iso_to_minute(pd.Timestamp(frame["TIMESTAMP"].iloc[stop - 1]).isoformat())
        interval = config.interval_minutes
        for k in range(1, 48):
            # the series that reported until the stop (a measure the device had already stopped
            # sending, -200 for days, is silent at the first check and not counted)
            for t in check_silence(detector, last + interval + k * interval):
                if t.detail["last_iv"] == last // interval:
                    delays.append(k)
    return {
        "silent_detection_delay_intervals": float(np.median(delays)) if delays else None,
        "silent_detection_delay_max_intervals": max(delays, default=None),
        "silent_cuts": cuts,
        "silent_series_detected": len(delays),
        "silent_intervals_configured": config.silent_intervals,
    }


def fault_vs_event(
    seed: int, threshold: float, per_kind: int = 20, length: int = 6, **settings
) -> dict:
    """Inject single-measure sensor faults (one measure shifted by 4-6 sigma) and whole-place
    events (every measure shifted by 4-6 of its own sigma at once), ``length`` intervals each,
    alternating, at least 96 intervals apart; label each alerted one by the ``kind`` its alert carries."""
    frame = load_uci(data_file(UCI_AIR_QUALITY, prefer_shared=True))
    split = int(len(frame) * 0.4)
    rng = np.random.default_rng(seed)
    values = {m: frame[m].to_numpy(dtype=float).copy() for m in MEASURES}
    sigma = {m: robust_sigma(np.where(v != -200.0, v, np.nan)[split:]) for m, v in values.items()}
    truth, windows = [], []
    row = split + 100
    while len(truth) < 2 * per_kind and row + length + 10 < len(frame):
        window = slice(row, row + length)
        if all((values[m][row - 2 : row + length + 2] != -200.0).all() for m in MEASURES):
            kind = SENSOR_FAULT if len(truth) % 2 == 0 else EVENT
            for m in [MEASURES[rng.integers(len(MEASURES))]] if kind == SENSOR_FAULT else MEASURES:
                values[m][window] += rng.uniform(4, 6) * sigma[m]
            truth.append(kind)
            windows.append((row, row + length - 1))
            row += 96 - 1
        row += 1
    injected = frame.copy()
    for m in MEASURES:
        injected[m] = values[m]
    found = _episode_alerts(injected, split, threshold, **settings)
    first_kind, first_share = {}, {}
    for (lo, hi), hits in zip(
        windows, _matches([r for r, _ in found["opened"]], windows, 1), strict=True
    ):
        if hits:
            first_kind[(lo, hi)] = dict(found["opened"])[hits[0]]
            first_share[(lo, hi)] = found["departures"].get(hits[0])
    labelled = [(first_kind[w], t) for w, t in zip(windows, truth, strict=True) if w in first_kind]
    correct = sum(k == t for k, t in labelled)
    # the cross-measure statistic alone (no co-movement): event when the others explain the move
    share = _config(threshold).fault_departure_share
    by_statistic = [
        (EVENT if first_share[w] is not None and first_share[w] < share else SENSOR_FAULT, t)
        for w, t in zip(windows, truth, strict=True)
        if w in first_kind
    ]
    by_truth = {
        kind: round(
            sum(k == t for k, t in labelled if t == kind)
            / max(sum(t == kind for _, t in labelled), 1),
            3,
        )
        for kind in (SENSOR_FAULT, EVENT)
    }
    return {
        "fault_vs_event_accuracy": round(correct / max(len(labelled), 1), 3),
        "fault_vs_event_accuracy_statistic_only": round(
            sum(k == t for k, t in by_statistic) / max(len(by_statistic), 1), 3
        ),
        "fault_vs_event_accuracy_by_truth": by_truth,
        "fault_vs_event_injected": len(truth),
        "fault_vs_event_alerted": len(labelled),
    }


def _synthetic_object(start: datetime, minutes: int, locations: int, rng) -> bytes:
    lines = []
    for m in range(minutes):
        stamp = (start + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M")
        co, so2, no2 = rng.gamma(4, 0.5, locations), rng.gamma(4, 10, locations), None
        no2 = rng.gamma(4, 20, locations)
        for i in range(locations):
            lines.append(
                f'{{"TIMESTAMP":"{stamp}","LOCATION_ID":"B-{i}","CO":{co[i]:.2f},'
                f'"SO2":{so2[i]:.1f},"NO2":{no2[i]:.1f},"THING_NAME":"sensor-B-{i}",'
                f'"RECEIVED_AT":1767571200000}}'
            )
    return ("\n".join(lines) + "\n").encode()


def throughput(
    locations: int = 1000, objects: int = 12, minutes_per_object: int = 5, repeats: int = 3
) -> dict:
    config = DetectorConfig(
        measures=[Measure(name=m) for m in ("CO", "SO2", "NO2")],
        dimensions=["LOCATION_ID"],
        interval_minutes=5,
        lateness_minutes=1,
    )
    rng = np.random.default_rng(3)
    start = datetime(2026, 1, 5)
    blobs = [
        _synthetic_object(
            start + timedelta(minutes=k * minutes_per_object), minutes_per_object, locations, rng
        )
        for k in range(objects + 2)
    ]
    runs = []
    for _ in range(repeats):  # best of `repeats`: the machine is shared, take the least disturbed
        detector = Detector(config)
        for blob in blobs[:2]:  # warm-up: series creation, first intervals
            detector.ingest(parse_json_lines(blob, config))
        records = parse_cpu = engine_cpu = 0.0
        closed = 0
        wall = time.perf_counter()
        for blob in blobs[2:]:
            t0 = time.process_time()
            batch = parse_json_lines(blob, config)
            t1 = time.process_time()
            result = detector.ingest(batch)
            t2 = time.process_time()
            parse_cpu += t1 - t0
            engine_cpu += t2 - t1
            records += batch.received
            closed += len(result.closed)
        runs.append((parse_cpu + engine_cpu, engine_cpu, time.perf_counter() - wall))
    cpu, engine_cpu, wall = min(runs)
    state = detector.to_bytes()
    return {
        "records": int(records),
        "records_per_second": round(records / cpu),
        "engine_records_per_second": round(records / engine_cpu),
        "wall_records_per_second": round(records / wall),
        "records_per_second_each_run": [round(records / r[0]) for r in runs],
        "series": len(detector.series),
        "closed_intervals": closed,
        "state_bytes_per_series_after_70_minutes": round(len(state) / len(detector.series), 1),
    }


def _one_series_frame(rows: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    minute = np.arange(rows)
    cycle = 1.0 + 0.5 * np.sin(2 * np.pi * minute / 1440)
    value = np.round(20.0 * cycle * (1 + rng.normal(0, 0.05, rows)), 3)
    stamps = pd.Timestamp("2026-01-05") + pd.to_timedelta(minute, unit="min")
    return pd.DataFrame({"TIMESTAMP": stamps.strftime("%Y-%m-%d %H:%M"), "PM25": value})


def single_series(rows: int = 366_000, repeats: int = 3) -> dict:
    """One long series through ``run_backtest``: rows per CPU second, after compiling once."""
    config = DetectorConfig(measures=[Measure(name="PM25")], interval_minutes=1, lateness_minutes=0)
    run_backtest(_one_series_frame(5000), config, learn_fraction=0.3)  # compile (or load) once
    frame = _one_series_frame(rows)
    runs = []
    for _ in range(repeats):  # best of `repeats`: the machine is shared
        t0, w0 = time.process_time(), time.perf_counter()
        _, scores, _, _ = run_backtest(frame, config, learn_fraction=0.3)
        runs.append((time.process_time() - t0, time.perf_counter() - w0))
    cpu, wall = min(runs)
    return {
        "rows": rows,
        "scored": len(scores),
        "single_series_rows_per_second": round(rows / cpu),
        "single_series_wall_rows_per_second": round(rows / wall),
    }


def latency(buffer_seconds: float = 1.0, repeats: int = 3) -> dict:
    """Record → alert through the local path, for records that close an anomalous interval."""
    from lambdas.air_quality.detector import handler as detector_handler
    from local.standins.air_quality_pipeline import read_alerts, running_air_quality, running_path
    from local.standins.api_gateway import LocalContext
    from vigil.air_quality.simulator import LocalPublisher, generate, thing_name

    config = DetectorConfig(
        name="latency",
        measures=[Measure(name=m) for m in ("CO", "SO2", "NO2")],
        dimensions=["LOCATION_ID"],
        interval_minutes=5,
        lateness_minutes=1,
        severity_threshold=40,
        cooldown_minutes=0,
    )
    start = datetime(2026, 1, 5)
    steps_history = 12 * 24 * 7  # one week of 5-minute readings
    spikes = [(0, "NO2", "spike", steps_history + 10 + 12 * r, 1) for r in range(repeats)]
    records, _ = generate(3, start, steps_history + 12 * (repeats + 1) + 10, 5, anomalies=spikes)
    history = [
        r
        for r in records
        if r["TIMESTAMP"]
        < (start + timedelta(minutes=5 * steps_history)).strftime("%Y-%m-%d %H:%M")
    ]
    live = records[len(history) :]
    latencies = []
    processing = []
    context = LocalContext(
        function_name="latency",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:latency",
        aws_request_id="latency",
        timeout_ms=60_000,
    )
    spike_minutes = {
        (start + timedelta(minutes=5 * s[3])).strftime("%Y-%m-%d %H:%M") for s in spikes
    }

    def timed_handler(event, context):
        t0 = time.perf_counter()
        result = detector_handler.handler(event, context)
        processing.append(time.perf_counter() - t0)
        return result

    with running_air_quality(config, pd.DataFrame(history), "vigil-air-latency") as local:
        resources = local.resources
        publisher = LocalPublisher(port=local.broker_port)
        with running_path(
            local.broker_port, resources, timed_handler, context, buffer_seconds=buffer_seconds
        ):
            pending_close = None
            for record in live:
                stamp = datetime.strptime(record["TIMESTAMP"], "%Y-%m-%d %H:%M")
                publisher.publish(thing_name(record["LOCATION_ID"]), json.dumps(record).encode())
                prev = (stamp - timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M")
                # The interval [t, t+5) closes with the first record at t+5+lateness(1) → t+10.
                if prev in spike_minutes and record["LOCATION_ID"] == "B-101":
                    pending_close = time.time()
                    alerts = []
                    deadline = time.time() + 30
                    while not alerts and time.time() < deadline:
                        alerts = [
                            a
                            for a in read_alerts(resources.queue_url, wait_s=0.05)
                            if "NO2" in (a["subject"] or "")
                        ]
                    if alerts:
                        latencies.append(alerts[0]["received_at"] - pending_close)
            publisher.close()
    p_max = max(processing) if processing else 0.0
    worst = IOT_RULE_BUDGET_S + 60.0 + S3_EVENT_BUDGET_S + p_max
    return {
        "alert_latency_seconds": round(statistics.median(latencies), 3) if latencies else None,
        "alert_latency_samples": [round(x, 3) for x in latencies],
        "local_buffer_seconds": buffer_seconds,
        "detector_invocation_seconds_max": round(p_max, 3),
        "cloud_worst_case_seconds": round(worst, 1),
        "cloud_worst_case_terms": {
            "iot_rule_to_firehose": IOT_RULE_BUDGET_S,
            "firehose_buffer": 60.0,
            "s3_event_to_lambda": S3_EVENT_BUDGET_S,
            "detector_invocation_max_measured": round(p_max, 3),
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Vigil air-quality benchmark")
    parser.add_argument(
        "--seed", type=int, default=2, help="injections the figures are reported on"
    )
    parser.add_argument(
        "--tune-seeds",
        default="1,3,4,5,6,7,8,9,10",
        help="comma-separated injection seeds knobs are chosen on (mean F1); never --seed",
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument(
        "--single-series-rows",
        type=int,
        default=366_000,
        help="rows of the generated one-minute series run through run_backtest",
    )
    args = parser.parse_args(argv)
    np.seterr(all="ignore")
    OUT.mkdir(parents=True, exist_ok=True)
    tune_seeds = [int(s) for s in args.tune_seeds.split(",")]
    q = quality(args.seed, tune_seeds)
    print(json.dumps(q["methods"], indent=1), flush=True)
    knob = q["methods"]["vigil"]["knob"]
    episodes = {
        **alerts_per_event(args.seed, knob),
        **fault_vs_event(args.seed, knob),
        **precision_with_feedback(args.seed, knob),
        **silent_delay(),
    }
    print(json.dumps(episodes), flush=True)
    t = throughput()
    print(json.dumps(t), flush=True)
    one = single_series(args.single_series_rows)
    print(json.dumps(one), flush=True)
    lat = {} if args.skip_latency else latency()
    if lat:
        print(json.dumps(lat), flush=True)
    vigil, thr, zs = q["methods"]["vigil"], q["methods"]["threshold"], q["methods"]["zscore"]
    result = {
        "f1": vigil["f1"],
        "precision": vigil["precision"],
        "recall": vigil["recall"],
        "median_detection_delay_intervals": vigil["median_detection_delay_intervals"],
        "recall_by_kind": vigil["recall_by_kind"],
        "severity_threshold": vigil["knob"],
        "threshold_baseline_f1": thr["f1"],
        "zscore_baseline_f1": zs["f1"],
        "f1_margin_over_best_baseline": round(vigil["f1"] - max(thr["f1"], zs["f1"]), 4),
        "alerts_per_true_event": episodes["alerts_per_true_event"],
        "alerts_per_true_event_one_per_interval": episodes[
            "alerts_per_true_event_one_per_interval"
        ],
        "fault_vs_event_accuracy": episodes["fault_vs_event_accuracy"],
        "fault_vs_event_accuracy_statistic_only": episodes[
            "fault_vs_event_accuracy_statistic_only"
        ],
        "silent_detection_delay_intervals": episodes["silent_detection_delay_intervals"],
        "precision_before_feedback": episodes["precision_before_feedback"],
        "precision_after_feedback": episodes["precision_after_feedback"],
        "event_recall_before_feedback": episodes["event_recall_before_feedback"],
        "event_recall_after_feedback": episodes["event_recall_after_feedback"],
        "fault_vs_event_alerted": episodes["fault_vs_event_alerted"],
        "records_per_second": t["records_per_second"],
        "engine_records_per_second": t["engine_records_per_second"],
        "single_series_rows_per_second": one["single_series_rows_per_second"],
        "alert_latency_seconds": lat.get("alert_latency_seconds"),
        "cloud_worst_case_alert_seconds": lat.get("cloud_worst_case_seconds"),
        "seed": args.seed,
        "tune_seeds": tune_seeds,
        "tune_f1": vigil["tune_f1"],
    }
    (OUT / "metrics.json").write_text(
        json.dumps(
            {
                **result,
                "detail": q,
                "episodes": episodes,
                "throughput": t,
                "single_series": one,
                "latency": lat,
            },
            indent=1,
        )
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
