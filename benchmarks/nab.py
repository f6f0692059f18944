"""The anomaly detector on the Numenta Anomaly Benchmark (NAB), as a new user would run it.

Every CSV under ``--nab-dir``'s ``data/`` (NAB's layout: ``data/<category>/<file>.csv`` with
``timestamp,value``, labels in ``labels/combined_windows.json``) is backtested with ONE
configuration for all files: one measure, no dimensions, the file's own spacing as the interval
(its median, rounded to a divisor of a day), the defaults for everything else. The detector learns
from NAB's probationary period (the first 15 % of rows, at most 750) and never sees the labels.
Each row gets its interval's severity / 100 as NAB's ``anomaly_score``; the files are written in
NAB's results layout and scored by the project's own NAB scorer
(``vigil.air_quality.nab_scoring``: NAB's windows, scaled sigmoid, profiles, and the threshold
chosen per profile over the corpus, as NAB does).

    python benchmarks/nab.py                       # ../shared/data/nab; JSON last line
    python benchmarks/nab.py --nab-dir ~/NAB       # any folder in NAB's layout

Published standard-profile scores on the 34-file development subset (NAB's definition):
ARTime 80.4, Numenta HTM 72.8, Random Cut Forest 52.4; the null detector scores 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vigil.air_quality.backtest import run_backtest  # noqa: E402
from vigil.air_quality.config import MINUTES_PER_DAY, DetectorConfig, Measure  # noqa: E402
from vigil.air_quality.nab_scoring import (  # noqa: E402
    FileResult,
    load_windows,
    probationary_rows,
    score_corpus,
)

DEFAULT_NAB_DIR = ROOT.parent / "shared" / "data" / "nab"
OUT = ROOT / "build" / "benchmarks" / "nab"
_DIVISORS = [d for d in range(1, MINUTES_PER_DAY + 1) if MINUTES_PER_DAY % d == 0]


def file_interval(timestamps: pd.Series) -> int:
    """The file's own spacing in minutes: the median step, rounded to a divisor of a day."""
    step = float(timestamps.diff().dt.total_seconds().median() / 60.0)
    return min(_DIVISORS, key=lambda d: abs(np.log(d / max(step, 1.0))))


def nab_config(interval_minutes: int) -> DetectorConfig:
    """What a new user writes for one metric: the measure, its timestamp and the interval."""
    return DetectorConfig(
        name="nab",
        interval_minutes=interval_minutes,
        measures=[Measure(name="value")],
        timestamp_column="timestamp",
        timestamp_format="%Y-%m-%d %H:%M:%S",
    )


def alerting(config: DetectorConfig) -> DetectorConfig:
    """The same detector alerting at every severity: NAB's sweep then applies the threshold,
    which gives exactly what the detector alerts at each one."""
    return config.model_copy(update={"severity_threshold": 0.0})


def detect_file(path: Path) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Backtest one NAB file; returns the frame, each row's score in [0, 1] and figures."""
    frame = pd.read_csv(path)
    stamps = pd.to_datetime(frame["timestamp"])
    interval = file_interval(stamps)
    learn = probationary_rows(len(frame))
    _, scores, _, summary = run_backtest(
        frame, alerting(nab_config(interval)), learn_fraction=learn / len(frame)
    )
    # a row's score: the severity of the alert its interval raises (0: none)
    alert = np.where(scores["status"] == "anomaly", scores["severity"].to_numpy(), 0.0)
    severity = pd.Series(alert, index=scores["interval_start"])
    row_interval = stamps.dt.floor(f"{interval}min")
    row_severity = severity.reindex(row_interval).fillna(0.0).to_numpy().copy()
    row_severity[:learn] = 0.0
    scored = scores["interval_start"] >= row_interval.iloc[learn] if learn < len(frame) else []
    figures = {
        "interval_minutes": interval,
        "scored_intervals": int(np.sum(scored)),
        "at_100": int(np.sum(scores["severity"].to_numpy()[scored] >= 100.0)),
        "alerts": int(np.sum(alert[scored] > 0)),
        "summary": summary,
    }
    return frame, np.clip(row_severity / 100.0, 0.0, 1.0), figures


def single_series_speed(files: list[Path]) -> float:
    """Rows per CPU second backtesting one long series: the real files' values end to end (CPU
    time, as ``benchmarks/air_quality.py`` counts it: on a shared machine wall time measures
    the neighbours)."""
    values = np.concatenate([pd.read_csv(f)["value"].to_numpy(float) for f in files])
    stamps = pd.date_range("2020-01-01", periods=len(values), freq="1min")
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": values})
    run_backtest(frame.iloc[:2000], nab_config(1), learn_fraction=0.2)  # compile, if numba
    start = time.process_time()
    run_backtest(frame, nab_config(1), learn_fraction=750 / len(frame))
    return len(frame) / (time.process_time() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab-dir", type=Path, default=DEFAULT_NAB_DIR)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--skip-speed", action="store_true", help="skip the one-series timing")
    args = parser.parse_args(argv)

    data_dir = args.nab_dir / "data"
    files = sorted(data_dir.glob("*/*.csv"))
    if not files and args.nab_dir == DEFAULT_NAB_DIR:
        # a clone without ../shared: `make bench` goes on with the other benchmarks
        report = {"skipped": f"no NAB data under {data_dir}; give --nab-dir"}
        print(json.dumps(report))
        return report
    if not files:
        raise SystemExit(f"no NAB data under {data_dir} (expected data/<category>/<file>.csv)")
    windows = load_windows(args.nab_dir / "labels" / "combined_windows.json")
    results, per_file = [], {}
    scored = at_100 = rows = 0
    start = time.perf_counter()
    for path in tqdm(files, desc="NAB files", unit="file"):
        key = f"{path.parent.name}/{path.name}"
        frame, row_scores, figures = detect_file(path)
        out = args.out / "results" / path.parent.name / f"vigil_{path.name}"
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.assign(anomaly_score=row_scores).to_csv(out, index=False)
        results.append(
            FileResult(
                name=key,
                timestamps=pd.to_datetime(frame["timestamp"]).to_numpy(),
                scores=row_scores,
                windows=windows.get(key, []),
            )
        )
        scored += figures["scored_intervals"]
        at_100 += figures["at_100"]
        rows += len(frame)
        per_file[key] = {"rows": len(frame), "interval_minutes": figures["interval_minutes"]}
    seconds = time.perf_counter() - start
    corpus = score_corpus(results)
    report = {
        "nab_standard": round(corpus["standard"]["score"], 2),
        "nab_reward_low_fp": round(corpus["reward_low_FP_rate"]["score"], 2),
        "nab_reward_low_fn": round(corpus["reward_low_FN_rate"]["score"], 2),
        "thresholds": {p: round(v["threshold"], 4) for p, v in corpus.items()},
        "files": len(files),
        "rows": rows,
        "seconds": round(seconds, 2),
        "share_of_intervals_at_severity_100": round(at_100 / max(scored, 1), 5),
    }
    if not args.skip_speed:
        report["single_series_rows_per_second"] = round(single_series_speed(files))
    (args.out / "corpus.json").write_text(json.dumps({"corpus": corpus, **report}, indent=2))
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
