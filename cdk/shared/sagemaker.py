"""Synth-time SageMaker inputs, built the same way for every system.

* Framework images: the SageMaker SDK (``sagemaker.core.image_uris``) resolves each image for
  every region that has all of them; the table is memoised on disk per SDK version and request
  (``image_uris`` takes seconds per call), and a ``CfnMapping`` selects the deploy region's URI,
  so stacks stay environment-agnostic.
* Code tarballs: written deterministically (sorted entries, zero mtimes and owners, fixed mode),
  so an unchanged tree keeps its asset hash and ``cdk diff`` shows no change.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import importlib.metadata
import io
import json
import os
import tarfile
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path

from aws_cdk import Aws, CfnMapping, Fn
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk.shared.iam import grant_image_pull

_SKIP = {"__pycache__", ".pytest_cache", ".ruff_cache"}


@dataclass(frozen=True)
class ImageSpec:
    """One framework image as ``image_uris.retrieve`` names it."""

    framework: str  # "pytorch" or "huggingface"
    version: str  # the framework version (transformers' version for "huggingface")
    py_version: str
    instance_type: str
    scope: str  # "training" or "inference"
    base_framework_version: str | None = None  # "pytorch2.5.1" for Hugging Face images

    def retrieve(self, region: str) -> str:
        from sagemaker.core import image_uris

        extra = (
            {"base_framework_version": self.base_framework_version}
            if self.base_framework_version
            else {}
        )
        return image_uris.retrieve(
            self.framework,
            region=region,
            version=self.version,
            py_version=self.py_version,
            instance_type=self.instance_type,
            image_scope=self.scope,
            **extra,
        )

    def regions(self) -> set[str]:
        """Regions the SDK lists for this image (the release ``retrieve`` resolves ``version`` to)."""
        from sagemaker.core import image_uris

        config = image_uris.config_for_framework(self.framework)[self.scope]
        version = config.get("version_aliases", {}).get(self.version, self.version)
        entry = config["versions"][version]
        if self.base_framework_version:
            entry = entry[self.base_framework_version]
        return set(entry["registries"])


def image_table(images: dict[str, ImageSpec]) -> dict[str, dict[str, str]]:
    """region → {name: uri} for every region that has all ``images``; memoised in memory and
    on disk (``~/.cache/vigil``) per SDK version and request."""
    return _image_table(tuple(sorted((name, *astuple(spec)) for name, spec in images.items())))


@functools.cache
def _image_table(request: tuple[tuple, ...]) -> dict[str, dict[str, str]]:
    version = importlib.metadata.version("sagemaker-core")
    digest = hashlib.sha256(json.dumps([version, *request]).encode()).hexdigest()[:16]
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vigil"
    cache = cache_dir / f"sagemaker-images-{digest}.json"
    if cache.is_file():
        with contextlib.suppress(ValueError):
            return json.loads(cache.read_text())
    table = _resolve({name: ImageSpec(*spec) for name, *spec in request})
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(table, indent=1, sort_keys=True))
        partial.replace(cache)
    return table


def _resolve(images: dict[str, ImageSpec]) -> dict[str, dict[str, str]]:
    from sagemaker.core import common_utils

    # image_uris re-reads botocore's endpoint file on every call; read it once for this loop.
    resolver = common_utils._botocore_resolver
    common_utils._botocore_resolver = functools.cache(resolver)
    try:
        regions = sorted(set.intersection(*(spec.regions() for spec in images.values())))
        table = {}
        for region in regions:
            try:
                table[region] = {name: images[name].retrieve(region) for name in sorted(images)}
            except ValueError:
                continue  # listed, but no image of this kind for the instance family there
        return table
    finally:
        common_utils._botocore_resolver = resolver


class FrameworkImages(Construct):
    """One mapping region → image URIs; ``uri(name)`` is the deploy region's image."""

    def __init__(self, scope: Construct, construct_id: str, *, images: dict[str, ImageSpec]):
        super().__init__(scope, construct_id)
        table = image_table(images)
        if not table:
            raise ValueError(f"the SageMaker SDK knows no region with all of {images}")
        self.regions = sorted(table)
        self.mapping = CfnMapping(self, "Uris", mapping=table)

    def uri(self, name: str) -> str:
        return self.mapping.find_in_map(Aws.REGION, name)

    def repository_arn(self, name: str) -> str:
        """ARN of the image's ECR repository (in the DLC account), for pull permissions."""
        uri = self.uri(name)
        account = Fn.select(0, Fn.split(".", uri))
        repository = Fn.select(0, Fn.split(":", Fn.select(1, Fn.split("/", uri))))
        return f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{account}:repository/{repository}"

    def grant_pull(self, role: iam.IRole, *names: str) -> None:
        grant_image_pull(role, [self.repository_arn(n) for n in names])


def tree_entries(root: Path, arc_root: str) -> list[tuple[str, Path]]:
    """(``arc_root/<relative path>``, file) for the files under ``root``, caches and bytecode
    left out, sorted."""
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (_SKIP & set(path.parts)) and path.suffix not in {".pyc", ".pyo"}:
            out.append((f"{arc_root}/{path.relative_to(root).as_posix()}", path))
    return out


def write_tarball(entries: Iterable[tuple[str, bytes]], out: Path) -> Path:
    """A gzipped tar of ``entries`` (sorted, zero mtimes, mode 0644), written atomically."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, data in sorted(entries):
            info = tarfile.TarInfo(arcname)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    partial.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    partial.replace(out)
    return out
