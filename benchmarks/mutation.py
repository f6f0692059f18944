"""Mutation testing of the modules that decide answers (mutmut; scope in pyproject's [tool.mutmut]).

mutmut copies ``vigil/`` and the tests to ``mutants/``, changes one operator, constant or call at a
time in the listed modules (fraud features, scoring flag and validation, graph insert, air-quality
records, toxicity losses and metrics, moderation validation) and runs the tests that cover the
changed function. A mutant that every test still passes "survived": either a test is missing or
the change does not alter behaviour (an equivalent mutant; docs/mutation-testing.md lists
those). The run is long (minutes per module on two cores), so it goes module by module
(``--modules``), niced, and keeps mutmut's results between runs (only changed functions re-run).

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
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
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


def module_names(root: Path) -> list[str]:
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    return [p.removesuffix(".py").replace("/", ".") for p in config["only_mutate"]]


def snapshot_head(target: Path) -> Path:
    """The committed tree (``git archive HEAD``) in ``target``, with this checkout's .venv."""
    keep = target / "mutants"  # mutmut's results survive a new snapshot (changed code re-runs)
    saved = target.parent / "mutation-results"
    if keep.is_dir():
        shutil.rmtree(saved, ignore_errors=True)
        keep.rename(saved)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "HEAD"], cwd=REPO_ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    (target / ".venv").symlink_to(REPO_ROOT / ".venv")
    if saved.is_dir():
        saved.rename(keep)
    return target


def run_mutmut(root: Path, patterns: list[str], max_children: int) -> int:
    command = ["nice", "-n", "10", sys.executable, "-c", BOOTSTRAP, "run"]
    command += ["--max-children", str(max_children), *patterns]
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
        codes = json.loads(meta.read_text())["exit_code_by_key"]
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
    modules = args.modules or module_names(root)
    started = time.monotonic()
    if not args.results_only:
        for module in modules:  # one module at a time: a long run can be stopped between them
            print(f"== mutmut: {module}", file=sys.stderr, flush=True)
            run_mutmut(root, [f"{module}.*"], args.max_children)
    result = results(root, modules)
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    score = result["mutation_score"]
    return 0 if score is not None and score >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
