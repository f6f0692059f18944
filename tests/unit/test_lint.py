"""ruff is a gate: lint and format checks run as part of `make test`."""

from __future__ import annotations

import subprocess
import sys

from local.standins.synth import REPO_ROOT


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ruff_check_is_clean():
    completed = _ruff("check", "--output-format", "concise", ".")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_ruff_format_is_clean():
    completed = _ruff("format", "--check", ".")
    assert completed.returncode == 0, completed.stdout + completed.stderr
