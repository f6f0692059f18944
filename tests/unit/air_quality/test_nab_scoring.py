"""NAB scoring on small hand-computed files.

Useful identity for the arithmetic below: 2 * sigmoid(y) - 1 = tanh(y / 2), so NAB's scaled
sigmoid is S(x) = 2 * sigmoid(-5x) - 1 = tanh(-2.5x), and S(-1) = tanh(2.5) = 0.986614.

Most cases use one file of 40 hourly rows with one window on rows 20..23 (W = 4 rows). Its
probationary period is min(floor(0.15 * 40), 750) = 6 rows (rows 0..5).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from vigil.air_quality.nab_scoring import (
    PROFILES,
    FileResult,
    load_windows,
    main,
    normalised,
    null_and_perfect,
    optimise_threshold,
    probationary_rows,
    score_corpus,
    score_file,
    sweep,
    window_rows,
)

STANDARD = PROFILES["standard"]
LOW_FN = PROFILES["reward_low_FN_rate"]
S_MINUS_1 = math.tanh(2.5)  # 0.986614


def make_file(
    n: int = 40,
    windows: tuple[tuple[int, int], ...] = ((20, 23),),
    scores: dict[int, float] | None = None,
    name: str = "cat/file.csv",
) -> FileResult:
    """A file of ``n`` hourly rows; ``windows`` as (first row, last row); ``scores`` per row
    (0 elsewhere)."""
    timestamps = pd.Series(pd.date_range("2020-01-01", periods=n, freq="h"))
    values = np.zeros(n)
    for row, score in (scores or {}).items():
        values[row] = score
    limits = [(timestamps[a], timestamps[b]) for a, b in windows]
    return FileResult(name=name, timestamps=timestamps, scores=values, windows=limits)


def raw_with(detections: list[int], profile=STANDARD, **kwargs) -> float:
    result = make_file(scores=dict.fromkeys(detections, 1.0), **kwargs)
    return score_file(result, 0.5, profile)["raw"]


def test_probationary_rows():
    # min(floor(0.15 * 40), 750) = 6; floor(0.15 * 7) = floor(1.05) = 1; 0.15 * 10000 = 1500 -> 750.
    assert probationary_rows(40) == 6
    assert probationary_rows(7) == 1
    assert probationary_rows(10_000) == 750
    assert probationary_rows(100, fraction=0.1) == 10


def test_window_rows_are_inclusive_at_both_ends():
    timestamps = pd.Series(pd.date_range("2020-01-01", periods=8, freq="h"))
    windows = [(timestamps[1], timestamps[2]), (pd.Timestamp("2020-01-01 04:30"), timestamps[6])]
    assert window_rows(timestamps, windows).tolist() == [-1, 0, 0, -1, -1, 1, 1, -1]
    with pytest.raises(ValueError, match="overlaps"):
        window_rows(timestamps, [(timestamps[1], timestamps[3]), (timestamps[3], timestamps[4])])


def test_detection_at_a_windows_first_row_scores_exactly_tp():
    # Row 20: position -(23 - 20 + 1) / 4 = -1, weight tp * S(-1) / S(-1) = 1.
    assert raw_with([20]) == 1.0
    result = score_file(make_file(scores={20: 1.0}), 0.5, STANDARD)
    assert (result["tp"], result["fp"], result["fn"], result["windows_detected"]) == (1, 0, 3, 1)


def test_later_detections_in_a_window_score_less():
    # Row 22: position -(23 - 22 + 1) / 4 = -0.5, S = tanh(1.25) = 0.848284, / 0.986614 = 0.859793.
    # Row 23: position -(23 - 23 + 1) / 4 = -0.25, S = tanh(0.625) = 0.554600, / 0.986614 = 0.562124.
    assert raw_with([22]) == pytest.approx(0.8597926, abs=1e-6)
    assert raw_with([22]) == pytest.approx(math.tanh(1.25) / S_MINUS_1)
    assert raw_with([23]) == pytest.approx(0.5621241, abs=1e-6)
    assert raw_with([23]) == pytest.approx(math.tanh(0.625) / S_MINUS_1)


def test_only_the_first_detection_in_a_window_counts():
    # Rows 21 and 22 detected: only row 21 counts, position -3/4, tanh(1.875) / 0.986614 = 0.966989.
    result = score_file(make_file(scores={21: 1.0, 22: 1.0}), 0.5, STANDARD)
    assert result["raw"] == pytest.approx(0.9669891, abs=1e-6)
    assert result["raw"] == pytest.approx(raw_with([21]))
    # Both rows are true-positive rows (NAB counts rows), one window detected.
    assert (result["tp"], result["fn"], result["windows_detected"]) == (2, 2, 1)


def test_false_positive_after_a_window_weighs_less_than_one_with_no_window_before_it():
    # The window is missed in each case: -fn = -1.
    # Row 24, just after the window: position (24 - 23) / (4 - 1) = 1/3, S = tanh(-5/6) = -0.682262,
    # x fp 0.11 = -0.075049 -> raw -1.075049.
    after = raw_with([24])
    assert after == pytest.approx(-1.0750488, abs=1e-6)
    assert after == pytest.approx(-1 + 0.11 * math.tanh(-5 / 6))
    # Row 10, no window before it: the full -fp = -0.11 -> raw -1.11.
    before = raw_with([10])
    assert before == pytest.approx(-1.11)
    assert after > before
    # Row 34: position (34 - 23) / 3 = 3.67 > 3, so S = -1: the full -fp again.
    assert raw_with([34]) == pytest.approx(-1.11)


def test_missed_window_costs_fn():
    assert raw_with([]) == pytest.approx(-1.0)
    assert raw_with([], profile=LOW_FN) == pytest.approx(-2.0)
    result = score_file(make_file(), 0.5, STANDARD)
    assert (result["tp"], result["fn"], result["windows"], result["windows_detected"]) == (
        0,
        4,
        1,
        0,
    )


def test_detections_in_the_probationary_period_are_ignored():
    # Rows 0..5 are probationary: a detection at row 5 is neither a false positive nor counted,
    # so the score is the missed window's -1; row 6 is the first scored row (-fp = -0.11).
    assert raw_with([5]) == pytest.approx(-1.0)
    assert score_file(make_file(scores={5: 1.0}), 0.5, STANDARD)["fp"] == 0
    assert raw_with([6]) == pytest.approx(-1.11)
    # 40 rows - 6 probationary - 4 window rows = 30 scored rows outside the window.
    assert score_file(make_file(), 0.5, STANDARD)["tn"] == 30


def test_null_perfect_and_normalisation():
    results = [
        make_file(name="a/one.csv"),  # one window
        make_file(windows=((10, 12), (25, 30)), name="a/two.csv"),  # two windows
        make_file(windows=(), name="b/none.csv"),
    ]
    # 3 windows: null = -fn * 3, perfect = tp * 3.
    assert null_and_perfect(results, STANDARD) == (-3.0, 3.0)
    assert null_and_perfect(results, LOW_FN) == (-6.0, 3.0)
    # 100 * (raw - null) / (perfect - null): (-1 + 3) / (3 + 3) = 1/3.
    assert normalised(-1.0, -3.0, 3.0) == pytest.approx(100 / 3)
    assert normalised(-3.0, -3.0, 3.0) == 0.0
    assert normalised(3.0, -3.0, 3.0) == 100.0
    assert math.isnan(normalised(0.0, 0.0, 0.0))
    # The null detector's sweep row is the first, at NAB's threshold 1.1.
    first = sweep(results, STANDARD)[0]
    assert (first.threshold, first.raw_score) == (1.1, -3.0)


def test_sweep_equals_score_file_at_every_threshold():
    rng = np.random.default_rng(7)
    results = []
    for i, windows in enumerate([((20, 26),), ((15, 18), (40, 47)), ()]):
        scores = dict(enumerate(rng.integers(0, 9, size=60) / 8))  # ties across and within files
        results.append(make_file(n=60, windows=windows, scores=scores, name=f"c/f{i}.csv"))
    for profile in PROFILES.values():
        rows = sweep(results, profile)
        thresholds = [row.threshold for row in rows]
        assert thresholds[0] == 1.1
        assert thresholds == sorted(set(thresholds), reverse=True)
        assert len(rows) == 1 + len(np.unique(np.concatenate([r.scores[9:] for r in results])))
        for row in rows:
            parts = [score_file(r, row.threshold, profile) for r in results]
            assert row.raw_score == pytest.approx(sum(p["raw"] for p in parts), abs=1e-12)
            for count in ("tp", "fp", "fn", "tn"):
                assert getattr(row, count) == sum(p[count] for p in parts)


def test_threshold_optimisation_picks_the_best_threshold_per_profile():
    # Windows A = rows 20..23 and B = rows 30..33. A's first row scores 0.9. B can only be
    # detected (at its first row 30) at threshold 0.5, which also detects rows 7..16: 10 false
    # positives before any window, -fp each. Every other row scores 0.
    scores = {20: 0.9, 30: 0.5} | dict.fromkeys(range(7, 17), 0.5)
    result = make_file(windows=((20, 23), (30, 33)), scores=scores)
    # threshold 0.9: A +1, B missed -fn.        threshold 0.5: A +1, B +1, 10 x -fp.
    # standard    (fp 0.11, fn 1): 0.9 -> 0;    0.5 -> 2 - 1.1 = 0.9   -> pick 0.5
    # low FP rate (fp 0.22, fn 1): 0.9 -> 0;    0.5 -> 2 - 2.2 = -0.2  -> pick 0.9
    # low FN rate (fp 0.11, fn 2): 0.9 -> -1;   0.5 -> 0.9             -> pick 0.5
    # null = -2 fn, perfect = 2: standard 100 * (0.9 + 2) / 4 = 72.5; low FP 100 * 2 / 4 = 50;
    # low FN 100 * (0.9 + 4) / 6 = 81.67.
    scored = score_corpus([result])
    assert scored["standard"]["threshold"] == 0.5
    assert scored["standard"]["raw"] == pytest.approx(0.9)
    assert scored["standard"]["score"] == pytest.approx(72.5)
    assert (scored["standard"]["tp"], scored["standard"]["fp"]) == (2, 10)
    assert scored["reward_low_FP_rate"]["threshold"] == 0.9
    assert scored["reward_low_FP_rate"]["score"] == pytest.approx(50.0)
    assert scored["reward_low_FN_rate"]["threshold"] == 0.5
    assert scored["reward_low_FN_rate"]["score"] == pytest.approx(490 / 6)
    assert (scored["reward_low_FN_rate"]["null"], scored["reward_low_FN_rate"]["perfect"]) == (
        -4.0,
        2.0,
    )


def test_ties_keep_the_highest_threshold():
    # Row 20 (first row, +1) at 0.9 and row 22 at 0.5: only the first detection counts, so both
    # thresholds score 1.0; NAB's stable sort keeps the higher one.
    best = optimise_threshold([make_file(scores={20: 0.9, 22: 0.5})], STANDARD)
    assert (best["threshold"], best["raw"], best["score"]) == (0.9, 1.0, 100.0)


def test_scores_must_lie_in_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        make_file(scores={3: 1.5})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        make_file(scores={3: float("nan")})


def test_cli_scores_a_results_folder(tmp_path, capsys):
    result = make_file(scores={20: 0.9})
    labels = {
        "cat/file.csv": [
            [start.strftime("%Y-%m-%d %H:%M:%S.%f"), end.strftime("%Y-%m-%d %H:%M:%S.%f")]
            for start, end in result.windows
        ]
    }
    labels_path = tmp_path / "combined_windows.json"
    labels_path.write_text(json.dumps(labels))
    assert load_windows(labels_path)["cat/file.csv"] == result.windows
    (tmp_path / "results" / "cat").mkdir(parents=True)
    frame = pd.DataFrame(
        {"timestamp": result.timestamps, "value": 0.0, "anomaly_score": result.scores}
    )
    frame.to_csv(tmp_path / "results" / "cat" / "file.csv", index=False)

    assert main([str(tmp_path / "results"), "--labels", str(labels_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == set(PROFILES)
    # Detected at the window's first row, nothing else above 0.9: the perfect score.
    assert out["standard"]["threshold"] == 0.9
    assert out["standard"]["score"] == pytest.approx(100.0)
