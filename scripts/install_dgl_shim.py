"""Write ``vigil-dgl-compat.pth`` into the active virtualenv's site-packages.

A ``.pth`` line that starts with ``import`` runs at interpreter start-up; this one puts the
repository on ``sys.path`` and registers ``vigil.dgl_compat``'s import hook, so ``import dgl``
works anywhere in the venv (see that module for why). Re-running rewrites the same file.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PTH_NAME = "vigil-dgl-compat.pth"


def main() -> int:
    if sys.prefix == sys.base_prefix:
        print("install_dgl_shim: refusing to write outside a virtualenv", file=sys.stderr)
        return 1
    site_packages = Path(site.getsitepackages()[0])
    target = site_packages / PTH_NAME
    target.write_text(
        f"{REPO_ROOT}\nimport vigil.dgl_compat\n",
        encoding="utf-8",
    )
    print(f"install_dgl_shim: wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
