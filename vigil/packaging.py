"""SageMaker model packaging: one definition of the ``model.tar.gz`` layout, cloud and local.

A SageMaker framework endpoint (here the PyTorch inference image) unpacks ``model.tar.gz`` into
``/opt/ml/model`` and expects::

    model.pt, config.json, ...     the model files, at the top (what ``model_fn`` loads)
    code/inference.py              model_fn / input_fn / predict_fn / output_fn
    code/requirements.txt          optional; the toolkit pip-installs it at start-up
    code/<package>/...             modules inference.py imports (code/ is on the workers' path)

* :func:`add_inference_code` writes ``code/`` into a model directory in place — what a training
  entry point calls on ``SM_MODEL_DIR`` at the end, so the training job's own ``model.tar.gz`` is
  directly deployable (and what a local run calls on its output directory).
* :func:`package_model` writes ``model.tar.gz`` from a model directory, adding ``code/`` on the
  way without touching the directory.
* :func:`unpack_model` extracts such a tarball safely (what the local model server does with one).

``packages`` copies importable project packages into ``code/`` (``["vigil.fraud"]`` copies
``vigil/__init__.py`` and ``vigil/fraud/``), so ``inference.py`` can ``import vigil.fraud...`` in
the endpoint exactly as it does locally, where the repository root is on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

CODE_DIR = "code"
ENTRY_POINT = "inference.py"
REQUIREMENTS = "requirements.txt"
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}

PathLike = str | os.PathLike
Files = Iterable[PathLike] | Mapping[str, PathLike]


def _named(files: Files) -> Iterator[tuple[str, Path]]:
    """(name inside code/, source) pairs: a mapping names them, a list keeps the file names."""
    items = files.items() if isinstance(files, Mapping) else ((None, f) for f in files)
    for name, source in items:
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(f"code file {source} does not exist")
        yield (name or source.name), source


def _tree(root: Path, arc_root: str) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for filename in sorted(filenames):
            if Path(filename).suffix in _SKIP_SUFFIXES:
                continue
            path = Path(dirpath) / filename
            yield f"{arc_root}/{path.relative_to(root).as_posix()}", path


def _package_files(name: str) -> Iterator[tuple[str, Path]]:
    """Files of an importable package or module, with parent packages' ``__init__.py``."""
    spec = importlib.util.find_spec(name)
    if spec is None or (spec.origin is None and not spec.submodule_search_locations):
        raise ModuleNotFoundError(f"cannot package {name!r}: it is not importable here")
    parts = name.split(".")
    for depth in range(1, len(parts)):
        parent = importlib.util.find_spec(".".join(parts[:depth]))
        if parent is not None and parent.origin and parent.origin.endswith("__init__.py"):
            yield "/".join(parts[:depth]) + "/__init__.py", Path(parent.origin)
    if spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            yield from _tree(Path(location), "/".join(parts))
    else:
        yield "/".join([*parts[:-1], Path(spec.origin).name]), Path(spec.origin)


def code_entries(
    *,
    entry_point: PathLike,
    code_files: Files = (),
    packages: Iterable[str] = (),
) -> list[tuple[str, Path]]:
    """(path inside the model, source file) for everything ``code/`` holds (requirements aside)."""
    entry_point = Path(entry_point)
    if not entry_point.is_file():
        raise FileNotFoundError(f"inference entry point {entry_point} does not exist")
    entries = [(f"{CODE_DIR}/{ENTRY_POINT}", entry_point)]
    entries += [(f"{CODE_DIR}/{name}", src) for name, src in _named(code_files)]
    for package in packages:
        entries += [(f"{CODE_DIR}/{name}", src) for name, src in _package_files(package)]
    seen: dict[str, Path] = {}
    for arcname, source in entries:
        if arcname in seen and seen[arcname].resolve() != source.resolve():
            raise ValueError(f"{arcname} would come from both {seen[arcname]} and {source}")
        seen[arcname] = source
    return sorted(seen.items())


def _requirements_text(requirements: Iterable[str]) -> str | None:
    lines = [line.strip() for line in requirements if line.strip()]
    return "\n".join(lines) + "\n" if lines else None


def add_inference_code(
    model_dir: PathLike,
    *,
    entry_point: PathLike,
    code_files: Files = (),
    packages: Iterable[str] = (),
    requirements: Iterable[str] = (),
) -> Path:
    """Write ``code/`` (inference.py, extra files, packages, requirements) into ``model_dir``.

    An existing ``code/`` is replaced, so running it twice gives the same directory.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise NotADirectoryError(f"model directory {model_dir} does not exist")
    entries = code_entries(entry_point=entry_point, code_files=code_files, packages=packages)
    code = model_dir / CODE_DIR
    shutil.rmtree(code, ignore_errors=True)
    for arcname, source in entries:
        target = model_dir / arcname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    text = _requirements_text(requirements)
    if text:
        (code / REQUIREMENTS).write_text(text, encoding="utf-8")
    return model_dir


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def package_model(
    model_dir: PathLike,
    output_tar: PathLike,
    *,
    entry_point: PathLike | None = None,
    code_files: Files = (),
    packages: Iterable[str] = (),
    requirements: Iterable[str] = (),
) -> Path:
    """Write a SageMaker ``model.tar.gz``: the files of ``model_dir`` at the top, plus ``code/``.

    With ``entry_point`` the ``code/`` folder is built from the arguments (any ``code/`` already
    in ``model_dir`` is left out); without it, ``model_dir`` must already hold
    ``code/inference.py`` (see :func:`add_inference_code`). ``model_dir`` is never modified.
    """
    model_dir = Path(model_dir)
    output_tar = Path(output_tar)
    if not model_dir.is_dir():
        raise NotADirectoryError(f"model directory {model_dir} does not exist")
    if entry_point is None:
        if code_files or packages or requirements:
            raise ValueError("code_files, packages and requirements need an entry_point")
        if not (model_dir / CODE_DIR / ENTRY_POINT).is_file():
            raise FileNotFoundError(f"{model_dir}/{CODE_DIR}/{ENTRY_POINT} is missing")
    model_entries = [
        (arcname, path)
        for arcname, path in _tree(model_dir, ".")
        if entry_point is None or not arcname.startswith(f"./{CODE_DIR}/")
    ]
    output_tar.parent.mkdir(parents=True, exist_ok=True)
    partial = output_tar.with_name(output_tar.name + ".partial")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for arcname, path in model_entries:
                if path.resolve() == output_tar.resolve():
                    continue  # the tarball may be written inside model_dir
                tar.add(path, arcname=arcname[2:], filter=_normalise)
            if entry_point is not None:
                entries = code_entries(
                    entry_point=entry_point, code_files=code_files, packages=packages
                )
                for arcname, path in entries:
                    tar.add(path, arcname=arcname, filter=_normalise)
                text = _requirements_text(requirements)
                if text:
                    data = text.encode("utf-8")
                    info = _normalise(tarfile.TarInfo(f"{CODE_DIR}/{REQUIREMENTS}"))
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        partial.replace(output_tar)
    finally:
        partial.unlink(missing_ok=True)
    return output_tar


def unpack_model(model_tar: PathLike, destination: PathLike) -> Path:
    """Extract a ``model.tar.gz`` into ``destination`` (refusing links and paths that escape)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(model_tar, "r:gz") as tar:
        tar.extractall(destination, filter="data")
    return destination
