"""One definition of a local stand-in run as its own process on 127.0.0.1.

moto server, the Neptune stand-in and the SageMaker runtime proxy are each started as a child
process, polled on a health URL until they answer, and stopped by their PID (SIGTERM, then
SIGKILL) — never by name, so nothing else on the machine is touched.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LoopbackProcess:
    process: subprocess.Popen
    port: int

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def wait_until_healthy(self, health_path: str, *, name: str, timeout: float) -> None:
        """Poll ``health_path`` until it answers; on exit or timeout, stop and raise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {self.process.returncode}")
            try:
                urllib.request.urlopen(f"{self.endpoint_url}{health_path}", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{name} did not answer on port {self.port} within {timeout}s")
