"""What a SageMaker container installs at start, and from where: one definition for every code
bundle (training ``sourcedir.tar.gz``, inference ``code/``). Standard library only: synth, the
packaging script and training jobs (which write their model's ``code/``) all import it.

* ``requirements/containers/<name>.in`` names what a container needs beyond its framework image;
  ``<name>.txt``, written by ``scripts/container_requirements.py lock``, is its whole dependency
  closure for the image's platform (Linux x86_64, CPython 3.11), every line ``name==version
  --hash=sha256:...``, minus what the image provides (torch, numpy).
* ``scripts/container_requirements.py wheels`` downloads exactly those wheels, hashes checked,
  into ``build/container-wheels/<name>/`` (from PyPI at package time, or from a local wheel folder).
* At synth, :func:`bundle_entries` puts the wheels into the bundle's ``wheels/`` (a training job
  that writes its model's ``code/`` uses :func:`code_files`) and writes its
  ``requirements.txt`` as ``--no-index``, ``--find-links wheels`` (pip resolves it beside the
  file), ``--require-hashes`` and the hashed lines: the container installs only those files, and
  only if their hashes match. Under network isolation it could reach no index anyway.

A bundle synthesized without the wheel folder still carries the hashed requirements; its container
then fails at start with pip's "no matching distribution" instead of installing anything else.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS_DIR = REPO_ROOT / "requirements" / "containers"
WHEELS_DIR = REPO_ROOT / "build" / "container-wheels"
# synth reads the wheel folders from here instead (a folder with one subfolder per name)
WHEELS_DIR_ENV = "VIGIL_CONTAINER_WHEELS"
BUNDLE_WHEELS = "wheels"
# What a trained toxicity model's code/ installs when served: its training job writes it there
# (vigil.toxicity.training.add_serving_code), so the name is here, importable with no third-party
# package in the training container.
TOXICITY_SERVING = "toxicity-serving"
# The platform every SageMaker framework image Vigil uses runs on: Linux x86_64 with glibc 2.31
# (Ubuntu 20.04 based DLCs), CPython 3.11. Wheels of any manylinux tag up to glibc 2.31 install.
GLIBC_MINOR = 31
PLATFORM_TAGS = (
    *tuple(f"manylinux_2_{minor}_x86_64" for minor in range(GLIBC_MINOR, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
PYTHON = ("3.11", "cp", "cp311")  # version, implementation, ABI
# In every framework image already, at the version its framework needs: never in a closure (pip
# finds them installed; installing others over them would break the framework).
PROVIDED_BY_IMAGE = frozenset({"torch", "numpy"})
_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)"
    r"(?P<hashes>(?:\s+--hash=sha256:[0-9a-f]{64})+)\s*$"
)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]

    def line(self) -> str:
        return f"{self.name}=={self.version} " + " ".join(f"--hash=sha256:{h}" for h in self.hashes)


class UnpinnedRequirement(ValueError):
    pass


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> list[Pin]:
    """Every requirement of a hashed file; any line that is not ``name==version --hash=...``
    (a range, a URL, an option, a line without hash) is refused."""
    pins = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.match(line)
        if not match:
            raise UnpinnedRequirement(f"{path}:{number}: not pinned with a hash: {raw.strip()!r}")
        hashes = tuple(re.findall(r"sha256:([0-9a-f]{64})", match["hashes"]))
        pins.append(Pin(match["name"], match["version"], hashes))
    return pins


def requirements_file(name: str, root: Path = REPO_ROOT) -> Path:
    return root / REQUIREMENTS_DIR.relative_to(REPO_ROOT) / f"{name}.txt"


def requirements_text(pins: list[Pin]) -> str:
    lines = ["--no-index", f"--find-links {BUNDLE_WHEELS}", "--require-hashes"]
    return "\n".join(lines + [pin.line() for pin in pins]) + "\n"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _wheel_name(path: Path) -> tuple[str, str]:
    name, version = path.name.split("-")[:2]
    return canonical(name), version


def collect_wheels(pins: list[Pin], source: Path) -> list[Path]:
    """The one wheel of ``source`` for each pin, its hash checked; anything else there is left
    out. Raises if a pin has no wheel or its wheel's hash is not one of the pin's."""
    by_name: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(source.glob("*.whl")):
        by_name.setdefault(_wheel_name(path), []).append(path)
    chosen = []
    for pin in pins:
        candidates = by_name.get((canonical(pin.name), pin.version), [])
        matching = [p for p in candidates if _sha256(p) in pin.hashes]
        if not matching:
            found = ", ".join(p.name for p in candidates) or "no wheel"
            raise FileNotFoundError(
                f"{source}: no wheel of {pin.name}=={pin.version} with a pinned hash ({found})"
            )
        chosen.append(matching[0])
    return chosen


def wheels_source(name: str, root: Path = REPO_ROOT) -> Path:
    default = root / WHEELS_DIR.relative_to(REPO_ROOT)
    return Path(os.environ.get(WHEELS_DIR_ENV) or default) / name


def bundle_entries(name: str, prefix: str = "", *, wheels: Path | None = None) -> list:
    """``(arcname, bytes)`` for a bundle: ``<prefix>requirements.txt`` and, when the wheel folder
    ``wheels`` (default :func:`wheels_source`) exists, ``<prefix>wheels/*.whl``."""
    pins = read_pins(requirements_file(name))
    entries = [(f"{prefix}requirements.txt", requirements_text(pins).encode())]
    source = wheels if wheels is not None else wheels_source(name)
    if source.is_dir():
        entries += [
            (f"{prefix}{BUNDLE_WHEELS}/{path.name}", path.read_bytes())
            for path in collect_wheels(pins, source)
        ]
    return entries


def code_files(name: str, root: Path = REPO_ROOT) -> tuple[list[str], dict[str, Path]]:
    """``code/requirements.txt`` lines and ``{"wheels/<file>": path}`` for a model's ``code/``,
    from ``root`` laid out as the repository (a training job's source bundle carries the hashed
    file and the wheel folder at the same relative paths)."""
    pins = read_pins(requirements_file(name, root))
    source = wheels_source(name, root)
    wheels = collect_wheels(pins, source) if source.is_dir() else []
    lines = requirements_text(pins).splitlines()
    return lines, {f"{BUNDLE_WHEELS}/{path.name}": path for path in wheels}
