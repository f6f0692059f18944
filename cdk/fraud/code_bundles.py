"""Synth-time code bundles for SageMaker and the DGL/PyTorch image pairing (one definition).

* Training ``sourcedir.tar.gz`` (the PyTorch framework container gets it as its ``code`` channel,
  ``sagemaker_submit_directory``, and runs ``sagemaker_program``): ``train.py`` (a copy of
  ``training/fraud/train.py``) at the top, ``training/fraud/`` and ``vigil/`` beside it, and the
  hashed ``requirements.txt`` of ``requirements/containers/fraud-training.txt`` with its
  ``wheels/`` (:mod:`vigil.container_requirements`): installed with no index, hashes checked.
* Inference code bundle: ``code/inference.py``, ``code/vigil/...`` (:mod:`vigil.packaging`
  layout); serving needs torch only, which the image has, so it installs nothing. The
  package-model step merges it into the trained model.

Tarballs and image URIs come from ``cdk/shared/sagemaker.py`` (deterministic tarballs, the SDK's
image table memoised on disk).

DGL/PyTorch pairing: the SageMaker PyTorch **2.3** DLC (py311; CUDA 12.1 on GPU) + **DGL 2.1.0**
from PyPI (the build the local environment runs, hash-pinned like everything the container
installs). It is built for torch <= 2.2; ``vigil.dgl_compat`` makes it import on 2.3 as it does on
the local torch. Training runs DGL on the CPU on either instance kind (the RGCN's graph ops never
move to CUDA), so the CPU build serves GPU instances too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cdk.shared.sagemaker import ImageSpec, image_table, tree_entries, write_tarball
from vigil.container_requirements import bundle_entries
from vigil.fraud.contract import SAGEMAKER_PROGRAM
from vigil.packaging import ENTRY_POINT, code_entries

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTORCH_VERSION = "2.3"
PYTHON_VERSION = "py311"
# requirements/containers/fraud-training.txt: what the training container installs
TRAINING_REQUIREMENTS = "fraud-training"
PACKAGES = (
    "vigil.fraud",
    "vigil.aws",
    "vigil.packaging",
    "vigil.dgl_compat",
)  # what inference imports
TRAIN_ENTRY = REPO_ROOT / "training" / "fraud" / "train.py"
INFERENCE_ENTRY = REPO_ROOT / "inference" / "fraud" / ENTRY_POINT


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
    entries += bundle_entries(TRAINING_REQUIREMENTS)
    outdir = outdir or Path(tempfile.mkdtemp(prefix="vigil-fraud-bundles-"))
    return write_tarball(entries, outdir / "training" / "sourcedir.tar.gz")


def inference_code_bundle(outdir: Path | None = None) -> Path:
    """``code/`` for the endpoint: inference.py and the vigil package (no requirements)."""
    entry = INFERENCE_ENTRY
    entries = [
        (arcname, path.read_bytes())
        for arcname, path in code_entries(entry_point=entry, packages=PACKAGES)
    ]
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
