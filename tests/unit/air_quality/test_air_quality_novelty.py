"""The novelty statistic: how far the latest few values are from the nearest earlier run of as
many values in the series' recent history, ranked against the series' own earlier distances
(``model.novelty_window``: on by default for a detector of one measure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vigil.air_quality import kernel
from vigil.air_quality.backtest import run_backtest
from vigil.air_quality.config import DetectorConfig, Measure, ModelParams
from vigil.air_quality.engine import _REASONS as REASONS
from vigil.air_quality.engine import Detector

NOVEL = REASONS[kernel.REASON_NOVEL]


def _config(window: int | None, history: int = 2016, measures: int = 1) -> DetectorConfig:
    return DetectorConfig(
        interval_minutes=5,
        measures=[Measure(name=f"value{i}" if i else "value") for i in range(measures)],
        timestamp_column="timestamp",
        timestamp_format="%Y-%m-%d %H:%M:%S",
        lateness_minutes=0,
        model=ModelParams(novelty_window=window, novelty_history=history),
    )


def _one_series_state(config: DetectorConfig) -> kernel.State:
    detector = Detector(config)
    detector._add_series(0, ["-"], np.array([0]))
    return detector._state()


def _brute_force(values: np.ndarray, k: int, m: int, history: int) -> float:
    kept = values.astype(np.float32).astype(float)
    ends = [j for j in range(m - 1, k - m + 1) if j - m + 1 > k - history]
    if not ends:
        return np.nan
    now = kept[k - m + 1 : k + 1]
    return min(np.sqrt(np.mean((now - kept[j - m + 1 : j + 1]) ** 2)) for j in ends)


def test_distance_is_to_the_nearest_earlier_run_still_kept_in_the_ring():
    config = _config(window=3, history=20)  # a small ring: the values wrap around it
    state, params = _one_series_state(config), kernel.params_from(config)
    values = np.random.default_rng(3).normal(50.0, 5.0, 120)
    state.nobs[0] = 0
    for k, y in enumerate(values):
        distance = kernel._novelty(state, params, 0, y, True)
        expected = _brute_force(values, k, 3, 20)
        if np.isnan(expected):
            assert np.isnan(distance), k
        else:
            assert abs(distance - expected) < 1e-6 * max(1.0, expected), k
        state.nobs[0] += 1


def _spikes(gap_then: int, gap_now: int) -> np.ndarray:
    """Noise around 100 with a +30 spike every gap_then intervals for three days, then every
    gap_now intervals for five hours: the spikes are the usual size, only denser."""
    rng = np.random.default_rng(7)
    values = 100.0 + rng.normal(0.0, 2.0, 3 * 288 + 60)
    values[: 3 * 288 : gap_then] += 30.0
    values[3 * 288 :: gap_now] += 30.0
    return values


def _scores(values: np.ndarray, window: int, since_day: int) -> pd.DataFrame:
    """Scores after learning from the first half, from day ``since_day`` on."""
    stamps = pd.date_range("2024-01-01", periods=len(values), freq="5min")
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": values})
    _, scores, _, _ = run_backtest(frame, _config(window), learn_fraction=0.5)
    since = pd.Timestamp("2024-01-01") + pd.Timedelta(days=since_day)
    scored = scores[pd.to_datetime(scores["interval_start"]) >= since]
    assert len(scored) > 0
    return scored


def test_spikes_coming_denser_than_ever_are_a_new_pattern():
    values = _spikes(gap_then=24, gap_now=2)
    novel = _scores(values, window=3, since_day=3)
    without = _scores(values, window=0, since_day=3)
    first = novel["reason"] == NOVEL
    assert first.any()
    assert (novel["severity"][first] > without["severity"][first]).all()
    # the statistic only adds evidence: the model learns as it did, severity never falls
    np.testing.assert_array_equal(novel["expected"].to_numpy(), without["expected"].to_numpy())
    assert (novel["severity"].to_numpy() >= without["severity"].to_numpy()).all()


def test_usual_spikes_are_not_new():
    values = _spikes(gap_then=24, gap_now=24)
    scores = _scores(values, window=3, since_day=2)
    # a usual spike has near neighbours: novelty never makes an interval alert-worthy
    threshold = _config(window=3).severity_threshold
    assert not ((scores["reason"] == NOVEL) & (scores["severity"] >= threshold)).any()


def test_runs_that_span_missing_data_are_not_patterns():
    config = _config(window=3, history=50)
    state, params = _one_series_state(config), kernel.params_from(config)
    state.nobs[0] = 0
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for y in values:
        kernel._novelty(state, params, 0, y, True)
    # after a gap: nothing is scored until three intervals in a row have come again
    assert np.isnan(kernel._novelty(state, params, 0, 2.0, False))
    assert np.isnan(kernel._novelty(state, params, 0, 3.0, True))
    # 2, 3, 4 is in the history (1..6); 5, 6 then 2 (across the gap) must not count as one
    assert kernel._novelty(state, params, 0, 4.0, True) == 0.0
    # a run that starts after the gap is a pattern again, compared with the runs before it
    state = _one_series_state(config)
    state.nobs[0] = 0
    for y in [5.0, 6.0, 2.0, 3.0, 9.0, 9.0]:
        kernel._novelty(state, params, 0, y, True)
    kernel._novelty(state, params, 0, 5.0, False)
    kernel._novelty(state, params, 0, 6.0, True)
    assert kernel._novelty(state, params, 0, 2.0, True) == 0.0


def test_rarity_is_the_rank_among_the_series_own_distances():
    config = _config(window=3, history=10_000)
    state, params = _one_series_state(config), kernel.params_from(config)
    log_distances = np.linspace(-3.0, 3.0, 1000)  # evenly spread on the log scale, as the bins
    for distance in np.exp(log_distances):
        kernel._learn_novelty(state, params, 0, float(distance))
    decades = kernel._novelty_decades
    # rarer than tail_share (5 %); a bin is a factor 1.46 wide, read as evenly filled, and the
    # last one holds the largest distance: within a factor 1.8 of the exact share
    for log_distance in (2.95, 2.9, 2.8):
        share = np.mean(log_distances >= log_distance)
        assert 1 / 1.8 < 10 ** -decades(state, params, 0, np.exp(log_distance)) / share < 1.8
    # never rarer than one in as many as it has seen, and no rarity below tail_share
    assert decades(state, params, 0, 1e6) <= np.log10(1001) + 1e-9
    assert decades(state, params, 0, 1.0) == -np.log10(params.tail_share)


def test_on_for_one_measure_off_for_several_with_no_state_cost():
    assert ModelParams().novelty_window is None
    assert _config(window=None).novelty_window == 3
    assert _config(window=None, measures=2).novelty_window == 0
    for config, width in [(_config(window=None), 2016), (_config(window=None, measures=2), 0)]:
        detector = Detector(config)
        detector._add_series(0, ["-"], np.array([0]))
        assert detector.recent.shape == (1, width)
        assert detector.novelty_counts.shape == (1, kernel.NOVELTY_BINS if width else 0)
    config = _config(window=0)
    detector = Detector(config)
    detector._add_series(0, ["-"], np.array([0]))
    assert detector.recent.shape == (1, 0)
    assert np.isnan(kernel._novelty(detector._state(), kernel.params_from(config), 0, 1.0, True))
