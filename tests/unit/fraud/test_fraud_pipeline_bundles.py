"""Synth-time code bundles of the fraud pipeline (cdk/fraud/code_bundles.py)."""

from __future__ import annotations

import io
import tarfile

from cdk.fraud import code_bundles


def _read(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_training_bundle_layout_and_dgl_pin_follow_the_instance(tmp_path):
    gpu = _read(code_bundles.training_source_bundle("ml.g5.xlarge", tmp_path / "gpu"))
    cpu = _read(code_bundles.training_source_bundle("ml.m5.xlarge", tmp_path / "cpu"))
    assert gpu["train.py"] == code_bundles.TRAIN_ENTRY.read_bytes()  # sagemaker_program
    assert "training/fraud/train.py" in gpu
    assert "vigil/__init__.py" in gpu and "vigil/fraud/pipeline.py" in gpu
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in gpu)
    gpu_requirements = gpu["requirements.txt"].decode().splitlines()
    assert gpu_requirements[:2] == [
        f"--find-links {code_bundles.DGL_WHEELS_GPU}",
        f"dgl=={code_bundles.DGL_VERSION}",
    ]
    assert cpu["requirements.txt"].decode().splitlines()[0].endswith("/torch-2.3/repo.html")
    assert not any(line.startswith("torch") for line in gpu_requirements)


def test_bundles_are_byte_for_byte_reproducible(tmp_path):
    first = code_bundles.training_source_bundle("ml.g5.xlarge", tmp_path / "a").read_bytes()
    second = code_bundles.training_source_bundle("ml.g5.xlarge", tmp_path / "b").read_bytes()
    assert first == second  # same asset hash → no spurious deploys
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())


def test_image_pairing_is_documented_in_one_place():
    assert code_bundles.PYTORCH_VERSION == "2.3"
    assert "torch-2.3" in code_bundles.DGL_WHEELS_CPU and "torch-2.3" in code_bundles.DGL_WHEELS_GPU
    images = code_bundles.dlc_images()
    assert images["us-east-1"]["trainingGpu"].endswith("pytorch-training:2.3-gpu-py311")
    assert images["us-east-1"]["trainingCpu"].endswith("pytorch-training:2.3-cpu-py311")
