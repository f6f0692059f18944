"""Backtest: run the detector engine over a historical file and write every interval's score.

Works on any CSV or JSON-lines file with a timestamp column and numeric columns, with or without
dimensions. Configuration comes from a JSON/YAML file (``--config``) or from flags; flags override
the file. Outputs, in ``--out``: ``scores.csv`` (every scored interval and series: observed,
expected, z, severity, status), ``anomalies.jsonl`` (one anomaly group per line),
``summary.json`` and, with ``--state``, the learnt state for the continuous detector.

    python -m vigil.air_quality.backtest readings.csv --measures CO,NO2 --dimensions LOCATION_ID \\
        --interval 5 --out out/
    python -m vigil.air_quality.backtest data/air-quality-uci/AirQualityUCI.csv \\
        --sep ';' --decimal ',' --timestamp-column Date,Time --timestamp-format '%d/%m/%Y %H.%M.%S' \\
        --measures 'CO(GT),NO2(GT)' --interval 60 --learn-fraction 0.3 --out out/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from vigil.air_quality.config import DetectorConfig, load_config
from vigil.air_quality.engine import Detector
from vigil.air_quality.records import validate_frame


def read_table(path: str | Path, *, sep: str | None = None, decimal: str = ".") -> pd.DataFrame:
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return pd.read_json(path, lines=True, dtype=False)
    frame = pd.read_csv(path, sep=sep or ",", decimal=decimal, engine="python" if sep else "c")
    frame = frame.loc[:, [c for c in frame.columns if not str(c).startswith("Unnamed")]]
    return frame.dropna(how="all")


def run_backtest(
    frame: pd.DataFrame,
    config: DetectorConfig,
    *,
    learn_fraction: float = 0.0,
    batch_rows: int = 5000,
) -> tuple[Detector, pd.DataFrame, list, dict]:
    """Learn from the first ``learn_fraction`` of rows, then stream the rest in batches.

    With one measure the series are independent: each batch's closed intervals are scored in one
    compiled loop (``Detector.score_intervals``), with the same scores as interval by interval.
    """
    detector = Detector(config)
    split = int(len(frame) * learn_fraction)
    received = rejected = 0
    if split:
        history = validate_frame(frame.iloc[:split], config)
        received += history.received
        rejected += len(history.rejects)
        detector.learn(history)
    closed = []
    duplicates = late = 0
    for start in range(split, len(frame), batch_rows):
        batch = validate_frame(frame.iloc[start : start + batch_rows], config)
        result = detector.ingest(batch)
        received += batch.received
        rejected += len(batch.rejects) + len(result.late)
        duplicates += result.duplicates
        late += len(result.late)
        closed.extend(result.closed)
    closed.extend(detector.flush())
    scores = detector.scores_frame(closed)
    groups = detector.groups(closed)
    summary = {
        "rows": len(frame),
        "learned_rows": split,
        "received": received,
        "rejected": rejected,
        "late": late,
        "duplicates": duplicates,
        "series": len(detector.series),
        "scored": len(scores),
        "anomalies": sum(len(g.anomalies) for g in groups),
        "anomaly_groups": len(groups),
    }
    return detector, scores, groups, summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m vigil.air_quality.backtest")
    parser.add_argument("file", help="CSV or JSON lines (.jsonl)")
    parser.add_argument("--config", help="detector config (.json/.yaml)")
    parser.add_argument("--measures", help="NAME[:AVG|SUM],... (default: every numeric column)")
    parser.add_argument("--dimensions", help="comma-separated dimension columns")
    parser.add_argument("--timestamp-column", help="column, or columns joined: Date,Time")
    parser.add_argument("--timestamp-format", help="strftime format, iso8601, epoch_s, epoch_ms")
    parser.add_argument("--interval", type=int, help="interval in minutes")
    parser.add_argument("--threshold", type=float, help="alert severity threshold (0-100)")
    parser.add_argument("--lateness", type=int, help="allowed lateness in minutes")
    parser.add_argument("--learn-fraction", type=float, default=0.0)
    parser.add_argument("--sep", help="CSV separator (default ,)")
    parser.add_argument("--decimal", default=".", help="CSV decimal mark")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--state", type=Path, help="write the learnt engine state here")
    args = parser.parse_args(argv)

    frame = read_table(args.file, sep=args.sep, decimal=args.decimal)
    base = load_config(args.config).model_dump() if args.config else {}
    if args.timestamp_column:
        columns = args.timestamp_column.split(",")
        base["timestamp_column"] = columns[0] if len(columns) == 1 else columns
    if args.timestamp_format:
        base["timestamp_format"] = args.timestamp_format
    if args.dimensions is not None:
        base["dimensions"] = [d for d in args.dimensions.split(",") if d]
    if args.interval:
        base["interval_minutes"] = args.interval
    if args.threshold is not None:
        base["severity_threshold"] = args.threshold
    if args.lateness is not None:
        base["lateness_minutes"] = args.lateness
    if args.measures:
        base["measures"] = [
            {"name": n, "aggregation": (a or "AVG").upper()}
            for n, _, a in (m.partition(":") for m in args.measures.split(","))
        ]
    elif "measures" not in base:
        stamp = base.get("timestamp_column", "TIMESTAMP")
        skip = set(base.get("dimensions", [])) | set([stamp] if isinstance(stamp, str) else stamp)
        numeric = [
            c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])
        ]
        base["measures"] = [{"name": c} for c in numeric[:5]]
    try:
        config = DetectorConfig.model_validate(base)
    except ValueError as exc:
        print(f"invalid detector configuration: {exc}", file=sys.stderr)
        return 2
    detector, scores, groups, summary = run_backtest(
        frame, config, learn_fraction=args.learn_fraction
    )
    args.out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(args.out / "scores.csv", index=False)
    with open(args.out / "anomalies.jsonl", "w") as handle:
        for group in groups:
            handle.write(json.dumps(group.to_dict()) + "\n")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    if args.state:
        args.state.write_bytes(detector.to_bytes())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
