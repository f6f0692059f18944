"""`python app.py` needs only the CDK libraries and pydantic: CDK code takes what it shares with
runtime code from the `vigil.<system>.contract` modules, never from modules that import numpy,
pandas, torch, boto3 or Powertools (requirements/cdk.txt is what synth needs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aws_cdk import App

from cdk.app_builder import build_app

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_ONLY = ("numpy", "pandas", "torch", "aws_lambda_powertools", "boto3", "botocore")

# Runs app.py as `python app.py` would, then lists the runtime-only modules it imported.
_DRIVER = """
import json, runpy, sys
runpy.run_path("app.py", run_name="__main__")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in %r)))
"""


def test_synth_imports_no_runtime_dependencies(tmp_path):
    # The SageMaker SDK (which imports pandas) computes image URIs only when their on-disk cache
    # is cold; building the stacks here first fills that cache, as any earlier synth would.
    build_app(App(outdir=str(tmp_path / "warm")), nag=False)
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "cdk.out")}
    result = subprocess.run(
        [sys.executable, "-c", _DRIVER % (RUNTIME_ONLY,)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted((tmp_path / "cdk.out").glob("*.template.json")), "synth wrote no template"
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == [], f"synth imported runtime-only modules: {imported}"
