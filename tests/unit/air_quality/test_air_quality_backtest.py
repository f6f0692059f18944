"""The backtest CLI on small files: CSV with dimensions, JSON lines, and no dimensions."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from tests.unit.air_quality.helpers import records
from vigil.air_quality.backtest import main
from vigil.air_quality.engine import Detector

START = datetime(2026, 1, 5)


def _frame():
    def spike(h, loc, record):
        if h == 24 * 18 + 3 and loc == "B-102":
            record["NO2"] *= 4

    return pd.DataFrame(records(START, 24 * 21, locations=("B-101", "B-102"), change=spike))


def test_backtest_csv_with_dimensions(tmp_path):
    path = tmp_path / "readings.csv"
    _frame().to_csv(path, index=False)
    out = tmp_path / "out"
    code = main(
        [
            str(path),
            "--measures", "CO,NO2:AVG",
            "--dimensions", "LOCATION_ID",
            "--interval", "60",
            "--threshold", "40",
            "--lateness", "0",
            "--learn-fraction", "0.5",
            "--out", str(out),
            "--state", str(tmp_path / "state.bin"),
        ]
    )  # fmt: skip
    assert code == 0
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores.columns) >= {
        "interval_start",
        "measure",
        "LOCATION_ID",
        "observed",
        "expected",
        "severity",
        "status",
    }
    assert len(scores) == 2 * 2 * (24 * 21 - 24 * 21 // 2)  # every interval, series, after learning
    groups = [json.loads(line) for line in (out / "anomalies.jsonl").read_text().splitlines()]
    spike = [g for g in groups if g["interval_start"] == "2026-01-23T03:00"]
    assert spike and spike[0]["anomalies"][0]["dimensions"] == {"LOCATION_ID": "B-102"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["received"] == len(_frame()) and summary["rejected"] == 0
    assert len(Detector.from_bytes((tmp_path / "state.bin").read_bytes()).series) == 4


def test_backtest_json_lines_without_dimensions_uses_numeric_columns(tmp_path):
    frame = _frame()
    frame = frame[frame["LOCATION_ID"] == "B-101"].drop(columns="LOCATION_ID")
    path = tmp_path / "readings.jsonl"
    frame.to_json(path, orient="records", lines=True)
    out = tmp_path / "out"
    assert main([str(path), "--interval", "60", "--out", str(out), "--dimensions", ""]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["measure"]) == {"CO", "NO2"}
    assert "LOCATION_ID" not in scores.columns


def test_backtest_reports_a_bad_configuration(tmp_path, capsys):
    path = tmp_path / "readings.csv"
    _frame().head(10).to_csv(path, index=False)
    assert main([str(path), "--interval", "7", "--out", str(tmp_path / "o")]) == 2
    assert "must divide a day" in capsys.readouterr().err
