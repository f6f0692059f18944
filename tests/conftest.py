"""Shared test harness: fake AWS credentials, loopback-only network, moto server, Lambda context."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from local.standins.moto_server import FAKE_CREDENTIALS, MotoServer, start_moto_server

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS = Path(__file__).parent / "events"

# Offline everywhere: no hub downloads, no telemetry, no metrics flushing to CloudWatch.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "VigilTests")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_DEV", "0")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_DEPRECATED", "quiet")
os.environ.setdefault("DGLBACKEND", "pytorch")


# --- network: tests talk only to the loopback ---------------------------------------------------
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_allowed(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname: resolving it already means leaving the machine


def _guarded_connect(self, address):
    if not _is_allowed(address):
        raise ConnectionRefusedError(f"tests may only connect to 127.0.0.1, not {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_allowed(address):
        raise ConnectionRefusedError(f"tests may only connect to 127.0.0.1, not {address!r}")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


# --- AWS --------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    """Fake credentials and a region for every test, so nothing can reach a real account."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    from vigil.aws import reset_clients

    reset_clients()
    yield
    reset_clients()


@pytest.fixture(scope="session")
def moto_server_session():
    """One moto server on 127.0.0.1 for the whole session (started once, stopped by PID)."""
    server = start_moto_server()
    yield server
    server.stop()


@pytest.fixture
def moto_server(moto_server_session: MotoServer, monkeypatch) -> MotoServer:
    """A clean moto server for this test, with boto3 pointed at it through AWS_ENDPOINT_URL."""
    moto_server_session.reset()
    for name, value in moto_server_session.environment().items():
        monkeypatch.setenv(name, value)
    from vigil.aws import reset_clients

    reset_clients()
    return moto_server_session


# --- Lambda -------------------------------------------------------------------------------------
@pytest.fixture
def lambda_context():
    """The Lambda context the local API front hands its handlers (one definition of it)."""
    from local.standins.api_gateway import LocalContext

    return LocalContext(aws_request_id="00000000-0000-0000-0000-000000000000", timeout_ms=30_000)


@pytest.fixture(scope="session")
def jigsaw_sample() -> Path:
    """The vendored Jigsaw comments sample (data/); tests never read ../shared/."""
    from vigil.datasets import JIGSAW_SAMPLE, data_file

    return data_file(JIGSAW_SAMPLE)
