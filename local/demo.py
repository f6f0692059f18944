"""`make demo`: runs each system's local end-to-end demo, in order, on local stand-ins.

A system's demo is the ``main()`` of ``local/demo_<system>.py``; a system without one yet prints
a clear message instead of failing. Usage: ``python -m local.demo [all|fraud|air-quality|toxicity]``.
"""

from __future__ import annotations

import importlib
import sys
import time

DEMOS = {
    "fraud": "local.demo_fraud",
    "air-quality": "local.demo_air_quality",
    "toxicity": "local.demo_toxicity",
}


def run(names: list[str]) -> int:
    failures = []
    for name in names:
        module_name = DEMOS[name]
        print(f"\n===== Vigil demo: {name} =====", flush=True)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            print(f"[{name}] no local demo yet ({module_name.replace('.', '/')}.py does not exist)")
            continue
        started = time.monotonic()
        code = module.main([])
        print(f"[{name}] finished in {time.monotonic() - started:.1f}s with exit code {code or 0}")
        if code:
            failures.append(name)
    if failures:
        print(f"\nDemos that failed: {', '.join(failures)}")
        return 1
    return 0


def main(argv: list[str]) -> int:
    choice = argv[0] if argv else "all"
    if choice != "all" and choice not in DEMOS:
        print(f"unknown demo {choice!r}; choose one of: all, {', '.join(DEMOS)}")
        return 2
    return run(list(DEMOS) if choice == "all" else [choice])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
