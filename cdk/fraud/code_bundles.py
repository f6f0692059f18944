"""Synth-time code bundles for SageMaker and the DGL/PyTorch image pairing (one definition).

* Training ``sourcedir.tar.gz`` (the PyTorch framework container downloads it from
  ``sagemaker_submit_directory`` and runs ``sagemaker_program``): ``train.py`` (a copy of
  ``training/fraud/train.py``) at the top, ``training/fraud/`` and ``vigil/`` beside it, and a
  ``requirements.txt`` that installs the DGL build matching the image's torch.
* Inference code bundle: ``code/inference.py``, ``code/vigil/...``, ``code/requirements.txt``
  (:mod:`vigil.packaging` layout); the package-model step merges it into the trained model.

Tarballs and image URIs come from ``cdk/shared/sagemaker.py`` (deterministic tarballs, the SDK's
image table memoised on disk).

DGL/PyTorch pairing: the SageMaker PyTorch **2.3** DLC (py311; CUDA 12.1 on GPU) + **DGL 2.4.0**
from DGL's wheel index for torch 2.3 (``cu121`` on GPU instances, CPU wheels otherwise). DGL 2.4.0
supports torch 2.1-2.4; PyPI's newest Linux wheel (2.1.0) is only built against torch <= 2.2.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cdk.shared.sagemaker import ImageSpec, image_table, tree_entries, write_tarball
from vigil.fraud.contract import SAGEMAKER_PROGRAM, accelerated
from vigil.packaging import CODE_DIR, ENTRY_POINT, REQUIREMENTS, code_entries

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTORCH_VERSION = "2.3"
PYTHON_VERSION = "py311"
DGL_VERSION = "2.4.0"
DGL_WHEELS_CPU = "https://data.dgl.ai/wheels/torch-2.3/repo.html"
DGL_WHEELS_GPU = "https://data.dgl.ai/wheels/torch-2.3/cu121/repo.html"
PACKAGES = (
    "vigil.fraud",
    "vigil.aws",
    "vigil.packaging",
    "vigil.dgl_compat",
)  # what inference imports
TRAIN_ENTRY = REPO_ROOT / "training" / "fraud" / "train.py"
INFERENCE_ENTRY = REPO_ROOT / "inference" / "fraud" / ENTRY_POINT


def dgl_requirements(gpu: bool) -> list[str]:
    return [f"--find-links {DGL_WHEELS_GPU if gpu else DGL_WHEELS_CPU}", f"dgl=={DGL_VERSION}"]


def _extra_requirements(path: Path) -> list[str]:
    """Lines of a component's own requirements.txt, minus torch/dgl (the image and pin own them)."""
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text().splitlines():
        name = line.strip().split("==")[0].split(">")[0].split("<")[0].strip().lower()
        if line.strip() and not line.startswith("#") and name not in {"torch", "dgl"}:
            lines.append(line.strip())
    return lines


def training_source_bundle(instance_type: str, outdir: Path | None = None) -> Path:
    """``sourcedir.tar.gz`` for the training job (see module docstring)."""
    train = TRAIN_ENTRY
    if not train.is_file():
        raise FileNotFoundError(f"training entry point {train} does not exist")
    entries = [(SAGEMAKER_PROGRAM, train.read_bytes())]
    entries += [(a, p.read_bytes()) for a, p in tree_entries(train.parent, "training/fraud")]
    if (REPO_ROOT / "training" / "__init__.py").is_file():
        entries.append(("training/__init__.py", (REPO_ROOT / "training/__init__.py").read_bytes()))
    entries += [(a, p.read_bytes()) for a, p in tree_entries(REPO_ROOT / "vigil", "vigil")]
    requirements = dgl_requirements(accelerated(instance_type)) + _extra_requirements(
        train.parent / REQUIREMENTS
    )
    entries.append((REQUIREMENTS, ("\n".join(requirements) + "\n").encode()))
    outdir = outdir or Path(tempfile.mkdtemp(prefix="vigil-fraud-bundles-"))
    return write_tarball(entries, outdir / "training" / "sourcedir.tar.gz")


def inference_code_bundle(outdir: Path | None = None) -> Path:
    """``code/`` for the endpoint: inference.py, the vigil package, CPU DGL requirements."""
    entry = INFERENCE_ENTRY
    entries = [
        (arcname, path.read_bytes())
        for arcname, path in code_entries(entry_point=entry, packages=PACKAGES)
    ]
    requirements = dgl_requirements(False) + _extra_requirements(entry.parent / REQUIREMENTS)
    entries.append((f"{CODE_DIR}/{REQUIREMENTS}", ("\n".join(requirements) + "\n").encode()))
    outdir = outdir or Path(tempfile.mkdtemp(prefix="vigil-fraud-bundles-"))
    return write_tarball(entries, outdir / "inference" / "code.tar.gz")


def dlc_images() -> dict[str, dict[str, str]]:
    """Region → PyTorch DLC training (GPU and CPU) and inference (CPU) image URIs and account
    (``cdk/shared/sagemaker.py``: the SDK at synth time, memoised on disk)."""

    def pytorch(instance_type: str, scope: str) -> ImageSpec:
        return ImageSpec("pytorch", PYTORCH_VERSION, PYTHON_VERSION, instance_type, scope)

    table = image_table(
        {
            "trainingGpu": pytorch("ml.g5.xlarge", "training"),
            "trainingCpu": pytorch("ml.m5.xlarge", "training"),
            "inference": pytorch("ml.m5.xlarge", "inference"),
        }
    )
    # keys sorted, as the template has always had them (the cached table is written sorted)
    return {
        region: dict(sorted({**uris, "account": uris["trainingGpu"].split(".", 1)[0]}.items()))
        for region, uris in table.items()
    }
