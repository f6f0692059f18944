"""local.standins.model_server without starting a server: start-up failure detection, environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.standins.model_server import ModelServer, server_environment, start_model_server

PREFIX = "2026-01-01T00:00:00,000 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - "


def _server(workdir: Path) -> ModelServer:
    (workdir / "logs").mkdir()
    return ModelServer(process=None, port=1, model_dir=workdir, workdir=workdir)


def test_a_dead_worker_is_reported_with_its_own_traceback(tmp_path):
    server = _server(tmp_path)
    server.log_file.write_text(
        "Inference address: http://127.0.0.1:1\n"
        f"{PREFIX}Failed to load model model, exception weights are corrupt\n"
        f"{PREFIX}Traceback (most recent call last):\n"
        f"{PREFIX}RuntimeError: weights are corrupt\n"
        f"{PREFIX}Backend worker process died.\n"
        f"{PREFIX}RuntimeError: 500 - Unknown exception\n"
    )
    assert server._worker_failure() == (
        "Failed to load model model, exception weights are corrupt\n"
        "Traceback (most recent call last):\n"
        "RuntimeError: weights are corrupt\n"
        "Backend worker process died."
    )


def test_a_loading_worker_is_not_a_failure(tmp_path):
    server = _server(tmp_path)
    server.log_file.write_text(f"{PREFIX}Listening on port: /tmp/x/.ts.sock.9000\n")
    assert server._worker_failure() is None


def test_environment_binds_everything_to_loopback_and_the_temp_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TS_CONFIG_FILE", "/etc/elsewhere.properties")
    env = server_environment(tmp_path, 8123, {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "5"})
    assert "TS_CONFIG_FILE" not in env  # would replace the toolkit's generated config
    assert env["SAGEMAKER_BASE_DIR"] == str(tmp_path / "ml")
    assert env["SAGEMAKER_BIND_TO_PORT"] == "8123"
    assert env["TS_INFERENCE_ADDRESS"] == env["TS_MANAGEMENT_ADDRESS"] == "http://127.0.0.1:8123"
    for key in ("TS_METRICS_ADDRESS", "TS_GRPC_INFERENCE_ADDRESS", "TS_GRPC_MANAGEMENT_ADDRESS"):
        assert "127.0.0.1" in env[key]
    assert env["TMPDIR"] == env["TEMP"] == str(tmp_path / "tmp")
    assert env["SAGEMAKER_MODEL_SERVER_TIMEOUT"] == "5"


def test_a_directory_without_inference_code_is_refused_before_starting(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"code/inference\.py is missing"):
        start_model_server(tmp_path)
