"""SageMaker runtime front for the local model server: ``/endpoints/<name>/invocations`` → ``/invocations``.

boto3's ``sagemaker-runtime`` client calls ``POST /endpoints/{EndpointName}/invocations``; the
serving container (TorchServe behind the SageMaker toolkit, ``local/standins/model_server.py``) serves
``POST /invocations``, as it does inside SageMaker, where the SageMaker front end does this
mapping. This proxy is that front end's routing and error contract only — it forwards the body,
``Content-Type`` and ``Accept`` unchanged to the real model server and returns its answer:

* unknown endpoint name → 400 ``ValidationError`` (what SageMaker answers);
* the container answers non-2xx → 424 ``ModelError`` with ``OriginalStatusCode`` /
  ``OriginalMessage``;
* the container is unreachable → 503 ``ServiceUnavailable``.

So ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=<proxy url>`` is all local mode means for the scoring
Lambda's client. Fault injection (``local/standins/fault_injection.py``) makes the next requests fail or
slow down like a throttled or failing endpoint.

Run it in-process (:meth:`SageMakerRuntimeProxy.serve_in_thread`) or as its own process
(:func:`start_sagemaker_proxy`, stopped by PID) — the demo and benchmark use a process so the
handler being measured does not share its GIL with the proxy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.standins.fault_injection import FAULTS_PATH, RESET_PATH, Faults, inject_faults
from local.standins.loopback_process import LoopbackProcess, free_port

_ERRORS = {
    400: "ValidationError",
    424: "ModelError",
    429: "ModelNotReadyException",
    500: "InternalFailure",
    503: "ServiceUnavailable",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ProxyServer

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: bytes, content_type: str, error: str | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if error:
            self.send_header("x-amzn-ErrorType", error)
        self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        code = code or _ERRORS.get(status, "InternalFailure")
        body = json.dumps({"ErrorCode": code, "Message": message, **extra}).encode()
        self._send(status, body, "application/json", code)

    def do_GET(self):
        if self.path.rstrip("/") == "/ping":
            self._send(200, b"{}", "application/json")
        else:
            self._error(400, f"unsupported GET {self.path}")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        if path == FAULTS_PATH:
            self.server.faults.arm(json.loads(body or b"{}"))
            self._send(200, b'{"ok":true}', "application/json")
            return
        if path == RESET_PATH:
            self.server.faults.reset()
            self._send(200, b'{"ok":true}', "application/json")
            return
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "invocations":
            self._error(400, f"unsupported path {path}")
            return
        name = urllib.parse.unquote(parts[1])
        if name != self.server.endpoint_name:
            self._error(400, f"Endpoint {name} of account 123456789012 not found.")
            return
        fault = self.server.faults.take()
        if fault is not None:
            status, code, delay = fault
            if delay:
                time.sleep(delay)
            if status >= 400:
                self._error(status, "injected fault", code or None)
                return
        try:
            status, answer, content_type = self.server.forward(
                body,
                self.headers.get("Content-Type", "application/json"),
                self.headers.get("Accept", "application/json"),
            )
        except OSError as error:
            self._error(503, f"the model container is unreachable: {error}")
            return
        if 200 <= status < 300:
            self._send(status, answer, content_type)
        else:
            text = answer.decode("utf-8", errors="replace")
            self._error(
                424,
                f'Received client error ({status}) from primary with message "{text[:500]}".',
                "ModelError",
                OriginalStatusCode=status,
                OriginalMessage=text[:2000],
            )


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that gave up (its read timeout) closed the socket: not a server error
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    endpoint_name: str
    upstream: urllib.parse.SplitResult
    faults: Faults
    local: threading.local

    def forward(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        """POST ``/invocations`` upstream over a kept-alive connection (one per server thread)."""
        for attempt in range(2):
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(
                    self.upstream.hostname, self.upstream.port, timeout=60
                )
                self.local.connection = connection
            try:
                connection.request(
                    "POST",
                    "/invocations",
                    body=body,
                    headers={"Content-Type": content_type, "Accept": accept},
                )
                response = connection.getresponse()
                return (
                    response.status,
                    response.read(),
                    response.getheader("Content-Type", "application/json"),
                )
            except (http.client.HTTPException, OSError):
                connection.close()
                self.local.connection = None
                if attempt:
                    raise
        raise OSError("unreachable")  # pragma: no cover - the loop returns or raises


class SageMakerRuntimeProxy:
    def __init__(self, upstream_url: str, endpoint_name: str, port: int = 0):
        self.httpd = _ProxyServer(("127.0.0.1", port), _Handler)
        self.httpd.endpoint_name = endpoint_name
        self.httpd.upstream = urllib.parse.urlsplit(upstream_url)
        self.httpd.faults = Faults()
        self.httpd.local = threading.local()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def inject_faults(self, **spec: Any) -> None:
        if spec:
            self.httpd.faults.arm(spec)
        else:
            self.httpd.faults.reset()

    def serve_in_thread(self) -> SageMakerRuntimeProxy:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ProxyProcess(LoopbackProcess):
    def inject_faults(self, **spec: Any) -> None:
        inject_faults(self.endpoint_url, **spec)


def start_sagemaker_proxy(
    upstream_url: str, endpoint_name: str, *, port: int | None = None, timeout: float = 30.0
) -> ProxyProcess:
    """Run the proxy as its own process on 127.0.0.1 and wait until it answers ``/ping``."""
    port = port or free_port()
    repo_root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.standins.sagemaker_runtime_proxy",
            "--upstream",
            upstream_url,
            "--endpoint-name",
            endpoint_name,
            "--port",
            str(port),
        ],
        cwd=repo_root,
        stdout=subprocess.DEVNULL,
    )
    proxy = ProxyProcess(process=process, port=port)
    proxy.wait_until_healthy("/ping", name="SageMaker runtime proxy", timeout=timeout)
    return proxy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="model server URL (serves /invocations)")
    parser.add_argument("--endpoint-name", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    proxy = SageMakerRuntimeProxy(args.upstream, args.endpoint_name, args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=proxy.httpd.shutdown).start())
    try:
        proxy.httpd.serve_forever()
    finally:
        proxy.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
