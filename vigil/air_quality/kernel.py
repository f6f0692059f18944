"""The per-series model math of the detector (``engine.py``), one series at a time, compiled.

Each function works in place on the detector's state arrays (``State``: one row per series) and
takes the model parameters as ``Params``, a named tuple of floats (numba cannot take the
pydantic model). The math is written once, as scalar loops over the series of an interval:

* ``init_series``: a series' first value sets its level and transform;
* ``advance_missing``: intervals without data, the level follows the damped trend;
* ``forecast``: phase 1 of scoring an interval, the forecast and standardized residual ``z``;
* ``update``: phase 2, the statistics, severity, status and the learning updates, given each
  series' residual conditional on its location's other measures (``cz``, computed by the engine
  with numpy between the phases; ``cz = z`` where a location has one measure);
* ``score_sequence``: a whole run of intervals of independent series (one measure: no ``cz``),
  the missing-interval advance included, in one loop: the fast path of a long backtest.

numba is optional: without it (the cloud Lambda's pandas layer has none) ``njit`` is a no-op and
the same functions run as plain Python, slower but identical.

``_clip``, ``_max``, ``_min`` and ``_sign`` follow numpy's elementwise semantics (NaN propagates),
and no operation is reordered, so compiled and plain-Python runs agree to the last bit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised by a subprocess test
    numba = None


def njit(fn):
    """Compile with numba (cached on disk) where it is installed; else plain Python."""
    if numba is None:
        return fn
    try:
        return numba.njit(cache=True)(fn)
    except RuntimeError:  # no writable cache location: compile each process instead
        return numba.njit(fn)


OK, ANOMALY, WARMUP = 0, 1, 2
TRANSFORM_NONE, TRANSFORM_LOG, TRANSFORM_SQRT = 0.0, 1.0, 2.0
MAD_TO_SIGMA = 1.2533
MINUTES_PER_DAY = 1440
SLOW_ALPHA = 0.02  # slow baseline level (about 50 intervals) for drift detection
SPIKE_RATIO0 = 0.8  # interpolation residual / forecast residual scale, before learning

RELATIVE_SCALE_FLOOR = 1e-3  # the residual scale is at least this fraction of the level
TYPICAL_RUN_HALF_LIFE_MINUTES = 5 * MINUTES_PER_DAY  # a series' longest usual run is forgotten

# columns of State.aux: the drift statistic's scale, the spike confirmation's state (the
# deseasonalised values of the last two intervals, NaN: not adjacent or already flagged; the
# residual scale used for the last one; the learnt ratio of the interpolation residual's scale to
# it), the cross-measure state (EWMAs of the conditional residual, the signed run of severe
# intervals on one side, the last conditional residual, NaN: flagged), the series' own habits
# (its resolution: the smallest non-zero change seen, inf: none yet; its longest usual run of
# repeated values; the log of its statistic's peaks threshold; the decaying peak of its recent
# rarity, which a new alert must exceed; the excess moments of its peaks; the last interval's
# rarity), the novelty statistic's own distribution (the log of its first non-zero distance, which
# anchors the histogram's bins, NaN: none yet; the weight the next distance counts with, which
# grows as older ones fade; the histogram's total weight; the values the ring has taken, gap
# markers included), then the covariance row
AUX_DEV_SCALE, AUX_U1, AUX_U2, AUX_SC1, AUX_RATIO = 0, 1, 2, 3, 4
AUX_EW_CZ, AUX_EW_CZ2, AUX_RUN, AUX_LAST_CZ = 5, 6, 7, 8
AUX_RESOLUTION, AUX_TYPICAL_RUN, AUX_LOG_TAIL, AUX_ALERT_PEAK = 9, 10, 11, 12
AUX_EXCESS_M1, AUX_EXCESS_M2, AUX_LAST_RARITY = 13, 14, 15
AUX_NOVEL_ANCHOR, AUX_NOVEL_UNIT, AUX_NOVEL_TOTAL = 16, 17, 18
AUX_NOVEL_COUNT = 19
AUX_CROSS, AUX_XCOV = 5, 20
_NOVELTY_INIT = (np.nan, 1.0, 0.0, 0.0)
AUX_INIT = np.array(
    [
        0.0,
        np.nan,
        np.nan,
        1.0,
        SPIKE_RATIO0,
        0.0,
        1.0,
        0.0,
        np.nan,
        np.inf,
        *[0.0] * 6,
        *_NOVELTY_INIT,
    ]
)
REASON_NOVEL = 10  # the last few values form a pattern unlike any in the series' recent history
EXCESS_RHO = 0.01  # the excess moments follow about the last 100 peaks
# the novelty distances' histogram: bins of log(distance / anchor) over +-NOVELTY_LOG_SPAN (a
# distance of exactly 0, a repeat of an earlier pattern, has bin 0); a distance counts for half as
# much after NOVELTY_HALF_LIVES times the series' history, and rarity needs NOVELTY_MIN_COUNT
NOVELTY_BINS = 64
NOVELTY_LOG_SPAN = 12.0
NOVELTY_HALF_LIVES = 2.0
NOVELTY_MIN_COUNT = 50.0


class State(NamedTuple):
    """The detector's per-series state arrays (views of the engine's, updated in place)."""

    level: np.ndarray  # [series] float
    trend: np.ndarray
    slow: np.ndarray  # slow baseline level (drift)
    daily: np.ndarray  # [series, slots of a day]
    weekly: np.ndarray  # [series, slots of a week]: deviation from the daily profile
    scale: np.ndarray  # [series, slots of a day]: residual scale
    ew_z: np.ndarray
    ew_z2: np.ndarray
    last_raw: np.ndarray
    last_iv: np.ndarray  # int: interval of the latest observation, -1: none
    stuck: np.ndarray  # int: run of identical values
    aux: np.ndarray  # [series, AUX_XCOV + measures], columns above
    nobs: np.ndarray  # int: scored intervals, -1: not initialised
    offset: np.ndarray  # transform: > 0 log1p(y / offset), < 0 sqrt(y / -offset), 0 identity,
    # NaN: a non-negative series that has shown only zeros (its scale is not known yet)
    recent: np.ndarray  # [series, novelty_history] float32 ring of raw values, by nobs
    novelty_counts: np.ndarray  # [series, NOVELTY_BINS] histogram of the novelty distances


class Params(NamedTuple):
    """``ModelParams`` and the alerting settings as floats."""

    alpha: float
    beta: float
    phi: float
    gamma_daily: float
    gamma_weekly: float
    rho_scale: float
    huber: float
    shift_lambda: float
    shift_gain: float
    variance_lambda: float
    variance_gain: float
    spike_gain: float
    univariate_gain: float
    cross_gain: float
    cross_spike_gain: float
    damp_severity: float
    relevel_run: float
    stuck_run: float
    stuck_z: float
    z_floor: float
    z_ceiling: float
    variance_cap: float
    tail_share: float
    tail_rate: float
    rare_decades: float
    typical_run_decay: float  # per interval
    alert_decay: float  # per interval, of the severity peak a new alert must exceed
    alert_worsening: float  # times that peak's rarity (beyond tail_share) a new alert must reach
    transform: float  # TRANSFORM_*
    warm_after: float  # scored intervals before a series may alert
    severity_threshold: float
    novelty_window: int  # values in the pattern the novelty statistic compares (0: off)
    novelty_growth: float  # per distance, of the weight the next one counts with


def params_from(config) -> Params:
    """The kernel's parameters from a ``DetectorConfig``."""
    p = config.model
    transform = {"none": TRANSFORM_NONE, "log": TRANSFORM_LOG}.get(p.transform, TRANSFORM_SQRT)
    return Params(
        alpha=p.alpha,
        beta=p.beta,
        phi=p.phi,
        gamma_daily=p.gamma_daily,
        gamma_weekly=p.gamma_weekly,
        rho_scale=p.rho_scale,
        huber=p.huber,
        shift_lambda=p.shift_lambda,
        shift_gain=p.shift_gain,
        variance_lambda=p.variance_lambda,
        variance_gain=p.variance_gain,
        spike_gain=p.spike_gain,
        univariate_gain=p.univariate_gain,
        cross_gain=p.cross_gain,
        cross_spike_gain=p.cross_spike_gain,
        damp_severity=p.damp_severity,
        relevel_run=float(p.relevel_run),
        stuck_run=float(p.stuck_run),
        stuck_z=p.stuck_z,
        z_floor=p.z_floor,
        z_ceiling=p.z_ceiling,
        variance_cap=p.variance_cap,
        tail_share=p.tail_share,
        tail_rate=p.tail_rate,
        rare_decades=-math.log10(p.severity_100_probability),
        typical_run_decay=0.5 ** (config.interval_minutes / TYPICAL_RUN_HALF_LIFE_MINUTES),
        alert_decay=0.5 ** (config.interval_minutes / config.alert_memory_minutes),
        alert_worsening=config.alert_worsening,
        transform=transform,
        warm_after=float(max(config.warmup_intervals, 1)),
        severity_threshold=config.severity_threshold,
        novelty_window=config.novelty_window,
        novelty_growth=2.0 ** (1.0 / max(NOVELTY_HALF_LIVES * p.novelty_history, 1.0)),
    )


# --- numpy's elementwise semantics for scalars (NaN propagates) -------------------------------
@njit
def _clip(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


@njit
def _max(a, b):
    if a != a or b != b:
        return math.nan
    return a if a >= b else b


@njit
def _min(a, b):
    if a != a or b != b:
        return math.nan
    return a if a <= b else b


@njit
def _sign(x):
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x  # 0 or NaN


# --- transform, slots --------------------------------------------------------------------------
@njit
def transform(y, off):
    """offset > 0: log1p(y / offset); offset < 0: sqrt(y / -offset); 0 or NaN: identity."""
    if off > 0:
        return math.log1p(_max(y, 0.0) / off)
    if off < 0:
        return math.sqrt(_max(y, 0.0) / -off)
    return y


@njit
def inverse(yt, off):
    if off > 0:
        return off * math.expm1(yt)
    if off < 0:
        return -off * _max(yt, 0.0) ** 2
    return yt


@njit
def transform_many(offset, sid, y):
    out = np.empty(y.size)
    for r in range(y.size):
        out[r] = transform(y[r], offset[sid[r]])
    return out


@njit
def inverse_many(offset, sid, yt):
    out = np.empty(yt.size)
    for r in range(yt.size):
        out[r] = inverse(yt[r], offset[sid[r]])
    return out


@njit
def slots(iv, interval, slot_minutes, n_daily):
    """Slot of the day and of the week of interval ``iv``."""
    minute = iv * interval
    day = minute // MINUTES_PER_DAY
    slot = (minute % MINUTES_PER_DAY) // slot_minutes
    dow = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return slot, dow * n_daily + slot


# --- series life cycle -------------------------------------------------------------------------
@njit
def _set_offset(st, p, s, magnitude):
    """Non-negative series go on the square-root (or log) scale, where the variance of a
    quantity that grows with its level is stable; ``magnitude`` (> 0) makes it unit-free. A
    series of zeros waits (NaN) for its first non-zero value to set it."""
    if p.transform == TRANSFORM_NONE:
        st.offset[s] = 0.0
    elif magnitude <= 0.0:
        st.offset[s] = math.nan
    elif p.transform == TRANSFORM_LOG:
        st.offset[s] = magnitude
    else:
        st.offset[s] = -magnitude


@njit
def init_series(st, p, sid, y):
    """A series' first value: level and baseline at it, a flat profile, a prior scale.

    A negative first value means the series is not a non-negative quantity: no transform."""
    for r in range(sid.size):
        s, v = sid[r], y[r]
        if v >= 0:
            _set_offset(st, p, s, abs(v))
        else:
            st.offset[s] = 0.0
        yt = transform(v, st.offset[s])
        st.level[s] = yt
        st.slow[s] = yt
        st.trend[s] = 0.0
        init_scale = 0.2 if st.offset[s] != 0.0 else _max(0.1 * abs(v), 1e-3)
        if init_scale != init_scale:  # zeros so far: the scale is set with the offset
            init_scale = 1e-3
        st.scale[s, :] = init_scale
        st.aux[s, AUX_DEV_SCALE] = init_scale
        st.last_raw[s] = v
        st.aux[s, AUX_U1] = math.nan
        st.aux[s, AUX_U2] = math.nan
        st.aux[s, AUX_SC1] = 1.0
        st.aux[s, AUX_RATIO] = SPIKE_RATIO0
        st.aux[s, AUX_EW_CZ] = 0.0
        st.aux[s, AUX_EW_CZ2] = 1.0
        st.aux[s, AUX_RUN] = 0.0
        st.aux[s, AUX_LAST_CZ] = math.nan
        st.aux[s, AUX_RESOLUTION] = math.inf
        st.aux[s, AUX_TYPICAL_RUN] = 0.0
        _init_tail(st, p, s)
        st.aux[s, AUX_ALERT_PEAK] = 0.0
        st.aux[s, AUX_LAST_RARITY] = 0.0
        st.aux[s, AUX_NOVEL_ANCHOR] = math.nan
        st.aux[s, AUX_NOVEL_UNIT] = 1.0
        st.aux[s, AUX_NOVEL_TOTAL] = 0.0
        st.aux[s, AUX_NOVEL_COUNT] = 0.0
        st.recent[s, :] = math.nan
        st.novelty_counts[s, :] = 0.0
        st.nobs[s] = 0


@njit
def _prior_excess_scale(p):
    """The exponential tail assumed before a series has shown its own: z_floor at the
    peaks threshold's rarity, z_ceiling at severity 100's."""
    decades = p.rare_decades - (-math.log10(p.tail_share))
    return (p.z_ceiling - p.z_floor) / (math.log(10.0) * decades)


@njit
def _init_tail(st, p, s):
    scale = _prior_excess_scale(p)
    st.aux[s, AUX_LOG_TAIL] = math.log(p.z_floor)
    st.aux[s, AUX_EXCESS_M1] = scale
    st.aux[s, AUX_EXCESS_M2] = 2.0 * scale * scale


@njit
def _tail_decades(st, p, s, z_eff):
    """How rare z_eff is for this series, as -log10 of its tail probability: peaks over a
    threshold tracked as the (1 - tail_share) quantile follow a generalised Pareto law whose
    shape and scale come from the moments of the recent excesses (as SPOT does, by moments).
    Below the threshold: its rarity, tail_share."""
    threshold = math.exp(st.aux[s, AUX_LOG_TAIL])
    base = -math.log10(p.tail_share)
    if not z_eff > threshold:
        return base
    m1 = st.aux[s, AUX_EXCESS_M1]
    var = _max(st.aux[s, AUX_EXCESS_M2] - m1 * m1, 1e-12)
    ratio = m1 * m1 / var
    # light tails (shape < 0) would end the law at a finite point, beyond which everything is
    # equally impossible; a statistic's tail is at least exponential (Gaussian-like data)
    shape = _clip(0.5 * (1.0 - ratio), 0.0, 0.9)
    # moments: an exponential's scale is the mean excess; a Pareto-like one's, as SPOT's
    scale = _max(m1 if shape == 0.0 else 0.5 * m1 * (1.0 + ratio), 1e-9)
    excess = z_eff - threshold
    if abs(shape) < 1e-6:
        log_survival = -excess / scale
    else:
        log_survival = -math.log1p(shape * excess / scale) / shape
    return base - log_survival / math.log(10.0)


@njit
def _novelty(st, p, s, y, adjacent):
    """Keep y in the series' ring of recent values; return how far the last novelty_window
    values are from the nearest earlier run of as many values in the ring (root mean square, in
    the series' own units), NaN until the ring holds two runs that do not overlap.

    A pattern the series has shown before (a daily peak, a burst of the usual shape, a plateau
    it often sits on) has a close neighbour; one it has not (spikes that come denser than ever,
    a level it never took, a shape it never drew) has none. No model of the series is assumed,
    so this catches what a forecast's residual misses on irregular metrics.

    A pattern is consecutive intervals: after missing data the ring takes a NaN before y, so no
    run that spans the gap is compared (NaN is never nearer), and none is scored until the
    series has reported novelty_window intervals in a row again."""
    ring = st.recent[s]
    size = ring.size
    m = p.novelty_window
    if size == 0 or m <= 0 or st.nobs[s] < 0:
        return math.nan
    k = int(st.aux[s, AUX_NOVEL_COUNT])  # values the ring has taken: y is number k
    if not adjacent and k > 0:
        ring[k % size] = math.nan
        k += 1
    st.aux[s, AUX_NOVEL_COUNT] = k + 1
    now = k % size
    ring[now] = y
    for i in range(1, m):
        if k - i < 0 or ring[(k - i) % size] != ring[(k - i) % size]:
            return math.nan
    first = _max(m - 1, k - size + m)  # earliest run end whose values are all still kept
    last = k - m  # latest run end that does not overlap the current run
    if last < first:
        return math.nan
    # newest runs first (the nearest is often recent, and a close first bound abandons the
    # rest early); positions wrap by comparison, not modulo: this is the detector's hot loop
    best = math.inf
    current = float(ring[now])
    at = int(last % size)
    for _ in range(last - first + 1):
        diff = current - float(ring[at])
        total = diff * diff
        i = 1
        while i < m and total < best:  # early abandon: this run is already farther
            a, b = now - i, at - i
            if a < 0:
                a += size
            if b < 0:
                b += size
            diff = float(ring[a]) - float(ring[b])
            total += diff * diff
            i += 1
        if total < best:
            best = total
        at -= 1
        if at < 0:
            at = size - 1
    return math.sqrt(best / m) if best < math.inf else math.nan


@njit
def _novelty_position(st, s, distance):
    """Where a distance falls in the histogram: its bin (0: an exact repeat) and its place
    within the bin (0 to 1, on the log scale)."""
    if not distance > 0.0:
        return 0, 0.0
    span = 2.0 * NOVELTY_LOG_SPAN / (NOVELTY_BINS - 1)
    position = (math.log(distance) - st.aux[s, AUX_NOVEL_ANCHOR] + NOVELTY_LOG_SPAN) / span
    position = _clip(position, 0.0, NOVELTY_BINS - 1.0 - 1e-9)
    return int(position) + 1, position - int(position)


@njit
def _novelty_decades(st, p, s, distance):
    """How rare the novelty distance is for this series (-log10 of the share of its earlier
    distances, recent ones weighing more, that were at least as large). An empirical rank, not a
    fitted law: the distances of irregular metrics follow no one family (exact repeats, quantised
    steps, bursts), and a rank needs no assumption about which. Below tail_share: its rarity."""
    base = -math.log10(p.tail_share)
    anchor = st.aux[s, AUX_NOVEL_ANCHOR]
    total = st.aux[s, AUX_NOVEL_TOTAL]
    unit = st.aux[s, AUX_NOVEL_UNIT]
    if not (distance > 0.0 and anchor == anchor and total >= NOVELTY_MIN_COUNT * unit):
        return base
    # the distances at least as large: the bins above, and the share of its own bin above it
    # (spread evenly on the log scale)
    own, within = _novelty_position(st, s, distance)
    at_least = (1.0 - within) * st.novelty_counts[s, own]
    for b in range(own + 1, NOVELTY_BINS):
        at_least += st.novelty_counts[s, b]
    return _max(-math.log10((at_least + unit) / (total + unit)), base)


@njit
def _learn_novelty(st, p, s, distance):
    """Count the distance in the series' histogram; older distances fade (the weight of a new
    one grows instead, and all are rescaled before it overflows)."""
    if distance != distance:
        return
    if st.aux[s, AUX_NOVEL_ANCHOR] != st.aux[s, AUX_NOVEL_ANCHOR]:
        if not distance > 0.0:  # zeros until then: a flat start has shown no unit yet
            return
        st.aux[s, AUX_NOVEL_ANCHOR] = math.log(distance)
    unit = st.aux[s, AUX_NOVEL_UNIT]
    st.novelty_counts[s, _novelty_position(st, s, distance)[0]] += unit
    st.aux[s, AUX_NOVEL_TOTAL] += unit
    unit *= p.novelty_growth
    if unit > 1e100:
        for b in range(NOVELTY_BINS):
            st.novelty_counts[s, b] /= unit
        st.aux[s, AUX_NOVEL_TOTAL] /= unit
        unit = 1.0
    st.aux[s, AUX_NOVEL_UNIT] = unit


@njit
def _advance_factors(phi, k):
    """Over k intervals the damped trend adds gain * trend to the level and decays by decay."""
    kf = float(k)
    gain = kf if phi == 1.0 else phi * (1 - phi**kf) / (1 - phi)
    return gain, phi**kf


@njit
def advance_missing(st, p, k, mask):
    """k intervals without data for the series where mask: nothing is learnt."""
    gain, decay = _advance_factors(p.phi, k)
    for s in range(mask.size):
        if mask[s]:
            st.level[s] += gain * st.trend[s]
            st.trend[s] *= decay


# --- scoring one interval of one series ----------------------------------------------------------
@njit
def _rescale_to_identity(st, s):
    """A negative value on a series modelled on the square-root or log scale: it is not a
    non-negative quantity after all. It goes on untransformed, its level and spread carried over
    and its profiles relearnt."""
    off = st.offset[s]
    level = inverse(st.level[s], off)
    spread = 0.0
    for k in range(st.scale.shape[1]):
        spread += abs(inverse(st.level[s] + st.scale[s, k], off) - level)
    spread = _max(spread / st.scale.shape[1], 1e-6)
    st.offset[s] = 0.0
    st.level[s] = level
    st.slow[s] = level
    st.trend[s] = 0.0
    st.daily[s, :] = 0.0
    st.weekly[s, :] = 0.0
    st.scale[s, :] = spread
    st.aux[s, AUX_DEV_SCALE] = spread
    st.aux[s, AUX_U1] = math.nan
    st.aux[s, AUX_U2] = math.nan


@njit
def _scale_floor(st, s, y):
    """The smallest residual scale the series' own data allow: half its resolution (the smallest
    non-zero change it has shown before this interval: counts, quantised readings) at its current
    level, and a small fraction of the level. A flat or zero-heavy history cannot lock the scale
    near zero. Also returns the resolution with this interval's change, to learn: the first
    change of a series that never changed is measured against the level, not against itself (a
    floor made of the step would make any first step a two-sigma event)."""
    off = st.offset[s]
    known = st.aux[s, AUX_RESOLUTION]
    last = st.last_raw[s]
    resolution = known
    if last == last and y != last:
        resolution = _min(resolution, abs(y - last))
    floor = RELATIVE_SCALE_FLOOR * abs(st.level[s]) + 1e-9
    if known < math.inf:
        base = _max(inverse(st.level[s], off), 0.0) if off != 0.0 else st.level[s]
        floor = _max(floor, 0.5 * (transform(base + known, off) - transform(base, off)))
    return floor, resolution


@njit
def _forecast_one(st, p, s, iv, d, w, y):
    """Phase 1 for series s: forecast, residual e, its scale, z; and the spike inputs."""
    off = st.offset[s]
    if off != off and y > 0:  # the first non-zero value of a series of zeros sets its scale
        _set_offset(st, p, s, y)
        st.scale[s, :] = 0.2
        st.aux[s, AUX_DEV_SCALE] = 0.2
    elif off != 0.0 and y < 0:
        _rescale_to_identity(st, s)
    yt = transform(y, st.offset[s])
    pred = st.level[s] + p.phi * st.trend[s] + st.daily[s, d] + st.weekly[s, w]
    e = yt - pred
    floor, _ = _scale_floor(st, s, y)
    sc = _max(st.scale[s, d], floor)
    # After a gap the level is stale: the forecast's error grows with the gap (random walk).
    gap = _clip(iv - st.last_iv[s] - 1, 0, 48) if st.last_iv[s] >= 0 else 0
    sc_gap = sc * math.sqrt(1.0 + p.alpha**2 * gap)
    z = e / sc_gap
    u = yt - st.daily[s, d] - st.weekly[s, w]  # deseasonalised value (spike confirmation)
    adjacent = st.last_iv[s] == iv - 1
    return pred, e, sc, sc_gap, z, u, adjacent


@njit
def _update_one(st, p, s, iv, d, w, y, new, pred, e, sc, sc_gap, z, u, adjacent, cz):
    """Phase 2 for series s: statistics → severity → status; then learn from the interval.

    Returns (expected, z, severity, status, reason, calm): calm (learnt normally, not severe)
    tells the engine whether the cross-measure covariance may learn from this residual.
    """
    lm, lv = p.shift_lambda, p.variance_lambda
    floor, resolution = _scale_floor(st, s, y)
    ew_z = (1 - lm) * st.ew_z[s] + lm * _clip(z, -6.0, 6.0)
    ew_z2 = (1 - lv) * st.ew_z2[s] + lv * _min(z * z, p.variance_cap)
    shift_stat = abs(ew_z) / math.sqrt(lm / (2 - lm))
    level_dev = st.level[s] - st.slow[s]
    dev_scale = _max(st.aux[s, AUX_DEV_SCALE], floor)
    drift_stat = abs(level_dev + e) / dev_scale
    var_stat = math.sqrt(ew_z2)
    same = abs(y - st.last_raw[s]) <= 1e-9 * _max(abs(y), 1.0)
    stuck = st.stuck[s] + 1 if same else 0
    # "stuck" is more repetition than this series shows: a run past twice its longest usual
    # run (and at least stuck_run), reported for two intervals; then it is what the series does
    # (a series that has never changed is flat by nature, not stuck)
    stored_run = st.aux[s, AUX_TYPICAL_RUN]
    typical_run = stored_run * p.typical_run_decay
    if not same:
        typical_run = _max(typical_run, float(st.stuck[s]))
    stuck_from = _max(p.stuck_run, 2.0 * typical_run)
    changed_before = resolution < math.inf
    reporting = stuck_from <= stuck < stuck_from + 2
    stuck_stat = p.stuck_z if reporting and changed_before else 0.0
    # past its report, the usual run follows this one for as long as it lasts
    # (following: last interval stored exactly this run's length so far)
    if stuck >= stuck_from + 2 or (same and stuck > 1 and stored_run == stuck - 1):
        typical_run = _max(typical_run, float(stuck))
    # Spike confirmation: the previous interval against the interpolation of its neighbours
    # (deseasonalised), once this interval shows whether the series came back.
    u1, u2 = st.aux[s, AUX_U1], st.aux[s, AUX_U2]
    bump = u1 - 0.5 * (u2 + u)
    spike_ok = adjacent and math.isfinite(bump)
    if not spike_ok:
        bump = 0.0
    ratio = _max(st.aux[s, AUX_RATIO], 1e-6)
    sc1 = _max(st.aux[s, AUX_SC1], 1e-9)
    # the interpolation residual's scale is learnt like the forecast's and floored like it: a
    # series that was flat learns a ratio near zero, and its first step must not read as a
    # spike at every interval after it
    spike_stat = abs(bump) / _max(ratio * sc1, floor)
    # cz is NaN where no other measure of the place was scored: no cross-measure statistics
    has_others = cz == cz
    ew_cz, ew_cz2 = st.aux[s, AUX_EW_CZ], st.aux[s, AUX_EW_CZ2]
    cross_bump = 0.0
    if has_others:
        ew_cz = (1 - lm) * ew_cz + lm * _clip(cz, -6.0, 6.0)
        ew_cz2 = (1 - lv) * ew_cz2 + lv * _min(cz * cz, p.variance_cap)
        # a one-interval excursion against the others, confirmed when the series comes back
        prev_cz = st.aux[s, AUX_LAST_CZ] if adjacent else math.nan
        cross_bump = abs(prev_cz - cz) / math.sqrt(2.0)
        if cross_bump != cross_bump:
            cross_bump = 0.0
    cross = p.cross_gain if has_others else 0.0

    # the z-equivalent: the largest statistic (the first one on ties), and which it was
    ug, cg = p.univariate_gain, cross
    z_eff, reason = ug * abs(z), 0
    for k, stat in enumerate(
        (
            ug * p.shift_gain * shift_stat,
            ug * p.shift_gain * drift_stat,
            ug * p.variance_gain * var_stat,
            stuck_stat,
            ug * p.spike_gain * spike_stat,
            cg * abs(cz) if has_others else 0.0,
            cg * p.shift_gain * abs(ew_cz) / math.sqrt(lm / (2 - lm)),
            cg * p.variance_gain * math.sqrt(ew_cz2),
            cg * p.cross_spike_gain * cross_bump,
        )
    ):
        if stat > z_eff or (stat != stat and z_eff == z_eff):  # np.argmax: the first NaN
            z_eff, reason = stat, k + 1
    # Severity is how rare the statistic is for this series: real metrics (bursty counts, spiky
    # loads) exceed any Gaussian-scaled limit far more often than the model assumes, so its
    # tail is learnt (peaks over a quantile threshold, a generalised Pareto law by moments) and
    # severity runs from tail_share (0) to severity_100_probability (100) on a log scale. What
    # the series does every day is not an anomaly, more than it does is. Every interval moves
    # the threshold, so a scale learnt too small on a quiet history cannot lock severity at 100.
    decades = _tail_decades(st, p, s, z_eff)
    base = -math.log10(p.tail_share)
    severity = 100.0 * _clip((decades - base) / (p.rare_decades - base), 0.0, 1.0)
    threshold = math.exp(st.aux[s, AUX_LOG_TAIL])
    exceeded = z_eff > threshold
    warm = st.nobs[s] >= p.warm_after
    # The novelty of the latest pattern has its own tail; the rarer of the two is what the
    # interval shows and alerts on. The model learns as before: a pattern new to the series is
    # not evidence that the forecast is wrong.
    distance = _novelty(st, p, s, y, adjacent)
    novel_decades = _novelty_decades(st, p, s, distance)
    shown = severity
    if novel_decades > decades:
        decades, reason = novel_decades, REASON_NOVEL
        shown = 100.0 * _clip((decades - base) / (p.rare_decades - base), 0.0, 1.0)
    # An anomaly is raised when it begins or gets worse: rarer than the previous interval and
    # clearly rarer than the decaying peak of the series' recent rarity (alert_worsening times
    # it, unclipped, so an episode that stays at severity 100 is not raised again). An episode
    # that goes on is one alert, not one per interval or per slightly taller spike of the same
    # burst, at any threshold (both are tracked whatever the threshold is).
    excess = decades - base
    peak = st.aux[s, AUX_ALERT_PEAK] * p.alert_decay
    escalates = excess > p.alert_worsening * peak and excess > st.aux[s, AUX_LAST_RARITY]
    st.aux[s, AUX_ALERT_PEAK] = _max(excess, peak)
    st.aux[s, AUX_LAST_RARITY] = excess
    if new or not warm:
        status = WARMUP
    elif escalates and shown >= p.severity_threshold:
        status = ANOMALY
    else:
        status = OK

    # learn (robustly; barely from a severe interval, whatever the alert threshold is) ...
    anomalous = warm and severity >= p.damp_severity
    damp = 0.2 if anomalous else 1.0
    # ... unless the series stays away on the same side: a new level, not an outlier
    run = st.aux[s, AUX_RUN]
    side = _sign(e)
    if anomalous and side * run > 0 and st.last_iv[s] == iv - 1:
        run = run + side
    elif anomalous:
        run = side
    else:
        run = 0.0
    relevel = abs(run) >= p.relevel_run
    learn = not new
    calm = learn and not anomalous
    if learn:
        ec = _clip(e, -p.huber * sc_gap, p.huber * sc_gap) * damp
        trend = st.trend[s]
        st.level[s] = st.level[s] + p.phi * trend + p.alpha * (e if relevel else ec)
        st.trend[s] = p.phi * trend + p.beta * ec
        st.daily[s, d] += p.gamma_daily * ec
        st.weekly[s, w] += p.gamma_weekly * ec
        # the scales learn from every interval, a severe one five times slower
        rho = p.rho_scale * damp
        st.scale[s, d] = (1 - rho) * sc + rho * MAD_TO_SIGMA * _min(abs(e), 4 * sc)
        st.aux[s, AUX_DEV_SCALE] = (1 - rho) * dev_scale + rho * MAD_TO_SIGMA * (
            _min(abs(level_dev), 4 * dev_scale)
        )
        # the peaks threshold is a quantile (never below z_floor), so nothing locks: every
        # interval moves it; each peak over it teaches the tail's shape
        st.aux[s, AUX_LOG_TAIL] = _max(
            st.aux[s, AUX_LOG_TAIL] + p.tail_rate * ((1.0 if exceeded else 0.0) - p.tail_share),
            math.log(p.z_floor),
        )
        if exceeded:
            excess = _min(z_eff - threshold, 50.0 * st.aux[s, AUX_EXCESS_M1])
            st.aux[s, AUX_EXCESS_M1] += EXCESS_RHO * (excess - st.aux[s, AUX_EXCESS_M1])
            st.aux[s, AUX_EXCESS_M2] += EXCESS_RHO * (excess * excess - st.aux[s, AUX_EXCESS_M2])
        _learn_novelty(st, p, s, distance)
        st.aux[s, AUX_RESOLUTION] = resolution
        st.aux[s, AUX_TYPICAL_RUN] = typical_run
        st.slow[s] += SLOW_ALPHA * (st.level[s] - st.slow[s]) * damp
        st.ew_z[s] = ew_z
        st.ew_z2[s] = ew_z2
        st.stuck[s] = stuck
        st.aux[s, AUX_EW_CZ] = ew_cz
        st.aux[s, AUX_EW_CZ2] = ew_cz2
        st.aux[s, AUX_RUN] = run
        st.aux[s, AUX_LAST_CZ] = math.nan if anomalous else cz
    else:  # a new series starts its statistics afresh
        st.ew_z[s] = 0.0
        st.ew_z2[s] = 1.0
        st.stuck[s] = 0
        st.aux[s, AUX_EW_CZ] = 0.0
        st.aux[s, AUX_EW_CZ2] = 1.0
        st.aux[s, AUX_RUN] = 0.0
        st.aux[s, AUX_LAST_CZ] = math.nan
    if calm and spike_ok:
        ratio = (1 - p.rho_scale) * ratio + p.rho_scale * MAD_TO_SIGMA * (
            _min(abs(bump) / sc1, 4 * ratio)
        )
    # an interval that already alerted needs no confirmation, and must not be a neighbour
    st.aux[s, AUX_U1] = math.nan if anomalous else u
    st.aux[s, AUX_U2] = u1 if adjacent else math.nan
    st.aux[s, AUX_SC1] = sc_gap
    st.aux[s, AUX_RATIO] = ratio
    st.last_raw[s] = y
    st.last_iv[s] = iv
    st.nobs[s] += 1
    if new:
        return y, 0.0, 0.0, status, reason, calm
    return inverse(pred, st.offset[s]), z, shown, status, reason, calm


# --- one interval of many series: the two phases around the engine's cross-measure numpy ------
@njit
def forecast(st, p, iv, d, w, sid, y):
    """Phase 1 for every series of interval iv: arrays pred, e, sc, sc_gap, z, u, adjacent."""
    n = sid.size
    pred, e, sc, sc_gap = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    z, u = np.empty(n), np.empty(n)
    adjacent = np.empty(n, dtype=np.bool_)
    for r in range(n):
        pred[r], e[r], sc[r], sc_gap[r], z[r], u[r], adjacent[r] = _forecast_one(
            st, p, sid[r], iv, d, w, y[r]
        )
    return pred, e, sc, sc_gap, z, u, adjacent


@njit
def update(st, p, iv, d, w, sid, y, new, pred, e, sc, sc_gap, z, u, adjacent, cz):
    """Phase 2 for every series of interval iv: arrays expected, z, severity, status, reason,
    calm."""
    n = sid.size
    expected, z_out, severity = np.empty(n), np.empty(n), np.empty(n)
    status, reason = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    calm = np.empty(n, dtype=np.bool_)
    for r in range(n):
        expected[r], z_out[r], severity[r], status[r], reason[r], calm[r] = _update_one(
            st,
            p,
            sid[r],
            iv,
            d,
            w,
            y[r],
            new[r],
            pred[r],
            e[r],
            sc[r],
            sc_gap[r],
            z[r],
            u[r],
            adjacent[r],
            cz[r],
        )
    return expected, z_out, severity, status, reason, calm


# --- a whole run of intervals of independent series ----------------------------------------------
@njit
def score_sequence(st, p, interval, slot_minutes, cursor, iv, sid, y):
    """Score rows (iv, sid, y) sorted by interval, from interval ``cursor`` on, as the engine
    closes them one by one: the gap before each interval advances every series, a series without
    data in an interval advances by one, a new series is initialised. Independent series only
    (one measure: no cross-measure residual). Returns per row expected, z, severity, status,
    reason."""
    n, n_series, n_daily = iv.size, st.level.size, st.daily.shape[1]
    expected, z_out, severity = np.empty(n), np.empty(n), np.empty(n)
    status, reason = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    every = np.ones(n_series, dtype=np.bool_)
    absent = np.ones(n_series, dtype=np.bool_)
    new = np.zeros(n_series, dtype=np.bool_)
    one = np.empty(1, dtype=np.int64)
    value = np.empty(1)
    a = 0
    while a < n:
        target = iv[a]
        b = a
        while b < n and iv[b] == target:
            b += 1
        if target > cursor:
            advance_missing(st, p, target - cursor, every)
        for r in range(a, b):
            s = sid[r]
            new[s] = st.nobs[s] < 0
            if new[s]:
                one[0], value[0] = s, y[r]
                init_series(st, p, one, value)
            absent[s] = False
        if b - a < n_series:
            for s in range(n_series):  # series without data this interval
                absent[s] = absent[s] and st.nobs[s] >= 0
            advance_missing(st, p, 1, absent)
        d, w = slots(target, interval, slot_minutes, n_daily)
        for r in range(a, b):
            s = sid[r]
            pred, e, sc, sc_gap, z, u, adjacent = _forecast_one(st, p, s, target, d, w, y[r])
            expected[r], z_out[r], severity[r], status[r], reason[r], _ = _update_one(
                st, p, s, target, d, w, y[r], new[s], pred, e, sc, sc_gap, z, u, adjacent, math.nan
            )
        absent[:] = True
        cursor = target + 1
        a = b
    return expected, z_out, severity, status, reason
