"""What SageMaker containers install at start: hashed pins only, from wheels that travel with the
code (vigil/container_requirements.py, scripts/container_requirements.py)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from vigil.container_requirements import (
    PROVIDED_BY_IMAGE,
    REQUIREMENTS_DIR,
    TOXICITY_SERVING,
    Pin,
    UnpinnedRequirement,
    canonical,
    code_files,
    collect_wheels,
    read_pins,
    requirements_text,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = sorted(p.stem for p in REQUIREMENTS_DIR.glob("*.in"))


def _script():
    spec = importlib.util.spec_from_file_location(
        "container_requirements_script", REPO_ROOT / "scripts" / "container_requirements.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel(folder: Path, name: str, version: str, payload: str = "VALUE = 1\n") -> Path:
    """A minimal pure-Python wheel that pip installs."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": payload.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for arcname, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arcname},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for arcname, data in files.items():
            archive.writestr(arcname, data)
    return path


def _pin(path: Path) -> Pin:
    name, version = path.name.split("-")[:2]
    return Pin(name, version, (hashlib.sha256(path.read_bytes()).hexdigest(),))


@pytest.mark.parametrize("name", CONTAINERS)
def test_every_container_requirements_file_is_fully_pinned_with_hashes(name):
    hashed = REQUIREMENTS_DIR / f"{name}.txt"
    pins = read_pins(hashed)  # raises on any line that is not name==version --hash=sha256:...
    body = [line for line in hashed.read_text().splitlines() if line and not line.startswith("#")]
    assert len(pins) == len(body) and pins
    pinned = {canonical(p.name): p.version for p in pins}
    for line in (REQUIREMENTS_DIR / f"{name}.in").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            package, version = requirement.split("==")
            assert pinned[canonical(package)] == version, requirement
    assert not PROVIDED_BY_IMAGE & set(pinned)  # the image's torch/numpy are never replaced


@pytest.mark.parametrize(
    "line",
    [
        "scikit-learn",
        "scikit-learn>=1.0 --hash=sha256:" + "0" * 64,
        "dgl==2.4.0",
        "--find-links https://example.invalid/wheels",
        "dgl @ https://example.invalid/dgl-2.4.0-py3-none-any.whl",
        "tqdm==4.70.1 --hash=md5:" + "0" * 32,
    ],
)
def test_an_unpinned_or_unhashed_line_is_refused(tmp_path, line):
    hashed = tmp_path / "x.txt"
    hashed.write_text("numpy==2.0.0 --hash=sha256:" + "a" * 64 + "\n" + line + "\n")
    with pytest.raises(UnpinnedRequirement):
        read_pins(hashed)


def test_packaging_fetches_the_wheel_folder_from_a_local_source(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    first, second = _wheel(source, "alpha", "1.0"), _wheel(source, "beta", "2.0")
    _wheel(source, "unrelated", "0.1")  # in the source, not pinned: must not travel
    hashed = tmp_path / "pins.txt"
    hashed.write_text("".join(_pin(p).line() + "\n" for p in (first, second)))

    target = _script().wheels(hashed, source, tmp_path / "wheels")

    assert sorted(p.name for p in target.iterdir()) == [first.name, second.name]
    assert [p.name for p in collect_wheels(read_pins(hashed), target)] == [first.name, second.name]


def test_packaging_refuses_a_wheel_whose_hash_is_not_pinned(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    pinned = _pin(_wheel(source, "alpha", "1.0"))
    (source / "alpha-1.0-py3-none-any.whl").unlink()
    _wheel(source, "alpha", "1.0", payload="VALUE = 'tampered'\n")
    hashed = tmp_path / "pins.txt"
    hashed.write_text(pinned.line() + "\n")
    with pytest.raises(subprocess.CalledProcessError):
        _script().wheels(hashed, source, tmp_path / "wheels")
    with pytest.raises(FileNotFoundError, match=r"alpha==1\.0"):
        collect_wheels([pinned], source)


def test_a_bundle_installs_with_no_index_and_checks_every_hash(tmp_path):
    """The bundle layout (requirements.txt + wheels/ beside it) installs from anywhere with pip's
    index off, as the container's toolkit runs it; a pin whose wheel is missing fails."""
    bundle = tmp_path / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    wheel = _wheel(bundle / "wheels", "alpha", "1.0")
    (bundle / "requirements.txt").write_text(requirements_text([_pin(wheel)]))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()

    def install(target: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                str(target),
                "-r",
                str(bundle / "requirements.txt"),
            ],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            check=False,
            env={"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"},
        )

    installed = install(tmp_path / "site")
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "site" / "alpha.py").read_text() == "VALUE = 1\n"

    missing = Pin("beta", "2.0", ("b" * 64,))
    (bundle / "requirements.txt").write_text(requirements_text([_pin(wheel), missing]))
    assert install(tmp_path / "site2").returncode != 0


def test_toxicity_model_code_gets_the_hashed_serving_requirements(tmp_path):
    """What a toxicity training job writes into its model's code/: the hashed serving pins and,
    from a source laid out as the repository, their wheels."""
    root = tmp_path / "source"
    pins_dir = root / "requirements" / "containers"
    pins_dir.mkdir(parents=True)
    wheels = root / "build" / "container-wheels" / TOXICITY_SERVING
    wheels.mkdir(parents=True)
    wheel = _wheel(wheels, "alpha", "1.0")
    (pins_dir / f"{TOXICITY_SERVING}.txt").write_text(_pin(wheel).line() + "\n")

    lines, files = code_files(TOXICITY_SERVING, root)

    assert lines == requirements_text([_pin(wheel)]).splitlines()
    assert files == {f"wheels/{wheel.name}": wheel}
    repository_lines, _ = code_files(TOXICITY_SERVING)
    assert any(line.startswith("gensim==4.4.0 --hash=sha256:") for line in repository_lines)


def test_the_toxicity_source_bundle_carries_the_hashed_files():
    from cdk.toxicity.training import training_source_bundle

    with tarfile.open(training_source_bundle()) as tar:
        members = {m.name: m for m in tar.getmembers()}
        requirements = tar.extractfile(members["requirements.txt"]).read().decode()
        assert "requirements/containers/toxicity-serving.txt" in members
        assert "vigil/container_requirements.py" in members
    lines = requirements.splitlines()
    assert lines[:3] == ["--no-index", "--find-links wheels", "--require-hashes"]
    assert lines[3:] == [p.line() for p in read_pins(REQUIREMENTS_DIR / "toxicity-training.txt")]


def test_a_toxicity_training_job_writes_its_model_code_from_the_bundle(tmp_path):
    """Run from the unpacked source bundle alone (as in the container, where the repository is
    not there), the job's add_serving_code finds its vigil modules and the hashed serving file."""
    from cdk.toxicity.training import training_source_bundle

    source = tmp_path / "source"
    with tarfile.open(training_source_bundle(tmp_path / "sourcedir.tar.gz")) as tar:
        tar.extractall(source, filter="data")
    model = tmp_path / "model"
    model.mkdir()
    entry = source / "inference" / "toxicity" / "bilstm" / "inference.py"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vigil.toxicity.training import add_serving_code;"
            " import vigil; assert vigil.__file__.startswith(sys.argv[3]), vigil.__file__;"
            " add_serving_code(sys.argv[1], 'bilstm', sys.argv[2])",
            str(model),
            str(entry),
            str(source),
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    written = (model / "code" / "requirements.txt").read_text().splitlines()
    assert written[3:] == [
        p.line() for p in read_pins(REQUIREMENTS_DIR / f"{TOXICITY_SERVING}.txt")
    ]
    assert (model / "code" / "inference.py").is_file()
