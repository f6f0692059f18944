"""Fault injection for Vigil's local HTTP stand-ins (Neptune stand-in, SageMaker runtime proxy,
and :class:`AwsFaultProxy` in front of moto server for DynamoDB and SNS).

A test asks a running stand-in to fail its next ``count`` requests the way the real service fails
(an HTTP status with the service's error code, or a slow answer), then checks that the caller's
retries, latency budget and fallback behave. ``POST <endpoint>/_standin/faults`` with JSON
``{"status": 503, "code": "ServiceUnavailable", "count": 2, "delay_s": 0.0}`` arms them;
``POST <endpoint>/_standin/reset-faults`` disarms them.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

FAULTS_PATH = "/_standin/faults"
RESET_PATH = "/_standin/reset-faults"


@dataclass
class Faults:
    status: int = 0
    code: str = ""
    count: int = 0
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, spec: dict[str, Any]) -> None:
        with self.lock:
            self.status = int(spec.get("status", 500))
            self.code = str(spec.get("code", ""))
            self.count = int(spec.get("count", 1))
            self.delay_s = float(spec.get("delay_s", 0.0))

    def reset(self) -> None:
        with self.lock:
            self.count = 0

    def take(self) -> tuple[int, str, float] | None:
        """The fault for this request, if one is armed (each request uses one up)."""
        with self.lock:
            if self.count <= 0:
                return None
            self.count -= 1
            return self.status, self.code, self.delay_s


def inject_faults(endpoint_url: str, **spec: Any) -> None:
    """Arm ``spec`` (status, code, count, delay_s; ``match`` for :class:`AwsFaultProxy`) on the
    stand-in; no arguments disarms it."""
    path = FAULTS_PATH if spec else RESET_PATH
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + path,
        data=json.dumps(spec).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).read()


def _aws_error(operation_target: str, status: int, code: str) -> tuple[bytes, str]:
    """An AWS error body in the protocol the request used: JSON for ``X-Amz-Target`` requests
    (DynamoDB), the query protocol's XML otherwise (SNS), as botocore parses each."""
    if operation_target:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code})
        return body.encode(), "application/x-amz-json-1.0"
    kind = "Receiver" if status >= 500 else "Sender"
    xml = (
        "<ErrorResponse><Error>"
        f"<Type>{kind}</Type><Code>{code}</Code><Message>injected fault</Message>"
        "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
    return xml.encode(), "text/xml"


class AwsFaultProxy:
    """A loopback HTTP proxy in front of moto server that fails chosen AWS operations.

    Point one service at it (``AWS_ENDPOINT_URL_SNS``, ``AWS_ENDPOINT_URL_DYNAMODB``) and arm
    ``{"status": 400, "code": "ThrottlingException", "count": 3, "match": "Publish"}``: the next
    ``count`` requests whose ``X-Amz-Target`` header or body contain ``match`` (after ``skip`` of
    them passed) answer the service's error (botocore parses it and retries it as it would the
    real one); every other request is forwarded to moto unchanged. ``requests`` and ``failed`` count what passed and
    what was failed, so a caller can check that a fault was actually hit.
    """

    def __init__(self, upstream_url: str, port: int = 0):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        upstream = urlsplit(upstream_url)
        proxy = self
        self.faults = Faults()
        self.match = ""
        self.skip = 0
        self.requests = 0
        self.failed = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self) -> None:
                import http.client

                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path in (FAULTS_PATH, RESET_PATH):
                    spec = json.loads(raw or b"{}")
                    if self.path == FAULTS_PATH:
                        proxy.match = str(spec.get("match", ""))
                        proxy.skip = int(spec.get("skip", 0))
                        proxy.faults.arm(spec)
                    else:
                        proxy.faults.reset()
                    self._answer(200, b'{"ok":true}', "application/json")
                    return
                target = self.headers.get("X-Amz-Target", "")
                matched = proxy.match in target or proxy.match.encode() in raw
                with proxy.faults.lock:
                    passing = matched and proxy.skip > 0
                    proxy.skip -= passing
                fault = proxy.faults.take() if matched and not passing else None
                with proxy.faults.lock:
                    proxy.requests += 1
                    proxy.failed += fault is not None
                if fault is not None:
                    status, code, delay = fault
                    if delay:
                        time.sleep(delay)
                    body, content_type = _aws_error(target, status, code or "InternalFailure")
                    self._answer(status, body, content_type)
                    return
                connection = http.client.HTTPConnection(upstream.hostname, upstream.port, 60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    headers["Host"] = upstream.netloc
                    connection.request(self.command, self.path, body=raw, headers=headers)
                    response = connection.getresponse()
                    body = response.read()
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in (
                            "content-length",
                            "transfer-encoding",
                            "connection",
                        ):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> AwsFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
