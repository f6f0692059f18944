"""The real SageMaker PyTorch serving stack (toolkit + TorchServe + Java), locally on 127.0.0.1.

One server for the module: a tiny ``nn.Linear`` packaged by ``vigil.packaging`` into a
``model.tar.gz`` (with ``vigil.serving_errors`` copied into ``code/`` as in the cloud) and served
from that tarball; the last test stops it and checks that nothing it started is left.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import tarfile
from pathlib import Path

import psutil
import pytest

from local.standins.example_model import write_linear_model
from local.standins.model_server import (
    ModelServer,
    ModelServerError,
    port_is_free,
    start_model_server,
)
from vigil.packaging import package_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]

IMPORTED_FROM = "vigil module imported from:"
ROWS = [[0.5, -1.0, 2.0], [3.0, 0.0, -0.25]]


def _flat(rows: list[list[float]]) -> list[float]:
    return [value for row in rows for value in row]


def _loopback_ip(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # Java reports ::ffff:127.0.0.1
    return str(mapped or address)


@pytest.fixture(scope="module")
def model_tar(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("linear")
    model_files, entry_point = write_linear_model(root)
    with entry_point.open("a", encoding="utf-8") as handle:  # where the worker found vigil
        handle.write(
            "\nimport sys\n\n"
            f"print({IMPORTED_FROM!r}, BadRequest.__module__, "
            "sys.modules[BadRequest.__module__].__file__, flush=True)\n"
        )
    return package_model(
        model_files,
        root / "model.tar.gz",
        entry_point=entry_point,
        packages=["vigil.serving_errors", "vigil.dgl_compat"],
        requirements=["numpy"],  # present in the venv; must not trigger a pip install
    )


@pytest.fixture(scope="module")
def in_process(model_tar, tmp_path_factory):
    """The same inference.py and model, loaded in this process (the reference answer)."""
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(model_tar) as tar:
        tar.extractall(unpacked, filter="data")
    spec = importlib.util.spec_from_file_location(
        "linear_inference_under_test", unpacked / "code" / "inference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.model_fn(str(unpacked))


@pytest.fixture(scope="module")
def server(model_tar):
    server = start_model_server(model_tar, startup_timeout=150)
    yield server
    server.stop()


def test_ping_is_healthy_and_worker_is_ready(server: ModelServer):
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.ping()
    workers = server.model_status()["workers"]
    assert len(workers) == 1
    assert workers[0]["status"] == "READY"


def test_invocations_answer_what_predict_fn_answers_in_process(server: ModelServer, in_process):
    module, model = in_process
    expected = json.loads(
        module.output_fn(
            module.predict_fn(
                module.input_fn(json.dumps({"inputs": ROWS}), "application/json"), model
            ),
            "application/json",
        )
    )
    result = server.invoke(json.dumps({"inputs": ROWS}).encode())
    assert result.status == 200
    answer = result.json()
    assert len(answer["outputs"]) == len(ROWS)
    assert [len(row) for row in answer["outputs"]] == [2, 2]
    assert _flat(answer["outputs"]) == pytest.approx(_flat(expected["outputs"]), abs=1e-6)
    one = server.invoke_json({"inputs": ROWS[:1]})["outputs"]
    assert _flat(one) == pytest.approx(_flat(expected["outputs"][:1]), abs=1e-6)


def test_malformed_json_gets_400_with_the_message(server: ModelServer):
    result = server.invoke(b'{"inputs": [[1, 2, 3]', check=False)
    assert result.status == 400
    assert result.message.splitlines()[0].startswith("the body is not JSON:")


def test_wrong_shape_raises_model_server_error_carrying_400(server: ModelServer):
    with pytest.raises(ModelServerError) as caught:
        server.invoke(json.dumps({"inputs": [[1.0, 2.0]]}))
    assert caught.value.status == 400
    assert caught.value.message.splitlines()[0] == (
        "'inputs' must be a non-empty list of rows of 3 numbers"
    )
    assert "answered 400" in str(caught.value)


def test_unsupported_content_type_and_accept_get_their_4xx(server: ModelServer):
    csv = server.invoke(b"1,2,3", content_type="text/csv", check=False)
    assert csv.status == 400
    assert "unsupported content type 'text/csv'" in csv.message.splitlines()[0]
    xml = server.invoke(json.dumps({"inputs": ROWS}), accept="application/xml", check=False)
    assert xml.status == 406
    assert xml.message.startswith("cannot answer 'application/xml'")


def test_everything_listens_on_loopback_and_lives_in_the_temp_dir(server: ModelServer):
    listening = set()
    for pid in server.pids():
        try:
            connections = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        listening |= {c.laddr for c in connections if c.status == psutil.CONN_LISTEN}
    addresses = {(_loopback_ip(a.ip), a.port) for a in listening}
    assert ("127.0.0.1", server.port) in addresses
    assert {ip for ip, _ in addresses} == {"127.0.0.1"}, addresses
    config = (server.workdir / "sagemaker-ts.properties").read_text()
    assert "sagemaker_pytorch_serving_container" in config  # the toolkit's handler service
    log = server.log_file.read_text(errors="replace")
    assert "not running pip install" in log and "all satisfied" in log


def test_the_worker_imports_vigil_from_the_packaged_code_dir(server: ModelServer):
    # code/ is first on the workers' path, so the copy packaged into the model is what runs
    # (in the cloud it is the only copy); the entry point printed where it found the module.
    code_dir = server.workdir / "ml" / "model" / "code"
    lines = [
        line.split(IMPORTED_FROM, 1)[1].split()
        for line in server.log_file.read_text(errors="replace").splitlines()
        if IMPORTED_FROM in line
    ]
    assert lines, "the worker never imported the entry point"
    assert {tuple(words) for words in lines} == {
        ("vigil.serving_errors", str(code_dir / "vigil" / "serving_errors.py"))
    }


def test_stop_ends_every_process_it_started_and_frees_the_port(server: ModelServer):
    pids = server.pids()
    assert server.pid in pids
    assert len(pids) >= 3  # entry (toolkit), Java frontend, Python worker
    server.stop()
    alive = [
        pid
        for pid in pids
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == []
    assert port_is_free(server.port)
    assert not server.workdir.exists()
    assert not server.ping(timeout=1.0)
