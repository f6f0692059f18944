"""`make demo`: runs each system's local end-to-end demo, in order, on local stand-ins.

A system's demo is the ``main()`` of ``local/demos/<system>.py``; a system without one yet prints
a clear message instead of failing. Every demo runs even when an earlier one fails (raises or
returns non-zero); a summary names each demo's result and the exit code is 1 if any failed.
Usage: ``python -m local.demo [all|fraud|air-quality|toxicity] [--exit]``.

After ``all``, the Vigil console (``local/console/live.py``) serves the three systems live on the
stand-ins and prints its URL, until Ctrl-C. ``--exit`` (``make demo ARGS=--exit``) or
``VIGIL_DEMO_EXIT=1`` runs the demos to completion and exits, for scripts and CI.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback

DEMOS = {
    "fraud": "local.demos.fraud",
    "air-quality": "local.demos.air_quality",
    "toxicity": "local.demos.toxicity",
}
# Where a demo leaves what the console serves afterwards
DEMO_ARGS = {"toxicity": ["--workdir", "build/demo/toxicity"]}


def _run_one(name: str) -> str | None:
    """Run one system's demo; None when it succeeded, else what went wrong (one line)."""
    module_name = DEMOS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"[{name}] no local demo yet ({module_name.replace('.', '/')}.py does not exist)")
        return None
    code = module.main(list(DEMO_ARGS.get(name, [])))
    return f"exit code {code}" if code else None


def run(names: list[str]) -> int:
    """Run every named demo even when one fails, then one summary line per demo."""
    results: dict[str, str | None] = {}
    for name in names:
        print(f"\n===== Vigil demo: {name} =====", flush=True)
        started = time.monotonic()
        try:
            error = _run_one(name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: one demo must not stop the others
            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        results[name] = error
        outcome = "ok" if error is None else f"FAILED ({error})"
        print(f"[{name}] {outcome} in {time.monotonic() - started:.1f}s", flush=True)
    print("\n===== Vigil demo results =====")
    for name, error in results.items():
        print(f"  {name:<12} {'ok' if error is None else 'FAILED: ' + error}")
    failed = [name for name, error in results.items() if error is not None]
    if failed:
        print(f"{len(failed)} of {len(results)} demos failed: {', '.join(failed)}")
        return 1
    print(f"all {len(results)} demos ok")
    return 0


def main(argv: list[str]) -> int:
    stay = "--exit" not in argv and os.environ.get("VIGIL_DEMO_EXIT", "") not in ("1", "true")
    argv = [a for a in argv if a != "--exit"]
    choice = argv[0] if argv else "all"
    if choice != "all" and choice not in DEMOS:
        print(f"unknown demo {choice!r}; choose one of: all, {', '.join(DEMOS)}")
        return 2
    code = run(list(DEMOS) if choice == "all" else [choice])
    if choice == "all" and stay:
        print("\n===== Vigil console (--exit or VIGIL_DEMO_EXIT=1 to skip) =====", flush=True)
        from local.console import live

        code = live.main([]) or code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
