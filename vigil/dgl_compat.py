"""Make ``import dgl`` (2.1.0) work on torch 2.13 without touching site-packages.

DGL 2.1.0 imports ``dgl.graphbolt`` from ``dgl.distributed``, and graphbolt loads a C++ library
built for one torch release (``libgraphbolt_pytorch_<torch version>.so``, shipped only up to
2.2.1), raising FileNotFoundError on any other. Vigil does not use graphbolt (its sampling and
distributed training), so this module registers an import hook that serves ``dgl.graphbolt`` as
an inert stub when — and only when — the matching library is missing. Everything else in DGL
(heterographs, message passing, neighbour sampling) uses DGL's own core library and works.

Two ways in, both from project code:
- ``from vigil.dgl_compat import dgl`` (or ``import vigil.dgl_compat`` before ``import dgl``);
- the ``vigil-dgl-compat.pth`` file that ``scripts/install_dgl_shim.py`` (run by the Makefile's
  bootstrap) writes into the virtualenv, so a plain ``python -c "import dgl"`` works too.

In the cloud, the SageMaker training job installs the same DGL 2.1.0 on the PyTorch 2.3 image
(docs/fraud-pipeline.md), and ``vigil.fraud`` imports DGL through this module there too.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
import typing

STUB_MODULE = "dgl.graphbolt"


class _GraphboltStub(types.ModuleType):
    """Stands in for dgl.graphbolt; any attribute use explains why it is unavailable."""

    __path__: typing.ClassVar[
        list[str]
    ] = []  # a package, so `from dgl.graphbolt import x` fails cleanly

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            f"dgl.graphbolt.{name} is unavailable: DGL's graphbolt library is not built for this "
            "torch release (vigil.dgl_compat serves a stub). Vigil does not use graphbolt."
        )


class _GraphboltFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname != STUB_MODULE or _graphbolt_library_present():
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        return _GraphboltStub(spec.name)

    def exec_module(self, module):
        module.__file__ = None


def _graphbolt_library_present() -> bool:
    spec = importlib.util.find_spec("dgl")
    if spec is None or not spec.submodule_search_locations:
        return False
    torch_spec = importlib.util.find_spec("torch")
    if torch_spec is None or not torch_spec.origin:
        return False
    version = _torch_version(os.path.dirname(torch_spec.origin))
    if version is None:
        return False
    package_dir = next(iter(spec.submodule_search_locations))
    return os.path.exists(
        os.path.join(package_dir, "graphbolt", f"libgraphbolt_pytorch_{version}.so")
    )


def _torch_version(torch_dir: str) -> str | None:
    # Read torch/version.py as text: importing torch here would slow down every interpreter start.
    try:
        with open(os.path.join(torch_dir, "version.py"), encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("__version__"):
                    return line.split("=", 1)[1].strip().strip("'\"").split("+", 1)[0]
    except OSError:
        return None
    return None


def install() -> None:
    """Register the hook once (idempotent)."""
    if not any(isinstance(finder, _GraphboltFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _GraphboltFinder())
    os.environ.setdefault("DGLBACKEND", "pytorch")


install()


def __getattr__(name: str):
    # `from vigil.dgl_compat import dgl` imports DGL lazily, after the hook is in place.
    if name == "dgl":
        import dgl

        return dgl
    raise AttributeError(name)
