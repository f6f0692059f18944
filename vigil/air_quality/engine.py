"""The streaming anomaly detector: one small model per (measure, dimension values) series.

Per series, on a square-root scale for non-negative series (it stabilises the variance of
concentrations, which grows with their level; ``log`` and ``none`` are options), a double-seasonal
Holt-Winters model in error-correction form learns

    expected = level + phi * trend + daily[slot of day] + weekly[slot of week]

where ``weekly`` holds each week slot's deviation from the daily profile (weekends differ from
weekdays). After a gap the residual scale is inflated as for a random walk (the level is stale).
Updates use Huber-clipped residuals so an outlier barely moves the model, and are damped
further for a severe interval (``damp_severity``, independent of the alert threshold, so a
backtest scores what the live detector does at any threshold) — unless ``relevel_run`` severe
intervals in a row sit on the same side: then the level follows (a new level, not an outlier). The
residual scale is learnt per slot of day (rush hours are noisier than nights) as an exponentially
weighted mean absolute residual.

Across measures: the measures of one place (the same dimension values) move together (traffic
raises CO, NOx and benzene at once). Per place, the engine learns the covariance of its measures'
standardized residuals and scores each measure's residual *conditional on the others'* (``cz``,
``_cross_z``): a faulty sensor stands out far more than on its own, while an event that moves
every measure together is explained by the others.

Each closed interval gets a z-equivalent statistic, the largest of

* the standardized residual ``|z|`` (spikes, dips),
* an EWMA of z (level shifts),
* the distance of the fast level from a slow baseline level, in units of its own learnt spread
  (slow drifts the fast level would otherwise follow),
* the square root of an EWMA of z² (variance bursts),
* a run of identical values (stuck sensors),
* a spike confirmation once the next interval shows whether the series came back,

(all but the stuck run weighted by ``univariate_gain``) and their cross-measure counterparts on
``cz`` (``|cz|``, its EWMA, the root of the EWMA of cz², and the confirmation of a one-interval
excursion ``|cz[t-1] - cz[t]| / sqrt 2``), mapped linearly to a severity 0-100 (``z_floor`` → 0,
``z_ceiling`` → 100).

The continuous path is vectorised: records are aggregated per batch with numpy group-bys, and the
per-series model math (``kernel.py``, compiled with numba where it is installed) scores an interval
for every series in two loops around the cross-measure numpy code. With one measure the series are
independent and one compiled loop scores a whole run of intervals (a long backtest). State is a
handful of numpy arrays (about 2 KB per series at hourly resolution), serialised with
``to_bytes``/``from_bytes`` and updated in place.

Time handling: an interval ``[t, t + interval)`` closes when the watermark (the latest record time
seen) passes ``t + interval + lateness``. Records for closed intervals are late and are returned to
the caller to route to the error prefix. A record with the same dimension values and timestamp as
one already counted is a duplicate (at-least-once delivery) and is counted once. Intervals without
data advance the model (level follows the damped trend) without being scored.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from vigil.air_quality import kernel
from vigil.air_quality.config import MINUTES_PER_DAY, DetectorConfig
from vigil.air_quality.kernel import ANOMALY, OK, WARMUP
from vigil.air_quality.records import DIM_SEPARATOR, Batch, Reject

STATE_VERSION = 8
MISSING = 3
STATUS_NAMES = {OK: "ok", ANOMALY: "anomaly", WARMUP: "warmup", MISSING: "missing"}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# columns of Detector.aux: spike confirmation (0-4), cross-measure (5-8), covariance row (9-)
_AUX_CROSS, _AUX_XCOV, _AUX_INIT = kernel.AUX_CROSS, kernel.AUX_XCOV, kernel.AUX_INIT
_REASONS = (
    "spike or dip",
    "level shift",
    "drift",
    "variance burst",
    "stuck sensor",
    "spike or dip (previous interval)",
    "departs from the location's other measures",
    "level shift against the location's other measures",
    "variance burst against the location's other measures",
    "spike or dip against the location's other measures (previous interval)",
    "a pattern unlike the series' recent history",
)


def minute_to_iso(minute: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(minutes=int(minute))).strftime("%Y-%m-%dT%H:%M")


@dataclass
class Anomaly:
    interval_start: str
    measure: str
    dimensions: dict[str, str]
    observed: float
    expected: float
    z: float
    severity: float
    reason: str

    @property
    def series(self) -> str:
        return series_label(self.measure, self.dimensions)


@dataclass
class AnomalyGroup:
    """Anomalies of one interval across series, with each dimension value's contribution (%)."""

    interval_start: str
    interval_end: str
    severity: float
    anomalies: list[Anomaly]
    contributions: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def merge_groups(groups: list[AnomalyGroup]) -> list[AnomalyGroup]:
    """One group per interval from groups of several engines (the shards of one object).

    A group alone for its interval is kept as it is; merged ones get their contributions again
    from their anomalies' (rounded) severities, as ``Detector.groups`` weighs them.
    """
    by_interval: dict[str, list[AnomalyGroup]] = {}
    for group in groups:
        by_interval.setdefault(group.interval_start, []).append(group)
    out = []
    for start in sorted(by_interval):
        parts = by_interval[start]
        if len(parts) == 1:
            out.append(parts[0])
            continue
        anomalies = sorted((a for g in parts for a in g.anomalies), key=lambda a: -a.severity)
        weights: dict[str, dict[str, float]] = {}
        for a in anomalies:
            for dim, value in a.dimensions.items():
                weights.setdefault(dim, {})
                weights[dim][value] = weights[dim].get(value, 0.0) + a.severity
        contributions = {
            dim: {v: round(100.0 * w / (sum(values.values()) or 1.0), 1) for v, w in values.items()}
            for dim, values in weights.items()
        }
        out.append(
            AnomalyGroup(
                interval_start=start,
                interval_end=parts[0].interval_end,
                severity=max(g.severity for g in parts),
                anomalies=anomalies,
                contributions=contributions,
            )
        )
    return out


def series_label(measure: str, dimensions: dict[str, str]) -> str:
    dims = ",".join(f"{k}={v}" for k, v in dimensions.items())
    return f"{measure}[{dims}]" if dims else measure


@dataclass
class ClosedInterval:
    """Scores of one closed interval for every series that had data (others: status missing)."""

    start: int  # minutes since the epoch
    sid: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    z: np.ndarray
    severity: np.ndarray
    status: np.ndarray
    reason: np.ndarray  # index into _REASONS


@dataclass
class IngestResult:
    received: int
    accepted: int
    duplicates: int
    sentinels: int
    late: list[Reject]
    closed: list[ClosedInterval]


class Detector:
    def __init__(self, config: DetectorConfig):
        self.config = config
        self.p = config.model
        self._params = kernel.params_from(config)
        # one measure: series never interact, so a run of intervals is scored in one kernel call
        self.independent = len(config.measures) == 1
        self.interval = config.interval_minutes
        self.slot_minutes = config.slot_minutes
        self.n_daily = MINUTES_PER_DAY // self.slot_minutes
        self.n_weekly = 7 * self.n_daily
        self.series: list[tuple[int, str]] = []  # (measure index, dimension key)
        self._index: dict[tuple[int, str], int] = {}
        self.measure_of = np.zeros(0, dtype=np.int64)
        self._dim_index = pd.Index([], dtype=object)  # dimension key → row of _sid_table
        self._sid_table = np.zeros((0, len(config.measures)), dtype=np.int64)
        self.watermark: int | None = None  # latest record minute seen
        self.last_closed: int | None = None  # interval index closed through
        z = np.zeros
        self.level, self.trend, self.slow = z(0), z(0), z(0)
        self.daily, self.weekly = z((0, self.n_daily)), z((0, self.n_weekly))
        self.scale = z((0, self.n_daily))
        self.ew_z, self.ew_z2 = z(0), z(0)
        self.last_raw = z(0)
        self.last_iv = z(0, dtype=np.int64)  # interval of each series' latest observation
        self.stuck = z(0, dtype=np.int64)
        # per series: the drift statistic's scale, then the spike confirmation's state: the
        # deseasonalised values of the last two intervals (NaN: not adjacent or already flagged),
        # the residual scale used for the last one, and the learnt ratio of the interpolation
        # residual's scale to it; then the cross-measure state: the EWMAs of the conditional
        # residual (shifts, bursts), the run of severe intervals on one side (signed), the last
        # conditional residual (NaN: flagged), and the learnt covariance of the series'
        # standardized residual with each measure's at the same dimension values (its row of the
        # location's M x M matrix). One array: fewer entries keep the serialised state small.
        self.aux = z((0, _AUX_XCOV + len(config.measures)))
        self.loc_of = z(0, dtype=np.int64)  # row of each series' dimension key (not state)
        self.nobs = z(0, dtype=np.int64)
        self.offset = z(0)  # log transform: yt = log1p(y / offset); 0 → no transform
        # the novelty statistic's ring of each series' recent raw values (float32: half the state)
        history = config.model.novelty_history if config.novelty_window else 0
        self.recent = z((0, history), dtype=np.float32)
        bins = kernel.NOVELTY_BINS if config.novelty_window else 0
        self.novelty_counts = z((0, bins))  # and the histogram of its distances
        # open (not yet closed) intervals: aggregated partial sums, and record hashes for dedup
        self.ob_iv = z(0, dtype=np.int64)
        self.ob_sid = z(0, dtype=np.int64)
        self.ob_sum, self.ob_cnt = z(0), z(0)
        self.seen_h = z(0, dtype=np.uint64)
        self.seen_iv = z(0, dtype=np.int64)
        # the service's bookkeeping kept with the shard's state and committed with it (open
        # anomaly episodes, silent series): JSON, never read by the scoring
        self.annotations: dict = {}

    # --- series bookkeeping -----------------------------------------------------------------
    def _dimension_rows(self, dim_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per record, the row of its dimension key in ``_sid_table`` (new keys get a row)."""
        codes, uniques = pd.factorize(dim_keys)
        rows = self._dim_index.get_indexer(uniques)
        new = rows < 0
        if new.any():
            fresh = pd.Index(np.asarray(uniques)[new], dtype=object)
            start = len(self._dim_index)
            self._dim_index = self._dim_index.append(fresh)
            rows[new] = np.arange(start, start + len(fresh))
            pad = np.full((len(fresh), len(self.config.measures)), -1, dtype=np.int64)
            self._sid_table = np.concatenate([self._sid_table, pad])
        return codes, rows

    def _series_ids(self, measure: int, codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Series ids for one measure of records given as (unique-key code, key row)."""
        used = np.flatnonzero(np.bincount(codes, minlength=len(rows)))
        sids = self._sid_table[rows[used], measure]
        unknown = sids < 0
        if unknown.any():
            keys = [self._dim_index[r] for r in rows[used][unknown]]
            sids[unknown] = self._add_series(measure, keys, rows[used][unknown])
            self._sid_table[rows[used][unknown], measure] = sids[unknown]
        table = np.full(len(rows), -1, dtype=np.int64)
        table[used] = sids
        return table[codes]

    def _add_series(self, measure: int, keys: list[str], rows: np.ndarray) -> np.ndarray:
        """Append new series (all at once: arrays grow once per batch, not once per series)."""
        first = len(self.series)
        for offset, key in enumerate(keys):
            self.series.append((measure, key))
            self._index[(measure, key)] = first + offset
        k = len(keys)
        self.measure_of = np.concatenate([self.measure_of, np.full(k, measure, dtype=np.int64)])

        def grow(a, fill=0.0):
            return np.concatenate([a, np.full((k, *a.shape[1:]), fill, dtype=a.dtype)])

        self.level, self.trend, self.slow = grow(self.level), grow(self.trend), grow(self.slow)
        self.daily, self.weekly, self.scale = grow(self.daily), grow(self.weekly), grow(self.scale)
        self.ew_z, self.ew_z2 = grow(self.ew_z), grow(self.ew_z2, 1.0)
        self.last_raw = grow(self.last_raw, np.nan)
        self.last_iv = grow(self.last_iv, -1)
        self.stuck, self.nobs = grow(self.stuck), grow(self.nobs, -1)
        self.aux = grow(self.aux, np.nan)
        self.aux[first:, :_AUX_XCOV] = _AUX_INIT
        self.aux[first:, _AUX_XCOV:] = 0.0
        self.aux[first:, _AUX_XCOV + measure] = 1.0
        self.offset = grow(self.offset)
        self.recent = grow(self.recent, np.nan)
        self.novelty_counts = grow(self.novelty_counts)
        self.loc_of = np.concatenate([self.loc_of, np.asarray(rows, dtype=np.int64)])
        return np.arange(first, first + k, dtype=np.int64)

    def _state(self) -> kernel.State:
        """The state arrays for the kernel (the arrays themselves: it updates them in place)."""
        return kernel.State(*(getattr(self, name) for name in kernel.State._fields))

    @property
    def dev_scale(self) -> np.ndarray:
        """The drift statistic's learnt scale per series (a view: assignments update the state)."""
        return self.aux[:, 0]

    @property
    def ew_c(self) -> np.ndarray:
        """Cross-measure EWMAs, severe run and last conditional residual (a view of the state)."""
        return self.aux[:, _AUX_CROSS:_AUX_XCOV]

    @property
    def xcov(self) -> np.ndarray:
        """Per series, its residual's learnt covariance with each measure's (a view)."""
        return self.aux[:, _AUX_XCOV:]

    def series_info(self, sid: int) -> tuple[str, dict[str, str]]:
        measure, key = self.series[sid]
        values = key.split(DIM_SEPARATOR) if self.config.dimensions else []
        return self.config.measure_names[measure], dict(
            zip(self.config.dimensions, values, strict=False)
        )

    # --- ingest -------------------------------------------------------------------------------
    def ingest(self, batch: Batch, *, close: bool = True) -> IngestResult:
        """Add a validated batch; close and score every interval the watermark has passed."""
        late_rejects: list[Reject] = []
        duplicates = 0
        accepted = 0
        if len(batch):
            minutes = batch.minutes
            iv = minutes // self.interval
            late = (
                iv <= self.last_closed
                if self.last_closed is not None
                else np.zeros(len(iv), dtype=bool)
            )
            if late.any():
                late_rejects = self._late_rejects(batch, np.flatnonzero(late))
            keep = ~late
            # duplicates: same dimension values and timestamp as a record already counted
            hashes = pd.util.hash_array(batch.dim_keys) ^ (minutes.astype(np.uint64) * _GOLDEN)
            dup = pd.Series(hashes).duplicated().to_numpy().copy()
            if self.seen_h.size:
                dup |= pd.Index(self.seen_h).get_indexer(hashes) >= 0
            dup &= keep
            duplicates = int(dup.sum())
            use = keep & ~dup
            accepted = int(use.sum())
            if accepted:
                self._aggregate(iv[use], batch.dim_keys[use], batch.values[use])
                self.seen_h = np.concatenate([self.seen_h, hashes[use]])
                self.seen_iv = np.concatenate([self.seen_iv, iv[use]])
            latest = int(minutes[keep].max()) if keep.any() else None
            if latest is not None and (self.watermark is None or latest > self.watermark):
                self.watermark = latest
        closed = self.close_ready() if close else []
        return IngestResult(
            received=batch.received or len(batch),
            accepted=accepted,
            duplicates=duplicates,
            sentinels=batch.sentinels,
            late=late_rejects,
            closed=closed,
        )

    def _late_rejects(self, batch: Batch, rows: np.ndarray) -> list[Reject]:
        out = []
        for i in rows:
            record = {"minute_iso": minute_to_iso(batch.minutes[i])}
            if self.config.dimensions:
                record.update(
                    zip(
                        self.config.dimensions,
                        str(batch.dim_keys[i]).split(DIM_SEPARATOR),
                        strict=False,
                    )
                )
            for j, name in enumerate(self.config.measure_names):
                value = batch.values[i, j]
                record[name] = None if np.isnan(value) else float(value)
            out.append(
                Reject(
                    json.dumps(record),
                    f"late: interval {minute_to_iso(batch.minutes[i] // self.interval * self.interval)}"
                    f" was already closed (allowed lateness {self.config.lateness_minutes} min)",
                )
            )
        return out

    def _aggregate(self, iv: np.ndarray, dim_keys: np.ndarray, values: np.ndarray) -> None:
        parts_iv, parts_sid, parts_v = [self.ob_iv], [self.ob_sid], [self.ob_sum]
        parts_c = [self.ob_cnt]
        codes, rows = self._dimension_rows(dim_keys)
        for j in range(values.shape[1]):
            col = values[:, j]
            finite = ~np.isnan(col)
            if not finite.any():
                continue
            sid = self._series_ids(j, codes[finite], rows)
            parts_iv.append(iv[finite])
            parts_sid.append(sid)
            parts_v.append(col[finite])
            parts_c.append(np.ones(int(finite.sum())))
        all_iv = np.concatenate(parts_iv)
        all_sid = np.concatenate(parts_sid)
        n = max(len(self.series), 1)
        key = all_iv * n + all_sid
        inverse, uniq = pd.factorize(key)
        self.ob_sum = np.bincount(inverse, weights=np.concatenate(parts_v), minlength=len(uniq))
        self.ob_cnt = np.bincount(inverse, weights=np.concatenate(parts_c), minlength=len(uniq))
        uniq = np.asarray(uniq, dtype=np.int64)
        self.ob_iv = uniq // n
        self.ob_sid = uniq % n

    # --- closing and scoring -----------------------------------------------------------------
    def close_ready(self) -> list[ClosedInterval]:
        if self.watermark is None:
            return []
        bound = (self.watermark - self.config.lateness_minutes) // self.interval
        return self._close_until(bound)

    def flush(self) -> list[ClosedInterval]:
        """Close every open interval (end of a backtest file)."""
        if not self.ob_iv.size:
            return []
        return self._close_until(int(self.ob_iv.max()) + 1)

    def _close_until(self, bound: int) -> list[ClosedInterval]:
        """Close intervals with index < bound, in time order."""
        ready = self.ob_iv < bound
        if self.last_closed is None:
            if not ready.any():
                return []
            self.last_closed = int(self.ob_iv[ready].min()) - 1
        if bound <= self.last_closed + 1:
            return []
        iv_r, sid_r = self.ob_iv[ready], self.ob_sid[ready]
        agg = self._aggregate_values(sid_r, self.ob_sum[ready], self.ob_cnt[ready])
        order = np.argsort(iv_r, kind="stable")
        closed = self.score_intervals(iv_r[order], sid_r[order], agg[order])
        cursor = self.last_closed + 1
        if bound > cursor:
            self._advance_missing(bound - cursor)
        self.last_closed = bound - 1
        keep = ~ready
        self.ob_iv, self.ob_sid = self.ob_iv[keep], self.ob_sid[keep]
        self.ob_sum, self.ob_cnt = self.ob_sum[keep], self.ob_cnt[keep]
        seen_keep = self.seen_iv > self.last_closed
        self.seen_h, self.seen_iv = self.seen_h[seen_keep], self.seen_iv[seen_keep]
        return closed

    def score_intervals(
        self, iv: np.ndarray, sid: np.ndarray, y: np.ndarray
    ) -> list[ClosedInterval]:
        """Close and score the intervals of rows (interval, series, aggregated value) sorted by
        interval, all after ``last_closed``: the intervals between them advance without data.
        Independent series (one measure) run in one compiled loop; otherwise interval by
        interval, with the cross-measure residual between the kernel's two phases."""
        if not iv.size:
            return []
        iv = np.ascontiguousarray(iv, dtype=np.int64)
        sid = np.ascontiguousarray(sid, dtype=np.int64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        cursor = int(iv[0]) if self.last_closed is None else self.last_closed + 1
        cuts = np.flatnonzero(np.diff(iv)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [iv.size]])
        closed = []
        if self.independent:
            expected, z, severity, status, reason = kernel.score_sequence(
                self._state(), self._params, self.interval, self.slot_minutes, cursor, iv, sid, y
            )
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
                closed.append(
                    ClosedInterval(
                        start=int(iv[a]) * self.interval,
                        sid=sid[a:b],
                        observed=y[a:b],
                        expected=expected[a:b],
                        z=z[a:b],
                        severity=severity[a:b],
                        status=status[a:b],
                        reason=reason[a:b],
                    )
                )
        else:
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
                target = int(iv[a])
                if target > cursor:
                    self._advance_missing(target - cursor)
                closed.append(self._score(target, sid[a:b], y[a:b]))
                cursor = target + 1
        self.last_closed = int(iv[-1])
        return closed

    def _aggregate_values(self, sid: np.ndarray, sums: np.ndarray, counts: np.ndarray):
        if not sid.size:
            return sums
        is_sum = np.array([m.aggregation == "SUM" for m in self.config.measures])
        is_sum = is_sum[self.measure_of[sid]]
        return np.where(is_sum, sums, sums / np.maximum(counts, 1))

    def _advance_missing(self, k: int, mask: np.ndarray | None = None) -> None:
        """k intervals without data: level follows the damped trend, nothing is learnt."""
        if mask is None:
            mask = np.ones(len(self.series), dtype=bool)
        kernel.advance_missing(self._state(), self._params, k, mask)

    def _transform(self, sid: np.ndarray, y: np.ndarray) -> np.ndarray:
        """offset > 0: log1p(y / offset); offset < 0: sqrt(y / -offset); 0: identity."""
        return kernel.transform_many(self.offset, sid, np.asarray(y, dtype=np.float64))

    def _inverse(self, sid: np.ndarray, yt: np.ndarray) -> np.ndarray:
        return kernel.inverse_many(self.offset, sid, np.asarray(yt, dtype=np.float64))

    def _slots(self, iv: int) -> tuple[int, int]:
        return kernel.slots(iv, self.interval, self.slot_minutes, self.n_daily)

    def _init_series(self, sid: np.ndarray, y: np.ndarray) -> None:
        kernel.init_series(self._state(), self._params, sid, np.asarray(y, dtype=np.float64))

    def _cross_z(
        self, sid: np.ndarray, z: np.ndarray, adjacent: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each series' residual conditional on the other measures' at the same dimension values.

        The standardized residuals ``z`` of a location's measures are modelled as Gaussian with
        the learnt covariance ``C``; with ``P = C^-1`` the statistic ``(P z)_i / sqrt(P_ii)`` is the
        likelihood-ratio test for an outlier in measure ``i`` alone (its residual minus what the
        others predict, in units of the conditional spread). A pollution event moves every measure
        together and barely moves it; a sensor fault moves one measure and stands out far more
        than its own ``z`` (the others explain most of the normal variation). The largest one per
        location is the likeliest culprit: every other measure is conditioned without it, so one
        faulty sensor does not make its neighbours look anomalous. Where a location has one
        measure this interval, there is no such statistic (NaN: no cross-measure reason can fire);
        so it is for a series back from a gap (its residual spans the gap, the others' one
        interval: they do not explain each other, and it takes no part in the others'). Returns
        it, and the location's row of the (locations x measures) matrix for each series.
        """
        m_count = len(self.config.measures)
        cz = np.full_like(z, np.nan)
        if m_count == 1 or not sid.size:
            return cz, np.zeros(sid.size, dtype=np.int64)
        m = self.measure_of[sid]
        _, inv = np.unique(self.loc_of[sid], return_inverse=True)
        n_loc = int(inv.max()) + 1
        present = np.zeros((n_loc, m_count), dtype=bool)
        present[inv, m] = adjacent
        multi = present.sum(axis=1) >= 2
        rows = multi[inv] & adjacent
        if not rows.any():
            return cz, inv
        eye = np.eye(m_count)
        cov = np.broadcast_to(eye, (n_loc, m_count, m_count)).copy()
        cov[inv, m, :] = self.xcov[sid]
        zz = np.zeros((n_loc, m_count))
        zz[inv, m] = np.clip(z, -self.p.cross_clip * 2, self.p.cross_clip * 2)
        cov = 0.5 * (cov + cov.transpose(0, 2, 1))
        idx = np.arange(m_count)
        cov[:, idx, idx] = np.maximum(cov[:, idx, idx], 1e-3) * (1.0 + self.p.cross_ridge)

        def conditional(keep: np.ndarray) -> np.ndarray:
            both = keep[:, :, None] & keep[:, None, :]
            prec = np.linalg.inv(np.where(both, cov, eye))
            pz = np.einsum("lij,lj->li", prec, np.where(keep, zz, 0.0))
            return pz / np.sqrt(prec[:, idx, idx])

        full = conditional(present)
        culprit = np.where(present, np.abs(full), -1.0).argmax(axis=1)
        others = present.copy()
        others[np.arange(n_loc), culprit] = False
        rest = conditional(others)
        pick = np.where(m == culprit[inv], full[inv, m], rest[inv, m])
        cz[rows] = pick[rows]
        return cz, inv

    def _learn_cross(self, sid: np.ndarray, z: np.ndarray, inv: np.ndarray, calm: np.ndarray):
        """EW covariance of the calm series' (clipped) residuals with their location's others."""
        m_count = len(self.config.measures)
        if m_count == 1 or not calm.any():
            return
        n_loc = int(inv.max()) + 1
        zz = np.full((n_loc, m_count), np.nan)
        clip = self.p.cross_clip
        zz[inv[calm], self.measure_of[sid[calm]]] = np.clip(z[calm], -clip, clip)
        rows = zz[inv[calm]]
        seen = np.isfinite(rows)
        prod = np.where(seen, zz[inv[calm], self.measure_of[sid[calm]], None] * rows, 0.0)
        s = sid[calm]
        rho = self.p.cross_rho
        self.xcov[s] = np.where(seen, (1 - rho) * self.xcov[s] + rho * prod, self.xcov[s])

    def _score(self, iv: int, sid: np.ndarray, y: np.ndarray) -> ClosedInterval:
        """Score one interval for the series with data (``sid``); the others advance."""
        st, params = self._state(), self._params
        new = self.nobs[sid] < 0
        if new.any():
            self._init_series(sid[new], y[new])
        missing = np.ones(len(self.series), dtype=bool)
        missing[sid] = False
        missing &= self.nobs >= 0
        if missing.any():
            self._advance_missing(1, missing)
        d, w = self._slots(iv)
        pred, e, sc, sc_gap, z, u, adjacent = kernel.forecast(st, params, iv, d, w, sid, y)
        if self.independent:
            cz, loc_rows = np.full_like(z, np.nan), None
        else:
            cz, loc_rows = self._cross_z(sid, z, adjacent)
        expected, z_out, severity, status, reason, calm = kernel.update(
            st, params, iv, d, w, sid, y, new, pred, e, sc, sc_gap, z, u, adjacent, cz
        )
        if not self.independent:
            self._learn_cross(sid, z, loc_rows, calm & adjacent)
        return ClosedInterval(
            start=iv * self.interval,
            sid=sid,
            observed=y,
            expected=expected,
            z=z_out,
            severity=severity,
            status=status,
            reason=reason,
        )

    # --- learning from history ----------------------------------------------------------------
    def learn(self, batch: Batch) -> int:
        """Learn from history before going live: initialise profiles robustly, then replay."""
        self.ingest(batch, close=False)
        if not self.ob_iv.size:
            return 0
        agg = self._aggregate_values(self.ob_sid, self.ob_sum, self.ob_cnt)
        frame = pd.DataFrame({"iv": self.ob_iv, "sid": self.ob_sid, "y": agg})
        for sid_value, part in frame.groupby("sid"):
            sid = np.array([int(sid_value)])
            y = part["y"].to_numpy()
            # the transform's unit: the history's typical magnitude (zero only if all zeros);
            # a negative value anywhere in it means no transform
            magnitude = max(float(np.median(np.abs(y))), float(np.mean(np.abs(y))))
            self._init_series(sid, np.array([magnitude if y.min() >= 0 else -magnitude]))
            yt = self._transform(np.repeat(sid, len(y)), y)
            minute = part["iv"].to_numpy() * self.interval
            d = (minute % MINUTES_PER_DAY) // self.slot_minutes
            w = ((minute // MINUTES_PER_DAY + 3) % 7) * self.n_daily + d
            base = float(np.median(yt))
            resid = yt - base
            daily = pd.Series(resid).groupby(d).median()
            self.daily[sid[0], daily.index.to_numpy()] = daily.to_numpy()
            resid2 = resid - self.daily[sid[0], d]
            grouped = pd.Series(resid2).groupby(w)
            shrink = grouped.count() / (grouped.count() + 3.0)
            weekly = grouped.median() * shrink
            self.weekly[sid[0], weekly.index.to_numpy()] = weekly.to_numpy()
            resid3 = resid2 - self.weekly[sid[0], w]
            deviation = np.abs(resid3 - np.median(resid3))
            # the MAD is 0 for zero-heavy or quantised history; the mean deviation is not
            spread = max(
                float(np.median(deviation)) * 1.4826,
                float(np.mean(deviation)) * 0.5 * kernel.MAD_TO_SIGMA,
                1e-6,
            )
            self.scale[sid[0]] = spread
            self.dev_scale[sid[0]] = spread
            steps = np.abs(np.diff(y))
            steps = steps[steps > 0]
            self.aux[sid[0], kernel.AUX_RESOLUTION] = steps.min() if steps.size else np.inf
            self.level[sid[0]] = base
            self.slow[sid[0]] = base
            self.nobs[sid[0]] = 0
            self.last_raw[sid[0]] = np.nan
            self.aux[sid[0], 1:3] = np.nan
        self.last_closed = int(self.ob_iv.min()) - 1
        closed = self.flush()
        return len(closed)

    # --- state --------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {
            "version": STATE_VERSION,
            "config": self.config.model_dump(mode="json"),
            "series": self.series,
            "watermark": self.watermark,
            "last_closed": self.last_closed,
            "annotations": self.annotations,
        }
        buffer = io.BytesIO()
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        np.savez_compressed(
            buffer, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, config: DetectorConfig | None = None) -> Detector:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["meta"]).decode())
            if meta["version"] != STATE_VERSION:
                raise ValueError(f"detector state version {meta['version']} != {STATE_VERSION}")
            stored = DetectorConfig.model_validate(meta["config"])
            config = config or stored
            if (config.interval_minutes, config.measure_names, config.dimensions) != (
                stored.interval_minutes,
                stored.measure_names,
                stored.dimensions,
            ):
                raise ValueError(
                    "stored detector state was learnt with another interval, measures or "
                    "dimensions; relearn from history"
                )
            det = cls(config)
            for name in _ARRAYS:
                setattr(det, name, npz[name].copy())
        det.series = [(int(m), str(k)) for m, k in meta["series"]]
        det._index = {s: i for i, s in enumerate(det.series)}
        det.measure_of = np.array([m for m, _ in det.series], dtype=np.int64)
        keys = list(dict.fromkeys(k for _, k in det.series))
        det._dim_index = pd.Index(keys, dtype=object)
        det._sid_table = np.full((len(keys), len(config.measures)), -1, dtype=np.int64)
        row = {k: i for i, k in enumerate(keys)}
        for sid, (m, k) in enumerate(det.series):
            det._sid_table[row[k], m] = sid
        det.loc_of = np.array([row[k] for _, k in det.series], dtype=np.int64)
        det.watermark = meta["watermark"]
        det.last_closed = meta["last_closed"]
        det.annotations = meta.get("annotations", {})
        return det

    # --- results ------------------------------------------------------------------------------
    def groups(self, closed: list[ClosedInterval]) -> list[AnomalyGroup]:
        """One group per interval with anomalies, with dimension-value contributions."""
        out = []
        if not closed:
            return out
        # the intervals with an anomaly, found at once (a backtest closes many thousands)
        flagged = np.concatenate([c.status for c in closed]) == ANOMALY
        owner = np.repeat(np.arange(len(closed)), [c.status.size for c in closed])
        for k in np.unique(owner[flagged]).tolist():
            interval = closed[k]
            rows = np.flatnonzero(interval.status == ANOMALY)
            anomalies = []
            weights: dict[str, dict[str, float]] = {d: {} for d in self.config.dimensions}
            for r in rows:
                measure, dims = self.series_info(int(interval.sid[r]))
                z = float(interval.z[r])
                anomalies.append(
                    Anomaly(
                        interval_start=minute_to_iso(interval.start),
                        measure=measure,
                        dimensions=dims,
                        observed=round(float(interval.observed[r]), 6),
                        expected=round(float(interval.expected[r]), 6),
                        z=round(z, 3),
                        severity=round(float(interval.severity[r]), 1),
                        reason=_REASONS[int(interval.reason[r])],
                    )
                )
                weight = float(interval.severity[r])
                for dim, value in dims.items():
                    weights[dim][value] = weights[dim].get(value, 0.0) + weight
            contributions = {
                dim: {v: round(100.0 * w / sum(values.values()), 1) for v, w in values.items()}
                for dim, values in weights.items()
                if values
            }
            anomalies.sort(key=lambda a: -a.severity)
            out.append(
                AnomalyGroup(
                    interval_start=minute_to_iso(interval.start),
                    interval_end=minute_to_iso(interval.start + self.interval),
                    severity=max(a.severity for a in anomalies),
                    anomalies=anomalies,
                    contributions=contributions,
                )
            )
        return out

    def band(self, interval: ClosedInterval, sigmas: float) -> tuple[np.ndarray, np.ndarray]:
        """The expected value ± ``sigmas`` forecast scales of each series of a closed interval,
        on the data's scale (NaN where the scale is unknown: a new series, or z exactly 0).

        The forecast's scale is recovered from what was scored: z is the residual over the
        scale on the model's (transformed) scale, so scale = (T(observed) − T(expected)) / z;
        the band is T⁻¹(T(expected) ± sigmas · scale), asymmetric on the data's scale when the
        series is modelled on a square-root or log scale.
        """
        sid = interval.sid
        observed_t = self._transform(sid, interval.observed)
        expected_t = self._transform(sid, interval.expected)
        z = np.asarray(interval.z, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(
                (z != 0) & np.isfinite(z), np.abs((observed_t - expected_t) / z), np.nan
            )
        low = self._inverse(sid, expected_t - sigmas * scale)
        high = self._inverse(sid, expected_t + sigmas * scale)
        unknown = ~np.isfinite(scale)
        low[unknown], high[unknown] = np.nan, np.nan
        return low, high

    def scores_frame(self, closed: list[ClosedInterval]) -> pd.DataFrame:
        """Every scored (interval, series) as a table: the backtest's output."""
        if not closed:
            return pd.DataFrame(
                columns=["interval_start", "measure", *self.config.dimensions, "observed"]
            )
        sid = np.concatenate([c.sid for c in closed])
        start = np.repeat([c.start for c in closed], [c.sid.size for c in closed])
        frame = pd.DataFrame(
            {
                "interval_start": pd.to_datetime(start, unit="m"),
                "sid": sid,
                "observed": np.concatenate([c.observed for c in closed]),
                "expected": np.concatenate([c.expected for c in closed]),
                "z": np.concatenate([c.z for c in closed]),
                "severity": np.concatenate([c.severity for c in closed]),
                "status": pd.Categorical.from_codes(
                    np.concatenate([c.status for c in closed]),
                    categories=[STATUS_NAMES[i] for i in range(4)],
                ),
                "reason": pd.Categorical.from_codes(
                    np.concatenate([c.reason for c in closed]), categories=list(_REASONS)
                ),
            }
        )
        info = [self.series_info(i) for i in range(len(self.series))]
        measures = np.array([name for name, _ in info], dtype=object)
        frame.insert(1, "measure", measures[sid].tolist())
        for k, dim in enumerate(self.config.dimensions):
            values = np.array([dims.get(dim, "") for _, dims in info], dtype=object)
            frame.insert(2 + k, dim, values[sid].tolist())
        return frame.drop(columns="sid")


_ARRAYS = (
    "level",
    "trend",
    "slow",
    "daily",
    "weekly",
    "scale",
    "ew_z",
    "ew_z2",
    "last_raw",
    "last_iv",
    "stuck",
    "aux",
    "nobs",
    "offset",
    "recent",
    "novelty_counts",
    "ob_iv",
    "ob_sid",
    "ob_sum",
    "ob_cnt",
    "seen_h",
    "seen_iv",
)


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
