"""moto server on 127.0.0.1: the local stand-in for every AWS API Vigil calls.

Production code and local mode share one code path: boto3 clients are built by
``vigil.aws.client(service)``, which honours ``AWS_ENDPOINT_URL`` (boto3's own setting), so pointing
that variable at this server is all "local mode" means.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

from local.standins.loopback_process import LoopbackProcess, free_port

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class MotoServer(LoopbackProcess):
    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (and so Vigil) at this server with fake credentials."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url}

    def reset(self) -> None:
        """Drop every resource, between tests that share one server."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).read()


def start_moto_server(port: int | None = None, *, timeout: float = 20.0) -> MotoServer:
    """Start ``moto.server`` bound to 127.0.0.1 and wait until it answers."""
    port = port or free_port()
    env = {**os.environ, **FAKE_CREDENTIALS}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = MotoServer(process=process, port=port)
    server.wait_until_healthy("/moto-api/", name="moto server", timeout=timeout)
    return server


@contextlib.contextmanager
def running_moto_server() -> Iterator[MotoServer]:
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()
