"""Where the public data sets that tests, demos and benchmarks read live (standard library only).

Tests and demos read only the small copies vendored in the repository's ``data/`` folder (each with
its ``ORIGIN.md``), so a fresh clone runs ``make test`` and ``make demo`` with nothing beside it.
Benchmarks may prefer the development machine's ``../shared/data/`` (same layout, and where larger
sets would live) and fall back to ``data/``.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

# Paths relative to a data folder (the same in data/ and ../shared/data/).
UCI_AIR_QUALITY = Path("air-quality-uci") / "AirQualityUCI.csv"
JIGSAW_SAMPLE = Path("jigsaw-toxic-comments") / "comments_sample.csv"


def data_file(relative: str | Path, *, prefer_shared: bool = False) -> Path:
    """The path of a data file; ``FileNotFoundError`` naming every place looked at when missing.

    ``prefer_shared`` (benchmarks): take ``../shared/data/<relative>`` when it exists.
    """
    candidates = [DATA_DIR / relative]
    if prefer_shared:
        candidates.insert(0, SHARED_DATA_DIR / relative)
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"data file {relative} not found (looked in: {looked}); it is vendored under data/ "
        "in the repository: is this a complete checkout?"
    )
