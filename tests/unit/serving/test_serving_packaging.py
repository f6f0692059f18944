"""vigil.packaging: the SageMaker model.tar.gz layout, built once for the cloud and local serving."""

from __future__ import annotations

import tarfile

import pytest

from local.standins.sagemaker_serving_entry import _missing_requirements
from vigil.packaging import add_inference_code, package_model, unpack_model


@pytest.fixture
def trained(tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "tokenizer").mkdir(parents=True)
    (model_dir / "model.pt").write_bytes(b"weights")
    (model_dir / "tokenizer" / "vocab.json").write_text("{}")
    entry = tmp_path / "inference.py"
    entry.write_text("def model_fn(model_dir):\n    return model_dir\n")
    helper = tmp_path / "features.py"
    helper.write_text("X = 1\n")
    return model_dir, entry, helper


def _names(path):
    with tarfile.open(path) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def test_package_model_puts_model_files_on_top_and_code_in_code(trained, tmp_path):
    model_dir, entry, helper = trained
    out = package_model(
        model_dir,
        tmp_path / "out" / "model.tar.gz",
        entry_point=entry,
        code_files={"vigil_features.py": helper},
        packages=["vigil.serving_errors"],
        requirements=["numpy>=1", " ", "torch"],
    )
    assert _names(out) == [
        "code/inference.py",
        "code/requirements.txt",
        "code/vigil/__init__.py",
        "code/vigil/serving_errors.py",
        "code/vigil_features.py",
        "model.pt",
        "tokenizer/vocab.json",
    ]
    unpacked = unpack_model(out, tmp_path / "unpacked")
    assert (unpacked / "code" / "requirements.txt").read_text() == "numpy>=1\ntorch\n"
    assert (unpacked / "model.pt").read_bytes() == b"weights"
    assert not (model_dir / "code").exists()  # the model directory is left as it was
    with tarfile.open(out) as tar:
        assert {(m.uid, m.gid, m.uname) for m in tar.getmembers()} == {(0, 0, "")}


def test_whole_package_is_copied_without_bytecode(trained, tmp_path):
    model_dir, entry, _ = trained
    out = package_model(model_dir, tmp_path / "m.tar.gz", entry_point=entry, packages=["vigil"])
    names = _names(out)
    assert "code/vigil/packaging.py" in names and "code/vigil/serving_errors.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_add_inference_code_writes_code_in_place_and_is_repeatable(trained, tmp_path):
    model_dir, entry, helper = trained
    for _ in range(2):
        add_inference_code(model_dir, entry_point=entry, code_files=[helper])
    assert sorted(p.name for p in (model_dir / "code").iterdir()) == ["features.py", "inference.py"]
    # a directory that already holds code/ packages as is, and the tarball may live inside it
    out = package_model(model_dir, model_dir / "model.tar.gz")
    assert "code/features.py" in _names(out) and "model.tar.gz" not in _names(out)
    assert package_model(model_dir, model_dir / "model.tar.gz") == out  # rewritable in place


def test_packaging_errors_name_what_is_wrong(trained, tmp_path):
    model_dir, entry, _ = trained
    with pytest.raises(FileNotFoundError, match=r"code/inference\.py is missing"):
        package_model(model_dir, tmp_path / "m.tar.gz")
    with pytest.raises(FileNotFoundError, match="entry point"):
        package_model(model_dir, tmp_path / "m.tar.gz", entry_point=tmp_path / "nope.py")
    with pytest.raises(ModuleNotFoundError, match="no_such_pkg"):
        package_model(model_dir, tmp_path / "m.tar.gz", entry_point=entry, packages=["no_such_pkg"])
    with pytest.raises(ValueError, match=r"code/inference\.py would come from both"):
        package_model(
            model_dir,
            tmp_path / "m.tar.gz",
            entry_point=entry,
            code_files={"inference.py": tmp_path / "features.py"},
        )
    with pytest.raises(ValueError, match="need an entry_point"):
        package_model(model_dir, tmp_path / "m.tar.gz", requirements=["x"])
    assert not (tmp_path / "m.tar.gz").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_unpack_refuses_paths_that_escape(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        tar.addfile(info)
    with pytest.raises(tarfile.OutsideDestinationError):
        unpack_model(evil, tmp_path / "dest")
    assert not (tmp_path / "outside.txt").exists()


def test_requirements_check_reports_only_what_is_missing(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# comment\nnumpy\ntorch==0.0.1\nno-such-package-vigil==1.0\n--extra-index-url x\n"
    )
    missing = _missing_requirements(str(requirements))
    assert missing[0].startswith("torch==0.0.1 (installed ")
    assert missing[1:] == ["no-such-package-vigil==1.0"]
