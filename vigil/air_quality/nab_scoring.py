"""Numenta Anomaly Benchmark (NAB) scoring, as NAB >= 1.0 defines it (``nab/sweeper.py``).

A detector gives every row an anomaly score in [0, 1]; a row is a *detection* when its score is at
or above the threshold. Per file:

* the first ``min(floor(0.15 * rows), 0.15 * 5000)`` rows are the probationary period
  (``Sweeper._getProbationaryLength``); they are not scored at all;
* a label window ``[start, end]`` covers the rows whose timestamp lies in it, inclusive
  (``CorpusLabel.getLabels``). Row ``i`` of a window whose last row is ``right`` and which has
  ``W`` rows sits at relative position ``-(right - i + 1) / W``: -1 at its first row, ``-1/W`` at
  its last. Its weight is ``tp * S(position) / S(-1)``, so a detection at the first row is worth
  exactly ``tp``; only the best (= earliest) detection of a window counts, and a window with no
  detection costs ``-fn``;
* a row outside every window weighs ``fp * S((i - right) / (W - 1))`` with ``right`` and ``W``
  those of the window before it (small just after a window, towards ``-fp`` far from it), or
  ``-fp`` when no window precedes it. Every detected row outside the windows adds its weight;

with ``S(x) = 2 * sigmoid(-5x) - 1`` (``-1`` for ``x > 3``). The raw score of a corpus is the sum
over its files. The null detector never detects (raw ``-fn`` per scored window), the perfect one
detects each window at its first row (``tp`` per labelled window, as NAB's ``Runner.normalize``
counts them), and the normalised score is ``100 * (raw - null) / (perfect - null)``. The threshold
is chosen per profile to maximise the corpus score; :func:`sweep` scores every candidate threshold
in one pass over the rows sorted by score, as ``Sweeper.calcScoreByThreshold`` does.

    python -m vigil.air_quality.nab_scoring results/ --labels labels/combined_windows.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

#: Threshold of the sweep's first row: above every score, so nothing is detected (NAB's 1.1).
NO_DETECTION_THRESHOLD = 1.1
PROBATION_FRACTION = 0.15
#: The probationary period never exceeds ``fraction * PROBATION_CAP_ROWS`` rows (750 at 15 %).
PROBATION_CAP_ROWS = 5000

Window = tuple[pd.Timestamp, pd.Timestamp]


@dataclass(frozen=True)
class Profile:
    """NAB's cost matrix: weights of a true positive, a false positive and a missed window."""

    tp: float
    fp: float
    fn: float


#: NAB's ``config/profiles.json`` (A_tp, A_fp, A_fn).
PROFILES: dict[str, Profile] = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": Profile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": Profile(tp=1.0, fp=0.11, fn=2.0),
}


class ThresholdScore(NamedTuple):
    """The corpus at one threshold. Counts are rows, as in NAB: ``tp``/``fn`` are detected and
    undetected scored rows inside windows, ``fp``/``tn`` those outside."""

    threshold: float
    raw_score: float
    tp: int
    fp: int
    fn: int
    tn: int


def scaled_sigmoid(position: float | np.ndarray) -> float | np.ndarray:
    """``2 * sigmoid(-5 * position) - 1``, and ``-1`` beyond ``position > 3`` (``scaledSigmoid``)."""
    x = np.asarray(position, dtype=float)
    with np.errstate(over="ignore"):
        value = np.where(x > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0)
    return float(value) if value.ndim == 0 else value


_MAX_TP = float(scaled_sigmoid(-1.0))


def probationary_rows(n_rows: int, fraction: float = PROBATION_FRACTION) -> int:
    """How many leading rows are not scored: rows ``i < min(floor(fraction * n), fraction * 5000)``."""
    limit = min(math.floor(fraction * n_rows), fraction * PROBATION_CAP_ROWS)
    return math.ceil(limit)


def load_windows(labels_path: str | Path) -> dict[str, list[Window]]:
    """NAB's ``combined_windows.json``: relative data path -> ``[(start, end), ...]``."""
    raw = json.loads(Path(labels_path).read_text())
    return {
        name: [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in limits]
        for name, limits in raw.items()
    }


def _as_datetimes(timestamps: pd.Series | np.ndarray | Sequence) -> np.ndarray:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps))).to_numpy()


def window_rows(
    timestamps: pd.Series | np.ndarray | Sequence, windows: Iterable[Sequence]
) -> np.ndarray:
    """Per row, the index (in ``windows``) of the window whose ``[start, end]`` holds its timestamp,
    inclusive at both ends, or -1. Windows must not share rows."""
    times = _as_datetimes(timestamps)
    labels = np.full(len(times), -1, dtype=np.int64)
    for k, (start, end) in enumerate(windows):
        inside = (times >= pd.Timestamp(start).to_datetime64()) & (
            times <= pd.Timestamp(end).to_datetime64()
        )
        if np.any(labels[inside] >= 0):
            raise ValueError(f"window {k} ({start}, {end}) overlaps another window's rows")
        labels[inside] = k
    return labels


@dataclass(frozen=True)
class _Layout:
    """What a file's rows contribute, independent of the profile and threshold."""

    labels: np.ndarray  # window index per row, -1 outside every window
    unit: np.ndarray  # weight per row before the profile: x tp inside a window, x fp outside
    scored: np.ndarray  # bool: past the probationary period


@dataclass
class FileResult:
    """One file's anomaly scores (in [0, 1], one per row) and its label windows.

    The rows' window labels and weights are worked out once, on first use; they depend on the
    timestamps and windows only, so the scores may be replaced afterwards."""

    name: str
    timestamps: pd.Series | np.ndarray
    scores: np.ndarray
    windows: list[Window]
    probation_fraction: float = PROBATION_FRACTION
    _layout: _Layout | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=float)
        if self.scores.ndim != 1 or len(self.scores) != len(self.timestamps):
            raise ValueError(f"{self.name}: one score per timestamp is needed")
        if np.isnan(self.scores).any() or (self.scores < 0).any() or (self.scores > 1).any():
            raise ValueError(f"{self.name}: anomaly scores must lie in [0, 1] (no NaN)")
        self.windows = [(pd.Timestamp(s), pd.Timestamp(e)) for s, e in self.windows]

    def layout(self) -> _Layout:
        if self._layout is None:
            self._layout = _build_layout(self)
        return self._layout


def _build_layout(result: FileResult) -> _Layout:
    n = len(result.scores)
    labels = window_rows(result.timestamps, result.windows)
    rows = np.arange(n)
    left = np.full(len(result.windows), -1)
    right = np.full(len(result.windows), -1)
    for k in range(len(result.windows)):
        members = np.flatnonzero(labels == k)
        if len(members) == 0:
            continue
        if members[-1] - members[0] + 1 != len(members):
            raise ValueError(f"{result.name}: window {k}'s rows are not contiguous")
        left[k], right[k] = members[0], members[-1]
    width = (right - left + 1).astype(float)

    unit = np.empty(n)
    inside = labels >= 0
    k = labels[inside]
    # Sweeper: positionInWindow = -(curWindowRightIndex - i + 1) / curWindowWidth
    unit[inside] = scaled_sigmoid(-(right[k] - rows[inside] + 1) / width[k]) / _MAX_TP

    # Outside: the window exited last, i.e. the last one ending before the row.
    present = np.flatnonzero(left >= 0)
    order = present[np.argsort(right[present])]
    outside_rows = rows[~inside]
    prev = np.searchsorted(right[order], outside_rows, side="left") - 1
    outside_unit = np.full(len(outside_rows), -1.0)  # no preceding window: the full -fp
    has_prev = prev >= 0
    if has_prev.any():
        w = order[prev[has_prev]]
        distance = (outside_rows[has_prev] - right[w]).astype(float)
        # Sweeper: abs(prevWindowRightIndex - i) / (prevWindowWidth - 1). A one-row window
        # divides by zero there; here it counts as infinitely far (the full -fp).
        with np.errstate(divide="ignore"):
            position = np.where(width[w] > 1, distance / (width[w] - 1), np.inf)
        outside_unit[has_prev] = scaled_sigmoid(position)
    unit[~inside] = outside_unit

    scored = rows >= probationary_rows(n, result.probation_fraction)
    return _Layout(labels=labels, unit=unit, scored=scored)


def _weights(layout: _Layout, profile: Profile) -> np.ndarray:
    return np.where(layout.labels >= 0, profile.tp, profile.fp) * layout.unit


def score_file(result: FileResult, threshold: float, profile: Profile) -> dict[str, Any]:
    """One file at one threshold (detections: scored rows with ``score >= threshold``).

    Returns ``raw`` and NAB's row counts ``tp``, ``fp``, ``fn``, ``tn``, plus ``windows`` (scored
    windows) and ``windows_detected``."""
    layout = result.layout()
    weights = _weights(layout, profile)
    scored = layout.scored
    detected = scored & (result.scores >= threshold)
    inside = layout.labels >= 0
    raw = float(weights[detected & ~inside].sum())
    windows = np.unique(layout.labels[scored & inside])
    found = 0
    for k in windows:
        hits = weights[detected & (layout.labels == k)]
        if len(hits):
            found += 1
            raw += max(-profile.fn, float(hits.max()))
        else:
            raw -= profile.fn
    return {
        "raw": raw,
        "tp": int((detected & inside).sum()),
        "fp": int((detected & ~inside).sum()),
        "fn": int((scored & inside & ~detected).sum()),
        "tn": int((scored & ~inside & ~detected).sum()),
        "windows": len(windows),
        "windows_detected": found,
    }


def _scored_rows(results: Sequence[FileResult], profile: Profile):
    """Scored rows of the corpus: scores, corpus-wide window ids (-1 outside) and weights."""
    scores, labels, weights = [], [], []
    offset = 0
    for result in results:
        layout = result.layout()
        keep = layout.scored
        file_labels = layout.labels[keep]
        scores.append(result.scores[keep])
        labels.append(np.where(file_labels >= 0, file_labels + offset, -1))
        weights.append(_weights(layout, profile)[keep])
        offset += len(result.windows)
    if not scores:
        return np.empty(0), np.empty(0, dtype=np.int64), np.empty(0)
    return np.concatenate(scores), np.concatenate(labels), np.concatenate(weights)


def sweep(results: Sequence[FileResult], profile: Profile) -> list[ThresholdScore]:
    """The corpus at every distinct threshold, highest first: NAB's 1.1 (nothing detected), then
    each distinct score in the corpus (detections: scores at or above it)."""
    scores, labels, weights = _scored_rows(results, profile)
    n_windows = len(np.unique(labels[labels >= 0]))
    inside = labels >= 0
    n_inside = int(inside.sum())
    n_outside = len(labels) - n_inside
    null = -profile.fn * n_windows
    rows = [ThresholdScore(NO_DETECTION_THRESHOLD, null, 0, 0, n_inside, n_outside)]
    if len(scores) == 0:
        return rows

    order = np.argsort(-scores, kind="stable")
    scores, labels, weights, inside = scores[order], labels[order], weights[order], inside[order]
    # Each false positive adds its weight; a window's part is max(-fn, best detection so far)
    # (calcScoreByThreshold's scoreParts), so it changes only when a better detection arrives.
    # The false positives' running sum is kept apart and summed in NAB's order (less rounding).
    false_positives = np.cumsum(np.where(inside, 0.0, weights))
    change = np.zeros(len(scores))
    at = np.flatnonzero(inside)
    if len(at):
        groups = pd.Series(labels[at])
        best = np.maximum(pd.Series(weights[at]).groupby(groups).cummax().to_numpy(), -profile.fn)
        before = pd.Series(best).groupby(groups).shift(1).fillna(-profile.fn).to_numpy()
        change[at] = best - before
    raw = false_positives + (null + np.cumsum(change))
    tp = np.cumsum(inside)
    fp = np.arange(1, len(scores) + 1) - tp
    last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])  # last row of each threshold
    tp, fp = tp[last], fp[last]
    columns = (scores[last], raw[last], tp, fp, n_inside - tp, n_outside - fp)
    rows.extend(
        map(ThresholdScore._make, zip(*(column.tolist() for column in columns), strict=True))
    )
    return rows


def null_and_perfect(results: Sequence[FileResult], profile: Profile) -> tuple[float, float]:
    """Raw scores of the null detector (never detects: ``-fn`` per window with a scored row) and
    of the perfect one (``tp`` per labelled window, as NAB's ``Runner.normalize`` counts them)."""
    scored_windows = 0
    for result in results:
        layout = result.layout()
        scored_windows += len(np.unique(layout.labels[layout.scored & (layout.labels >= 0)]))
    labelled_windows = sum(len(r.windows) for r in results)
    return -profile.fn * scored_windows, profile.tp * labelled_windows


def normalised(raw: float, null: float, perfect: float) -> float:
    """``100 * (raw - null) / (perfect - null)``; NaN for a corpus without windows."""
    if perfect == null:
        return float("nan")
    return 100.0 * (raw - null) / (perfect - null)


def optimise_threshold(results: Sequence[FileResult], profile: Profile) -> dict[str, Any]:
    """The threshold with the best corpus score (ties: the highest threshold, as NAB's stable sort
    of the sweep keeps it first), with its normalised and raw scores and row counts."""
    rows = sweep(results, profile)
    best = rows[int(np.argmax([row.raw_score for row in rows]))]
    null, perfect = null_and_perfect(results, profile)
    return {
        "threshold": best.threshold,
        "score": normalised(best.raw_score, null, perfect),
        "raw": best.raw_score,
        "null": null,
        "perfect": perfect,
        "tp": best.tp,
        "fp": best.fp,
        "fn": best.fn,
        "tn": best.tn,
    }


def score_corpus(results: Sequence[FileResult]) -> dict[str, dict[str, Any]]:
    """:func:`optimise_threshold` for each of NAB's three profiles."""
    return {name: optimise_threshold(results, profile) for name, profile in PROFILES.items()}


def _label_key(relative: str, windows: dict[str, list[Window]]) -> str | None:
    """The labels key of a result file: the same relative path, or NAB's own results naming
    ``<category>/<detector>_<file>.csv``."""
    if relative in windows:
        return relative
    category, _, filename = relative.rpartition("/")
    matches = [
        key
        for key in windows
        if key.rpartition("/")[0] == category and filename.endswith("_" + key.rpartition("/")[2])
    ]
    return matches[0] if len(matches) == 1 else None


def load_results(results_dir: str | Path, labels_path: str | Path) -> list[FileResult]:
    """Result CSVs (``timestamp,value,anomaly_score``) under ``results_dir`` in NAB's
    ``<category>/<file>.csv`` layout, each with its label windows."""
    windows = load_windows(labels_path)
    root = Path(results_dir)
    results = []
    for path in sorted(root.rglob("*.csv")):
        relative = path.relative_to(root).as_posix()
        if relative.endswith("_scores.csv"):  # NAB's own per-profile summaries
            continue
        key = _label_key(relative, windows)
        if key is None:
            raise ValueError(f"{relative}: no such file in the labels")
        frame = pd.read_csv(path, usecols=["timestamp", "anomaly_score"])
        results.append(
            FileResult(
                name=key,
                timestamps=pd.to_datetime(frame["timestamp"]),
                scores=frame["anomaly_score"].to_numpy(dtype=float),
                windows=windows[key],
            )
        )
    missing = sorted(set(windows) - {r.name for r in results})
    if missing:
        print(f"warning: {len(missing)} labelled files have no results: {missing}", file=sys.stderr)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigil.air_quality.nab_scoring",
        description="Score NAB-format anomaly results under NAB's three profiles.",
    )
    parser.add_argument("results_dir", help="folder of <category>/<file>.csv result files")
    parser.add_argument("--labels", required=True, help="NAB combined_windows.json")
    args = parser.parse_args(argv)
    results = load_results(args.results_dir, args.labels)
    if not results:
        parser.error(f"no result CSVs under {args.results_dir}")
    print(json.dumps(score_corpus(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
