"""SageMaker framework images, resolved by the SageMaker SDK (``sagemaker.core.image_uris``) at
synth time for every region the image exists in, and selected in the template by the deploy
region (a ``CfnMapping``), so the stack stays environment-agnostic.

- BiLSTM: the PyTorch training and inference DLCs (``PYTORCH_VERSION``, ``PY_VERSION``).
- Transformer: the Hugging Face PyTorch training and inference DLCs (``TRANSFORMERS_VERSION``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

from aws_cdk import Aws, CfnMapping, Fn
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk.shared.iam import grant_image_pull

PYTORCH_VERSION = "2.5"
PY_VERSION = "py311"
TRANSFORMERS_VERSION = "4.49.0"
HF_TRAINING_PYTORCH = "pytorch2.5.1"
HF_INFERENCE_PYTORCH = "pytorch2.6.0"
HF_INFERENCE_PY_VERSION = "py312"


def _retrieve(kind: str, region: str, instance_type: str, scope: str) -> str:
    from sagemaker.core import image_uris

    if kind == "pytorch":
        return image_uris.retrieve(
            "pytorch",
            region=region,
            version=PYTORCH_VERSION,
            py_version=PY_VERSION,
            instance_type=instance_type,
            image_scope=scope,
        )
    return image_uris.retrieve(
        "huggingface",
        region=region,
        version=TRANSFORMERS_VERSION,
        base_framework_version=HF_TRAINING_PYTORCH if scope == "training" else HF_INFERENCE_PYTORCH,
        py_version=PY_VERSION if scope == "training" else HF_INFERENCE_PY_VERSION,
        instance_type=instance_type,
        image_scope=scope,
    )


def _regions(kind: str) -> list[str]:
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework(kind)
    found: set[str] | None = None
    for scope in ("training", "inference"):
        versions = config[scope]["versions"]
        if kind == "pytorch":
            entry = versions[next(v for v in versions if v.startswith(PYTORCH_VERSION))]
        else:
            base = HF_TRAINING_PYTORCH if scope == "training" else HF_INFERENCE_PYTORCH
            entry = versions[TRANSFORMERS_VERSION][base]
        regions = set(entry["registries"])
        found = regions if found is None else found & regions
    return sorted(found or [])


@functools.cache
def image_table(requests: tuple[tuple[str, str, str, str], ...]) -> dict[str, dict[str, str]]:
    """region → {name: uri} for requests (name, kind, instance type, scope).

    ``image_uris`` takes seconds per call, so the table is memoised in memory and on disk
    (``~/.cache/vigil``) per SDK version and request.
    """
    version = importlib.metadata.version("sagemaker-core")
    digest = hashlib.sha256(json.dumps([version, *requests]).encode()).hexdigest()[:16]
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vigil"
    cache = cache_dir / f"toxicity-images-{digest}.json"
    if cache.is_file():
        with contextlib.suppress(ValueError):
            return json.loads(cache.read_text())
    table = _image_table(requests)
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(table, indent=1, sort_keys=True))
        partial.replace(cache)
    return table


def _image_table(requests: tuple[tuple[str, str, str, str], ...]) -> dict[str, dict[str, str]]:
    kinds = {kind for _, kind, _, _ in requests}
    regions = sorted(set.intersection(*(set(_regions(k)) for k in kinds)))
    table = {}
    for region in regions:
        try:
            table[region] = {
                name: _retrieve(kind, region, instance, scope)
                for name, kind, instance, scope in requests
            }
        except ValueError:
            continue  # listed, but no image of this kind for the instance family there
    return table


class FrameworkImages(Construct):
    """One mapping region → image URIs; ``uri(name)`` is the deploy region's image."""

    def __init__(self, scope: Construct, construct_id: str, *, requests: dict[str, tuple]):
        super().__init__(scope, construct_id)
        key = tuple(sorted((name, *spec) for name, spec in requests.items()))
        table = image_table(key)
        if not table:
            raise ValueError(f"the SageMaker SDK knows no region with all of {requests}")
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
