"""``benchmarks/load.py`` end to end on a small run: its result line and its checks hold.

Slow: it generates, ETLs (Spark) and trains a small graph, then starts the stand-ins.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "load.py"


def test_a_small_load_run_has_no_errors_and_keeps_the_graph_consistent(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("load_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    code = module.main(
        [
            "--transactions=200",
            "--replays=50",
            "--concurrency=4",
            "--graph-transactions=1000",
            "--epochs=2",
            f"--workdir={tmp_path}",
        ]
    )

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, result
    assert result["requests"] == 200 and result["errors"] == 0
    assert result["replays"] == 50
    assert result["replay_mismatches"] == 0 and result["replay_writes"] == 0
    assert result["invariant_violations"] == 0
    assert result["concurrency"] == 4
    assert result["p50_ms"] <= result["p99_ms"]
