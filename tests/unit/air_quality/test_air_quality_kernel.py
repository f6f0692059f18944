"""The compiled kernel: the single-series fast path equals streaming, and numba is optional."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.air_quality.helpers import config as two_measure_config
from tests.unit.air_quality.helpers import records
from vigil.air_quality import kernel
from vigil.air_quality.backtest import run_backtest
from vigil.air_quality.config import DetectorConfig, Measure
from vigil.air_quality.engine import Detector
from vigil.air_quality.records import validate_frame

REPO_ROOT = Path(__file__).resolve().parents[3]
# hourly, with gaps of 2, 3 and 21 hours and one repeated timestamp (numenta/NAB, MIT)
NAB_FILE = REPO_ROOT / "tests" / "data" / "nab" / "exchange-2_cpc_results.csv"
COLUMNS = ["expected", "z", "severity"]


def _nab_frame() -> pd.DataFrame:
    return pd.read_csv(NAB_FILE).rename(columns={"timestamp": "TIMESTAMP"})


def _nab_config() -> DetectorConfig:
    return DetectorConfig(
        measures=[Measure(name="value")],
        interval_minutes=60,
        timestamp_format="%Y-%m-%d %H:%M:%S",
        lateness_minutes=0,
        severity_threshold=20,  # some intervals alert, so equal statuses mean something
    )


def _streamed(frame, config, split, batch_rows, *, independent: bool) -> pd.DataFrame:
    detector = Detector(config)
    detector.independent = independent  # False: interval by interval through the two phases
    detector.learn(validate_frame(frame.iloc[:split], config))
    closed = []
    for start in range(split, len(frame), batch_rows):
        closed += detector.ingest(
            validate_frame(frame.iloc[start : start + batch_rows], config)
        ).closed
    closed += detector.flush()
    return detector.scores_frame(closed)


def _assert_same_scores(actual: pd.DataFrame, desired: pd.DataFrame) -> None:
    assert actual["interval_start"].tolist() == desired["interval_start"].tolist()
    assert actual["status"].tolist() == desired["status"].tolist()
    for column in ["observed", *COLUMNS]:
        np.testing.assert_allclose(actual[column], desired[column], rtol=1e-9, atol=0)


def test_single_series_backtest_equals_streaming_on_a_real_file(monkeypatch):
    frame, config = _nab_frame(), _nab_config()
    split = int(len(frame) * 0.2)
    calls = []
    sequence = kernel.score_sequence

    def counted(*args):
        calls.append(args[-1].size)
        return sequence(*args)

    monkeypatch.setattr(kernel, "score_sequence", counted)
    _, fast, _, summary = run_backtest(frame, config, learn_fraction=0.2)
    assert calls and max(calls) > 1  # the fast path: many intervals per kernel call
    # the file has a repeated timestamp, and intervals across the severity range
    assert summary["duplicates"] == 1 and fast["severity"].max() >= 25
    calls.clear()
    # streaming as the live detector runs: a day per object, each interval scored on its own
    streamed = _streamed(frame, config, split, 24, independent=False)
    assert not calls
    assert len(fast) == len(frame) - split - 1
    assert set(fast["status"]) == {"ok", "anomaly"}
    _assert_same_scores(fast, streamed)
    # and the fast path with other batch boundaries
    _assert_same_scores(_streamed(frame, config, split, 7, independent=True), streamed)


def test_independent_series_in_one_kernel_call_equal_interval_by_interval():
    """Many series of one measure with their own gaps: the missing-interval advance matches."""
    config = two_measure_config(measures=[Measure(name="NO2")])

    def gaps(h, loc, record):
        if (loc == "B-102" and 100 <= h < 130) or (loc == "B-103" and h % 7 == 0):
            record["NO2"] = -200.0  # a sentinel: missing for that series only
        if h == 24 * 12 + 5 and loc == "B-101":
            record["NO2"] *= 3

    frame = pd.DataFrame(
        records(datetime(2026, 1, 5), 24 * 16, locations=("B-101", "B-102", "B-103"), change=gaps)
    )
    one_call = _streamed(frame, config, 24 * 3 * 3, 24 * 3 * 4, independent=True)
    by_interval = _streamed(frame, config, 24 * 3 * 3, 24 * 3 * 4, independent=False)
    assert "anomaly" in set(one_call["status"])
    _assert_same_scores(one_call, by_interval)
    assert one_call["LOCATION_ID"].tolist() == by_interval["LOCATION_ID"].tolist()


_WITHOUT_NUMBA = """
import sys
sys.modules["numba"] = None  # `import numba` fails, as in the Lambda's pandas layer
import numpy as np
from tests.unit.air_quality.test_air_quality_kernel import scores
from vigil.air_quality import kernel
assert kernel.numba is None and not hasattr(kernel.score_sequence, "py_func")
np.savez(sys.argv[1], **scores())
"""


def scores() -> dict[str, np.ndarray]:
    """Scores of a short real file (one measure) and of two measures at two places."""
    out = {}
    frame = _nab_frame().iloc[:400]
    _, one, _, _ = run_backtest(frame, _nab_config(), learn_fraction=0.25)
    config = two_measure_config()
    frame = pd.DataFrame(records(datetime(2026, 1, 5), 24 * 10, locations=("B-101", "B-102")))
    _, two, _, _ = run_backtest(frame, config, learn_fraction=0.4, batch_rows=48)
    for name, table in (("one", one), ("two", two)):
        for column in COLUMNS:
            out[f"{name}_{column}"] = table[column].to_numpy()
        out[f"{name}_status"] = table["status"].to_numpy(dtype=str)
    return out


@pytest.mark.skipif(kernel.numba is None, reason="compares compiled with plain Python")
def test_the_same_functions_run_without_numba(tmp_path):
    target = tmp_path / "plain.npz"
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NUMBA, str(target)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    compiled = scores()
    with np.load(target, allow_pickle=False) as plain:
        assert sorted(plain.files) == sorted(compiled)
        for name, values in compiled.items():
            if name.endswith("_status"):
                assert plain[name].tolist() == values.tolist(), name
            else:
                np.testing.assert_allclose(plain[name], values, rtol=1e-9, atol=0, err_msg=name)
