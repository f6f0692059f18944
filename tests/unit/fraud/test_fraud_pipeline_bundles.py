"""Synth-time code bundles of the fraud pipeline (cdk/fraud/code_bundles.py)."""

from __future__ import annotations

import io
import tarfile

from cdk.fraud import code_bundles
from vigil.container_requirements import read_pins, requirements_file


def _read(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_training_bundle_layout_and_hashed_requirements(tmp_path):
    gpu = _read(code_bundles.training_source_bundle("ml.g5.xlarge", tmp_path / "gpu"))
    cpu = _read(code_bundles.training_source_bundle("ml.m5.xlarge", tmp_path / "cpu"))
    assert gpu["train.py"] == code_bundles.TRAIN_ENTRY.read_bytes()  # sagemaker_program
    assert "training/fraud/train.py" in gpu
    assert "vigil/__init__.py" in gpu and "vigil/fraud/pipeline.py" in gpu
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in gpu)
    # one DGL build for both instance kinds, installed with no index, every hash checked
    assert gpu["requirements.txt"] == cpu["requirements.txt"]
    lines = gpu["requirements.txt"].decode().splitlines()
    assert lines[:3] == ["--no-index", "--find-links wheels", "--require-hashes"]
    pins = read_pins(requirements_file(code_bundles.TRAINING_REQUIREMENTS))
    assert lines[3:] == [pin.line() for pin in pins]
    assert any(line.startswith("dgl==2.1.0 --hash=sha256:") for line in lines)
    assert not any(line.startswith(("torch==", "numpy==")) for line in lines)


def test_inference_bundle_installs_nothing(tmp_path):
    bundle = _read(code_bundles.inference_code_bundle(tmp_path))
    assert "code/inference.py" in bundle
    assert not any(name.endswith("requirements.txt") for name in bundle)


def test_bundles_are_byte_for_byte_reproducible(tmp_path):
    first = code_bundles.training_source_bundle("ml.g5.xlarge", tmp_path / "a").read_bytes()
    second = code_bundles.training_source_bundle("ml.g5.xlarge", tmp_path / "b").read_bytes()
    assert first == second  # same asset hash → no spurious deploys
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())


def test_image_pairing_is_documented_in_one_place():
    assert code_bundles.PYTORCH_VERSION == "2.3"
    images = code_bundles.dlc_images()
    assert images["us-east-1"]["trainingGpu"].endswith("pytorch-training:2.3-gpu-py311")
    assert images["us-east-1"]["trainingCpu"].endswith("pytorch-training:2.3-cpu-py311")
