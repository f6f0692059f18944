"""Mutation testing of the modules that decide answers (mutmut; scope in pyproject's [tool.mutmut]).

mutmut copies ``vigil/`` and the tests to ``mutants/``, changes one operator, constant or call at a
time in the functions that decide answers (``DECIDING`` below: fraud features, the scoring flag,
request and endpoint-answer validation, the graph's finiteness guard, air-quality record
validation, toxicity probabilities and metrics, moderation validation) and runs the tests that
cover the changed function. A mutant that every test still passes "survived": either a test is
missing or the change does not alter behaviour (an equivalent mutant; docs/quality-campaigns.md
lists those). A run takes tens of minutes on two busy cores: ``--modules`` picks some, it runs
niced, and mutmut keeps its results in ``mutants/`` between runs in one tree.

Why a bootstrap instead of the ``mutmut`` script: the DGL shim's ``.pth`` puts the repository on
``sys.path`` and imports ``vigil`` at interpreter start, so the tests would import the original
``vigil`` instead of the mutated copy (every mutant would survive). The bootstrap removes that
entry and forgets the imported package before mutmut starts.

``python benchmarks/mutation.py [--modules vigil.toxicity.losses ...] [--from-head]``:
``--from-head`` runs on a copy of the committed tree under ``build/mutation/`` (other people's
uncommitted edits in a shared checkout do not leak in). JSON on the last line: ``mutants``,
``killed``, ``mutation_score`` (killed / mutants; timeouts count as killed, mutants no test
covers as survivors), ``survivors`` (names), per-module figures.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

BOOTSTRAP = """
import sys
from pathlib import Path
sys.path[:] = [p for p in sys.path
               if 'mutants' in p or not (Path(p or '.') / 'vigil' / '__init__.py').is_file()]
for name in [m for m in sys.modules if m == 'vigil' or m.startswith('vigil.')]:
    if name != 'vigil.dgl_compat':  # its import hook stays registered; it mutates nothing
        del sys.modules[name]
sys.argv[0] = 'mutmut'
from mutmut.__main__ import cli
cli()
"""

KILLED = {"killed", "timeout", "caught by type check"}

# The functions that decide an answer, per module (mutmut names methods ``xǁClassǁmethod``).
# Everything else in these modules (spec I/O, report writing, the retry loop, the endpoint
# client) is left out to keep a run feasible on two shared cores.
DECIDING = {
    "vigil.fraud.features": [
        "signed_log1p",
        "to_float32",
        "parse_number",
        "numeric_value",
        "add_vectors",
        "_finite_float32",
        "is_finite_vector",
    ],
    "vigil.fraud.scoring.scorer": ["ǁScorerǁflag"],
    "vigil.fraud.scoring.endpoint": ["pred_prob_of"],
    "vigil.fraud.scoring.event": ["parse_transaction"],
    "vigil.fraud.scoring.api": ["_json_body"],
    "vigil.fraud.graph": ["_check_finite", "insert_query", "ǁFraudGraphǁinsert"],
    "vigil.air_quality.records": ["_is_number_column", "_float_nan"],
    "vigil.toxicity.losses": ["probabilities"],
    "vigil.toxicity.metrics": ["_truth", "compute_metrics"],
    "vigil.toxicity.moderation": ["parse_request", "_result_problem", "decisions"],
}


def patterns(modules: list[str]) -> list[str]:
    """mutmut's mutant-name globs of the deciding functions of ``modules``."""
    out = []
    for module in modules:
        for function in DECIDING[module]:
            prefix = "x" if function.startswith("ǁ") else "x_"
            out.append(f"{module}.{prefix}{function}__mutmut_*")
    return out


def snapshot_head(target: Path) -> Path:
    """The committed tree (``git archive HEAD``) in a fresh ``target``, with this checkout's
    .venv (mutmut copies sources into ``mutants/`` once, so a new tree starts a new run)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "HEAD"], cwd=REPO_ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    (target / ".venv").symlink_to(REPO_ROOT / ".venv")
    return target


def run_mutmut(root: Path, globs: list[str], max_children: int) -> int:
    command = ["nice", "-n", "10", sys.executable, "-c", BOOTSTRAP, "run"]
    command += ["--max-children", str(max_children), *globs]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, cwd=root, env=env).returncode


def results(root: Path, modules: list[str]) -> dict:
    from mutmut.stats import status_by_exit_code

    per_module = {}
    survivors = []
    totals: Counter = Counter()
    for module in modules:
        meta = root / "mutants" / (module.replace(".", "/") + ".py.meta")
        if not meta.is_file():
            continue
        globs = patterns([module])
        codes = {
            name: code
            for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
            if any(fnmatch.fnmatchcase(name, g) for g in globs)
        }
        statuses = {name: status_by_exit_code[code] for name, code in codes.items()}
        checked = {n: s for n, s in statuses.items() if s != "not checked"}
        killed = sum(s in KILLED for s in checked.values())
        survived = sorted(n for n, s in checked.items() if s not in KILLED)
        survivors += [f"{n} ({checked[n]})" for n in survived]
        per_module[module] = {
            "mutants": len(checked),
            "killed": killed,
            "not_checked": len(statuses) - len(checked),
            "mutation_score": round(killed / len(checked), 3) if checked else None,
        }
        totals.update({"mutants": len(checked), "killed": killed})
    return {
        "mutants": totals["mutants"],
        "killed": totals["killed"],
        "mutation_score": round(totals["killed"] / totals["mutants"], 3)
        if totals["mutants"]
        else None,
        "survivors": survivors,
        "modules": per_module,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="*", help="dotted module names (default: all listed)")
    parser.add_argument("--from-head", action="store_true", help="run on the committed tree")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--results-only", action="store_true", help="report the last run")
    parser.add_argument("--target", type=float, default=0.85)
    args = parser.parse_args(argv)
    root = REPO_ROOT / "build" / "mutation" if args.from_head else REPO_ROOT
    if args.from_head and not args.results_only:
        snapshot_head(root)
    modules = args.modules or list(DECIDING)
    started = time.monotonic()
    if not args.results_only:
        run_mutmut(root, patterns(modules), args.max_children)
    result = results(root, modules)
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    score = result["mutation_score"]
    return 0 if score is not None and score >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
