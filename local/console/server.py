"""The Vigil console served locally: the bundled page, the read APIs and the simulator on 127.0.0.1.

``ConsoleServer(...).serve_in_thread()`` serves

* the page bundled by ``console/build.mjs`` (``console/dist/``) and ``/config.json``, which tells
  the page where its APIs are (in the cloud the same file names the API Gateway URL and the
  Cognito user pool);
* ``GET /api/fraud/...`` and ``GET /api/air/...``: the read APIs, as API Gateway proxy events into
  ``vigil.console.read_api.handle_event`` (the read-API Lambda's code) on the tables of the
  running stand-ins (moto server) and, for a transaction's entities, the Neptune stand-in;
* ``POST /api/toxicity/moderate``: forwarded to the moderation API (a local API front running the
  real moderation handler);
* ``GET|POST /api/simulator``: the transaction simulator: generated transactions sent one by one
  at the chosen rate as HTTP requests to the scoring API (a local API front running the real
  scoring handler, which records each answer in the recent-scores table the page reads).

With ``bearer_token`` set (cloud mode), every ``/api`` request without ``Authorization: Bearer
<token>`` is refused with 401, as API Gateway's Cognito authorizer refuses a request without a
valid ID token; the page then shows that it must sign in.
"""

from __future__ import annotations

import json
import mimetypes
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.standins.api_gateway import proxy_event
from vigil.console.contract import ConsoleSettings
from vigil.console.read_api import graph_from_settings, handle_event

REPO_ROOT = Path(__file__).resolve().parents[2]
STATIC_DIR = REPO_ROOT / "console" / "dist"
MAX_BODY_BYTES = 64 * 1024
MAX_RATE = 50.0  # transactions per second the simulator may be asked for


@dataclass
class Simulator:
    """Streams generated transactions to the scoring API at ``rate`` per second until stopped."""

    scoring_url: str | None
    transactions: Iterator[dict] | None  # API events; each is sent once across starts
    rate: float = 0.0
    sent: int = 0
    errors: int = 0
    last_error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> dict:
        return {
            "available": bool(self.scoring_url and self.transactions),
            "running": self.running,
            "rate": self.rate,
            "sent": self.sent,
            "errors": self.errors,
            "last_error": self.last_error,
        }

    def start(self, rate: float) -> None:
        with self._lock:
            self.stop()
            self.rate, self._stop = rate, threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self, stop: threading.Event) -> None:
        interval = 1.0 / self.rate
        rows = self.transactions
        next_at = time.monotonic()
        while not stop.is_set():
            row = next(rows, None)
            if row is None:
                return
            request = urllib.request.Request(
                self.scoring_url,
                data=json.dumps(row).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    answer.read()
                self.sent += 1
            except (urllib.error.URLError, OSError) as error:
                self.errors += 1
                self.last_error = str(error)[:200]
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))


class ConsoleServer:
    def __init__(
        self,
        *,
        settings: ConsoleSettings,
        dynamodb: Any,
        scoring_url: str | None = None,
        moderation_url: str | None = None,
        transactions: Iterator[dict] | None = None,
        bearer_token: str | None = None,
        static_dir: Path = STATIC_DIR,
        port: int = 0,
    ):
        if not (static_dir / "index.html").exists():
            raise FileNotFoundError(
                f"{static_dir}/index.html is missing: build the page with `node console/build.mjs`"
                " (make bootstrap does)"
            )
        self.settings, self.dynamodb = settings, dynamodb
        self.graph = graph_from_settings(settings)
        self.moderation_url, self.bearer_token = moderation_url, bearer_token
        self.static_dir = static_dir.resolve()
        self.simulator = Simulator(scoring_url, transactions)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_GET(self):
                server._dispatch(self, "GET")

            def do_POST(self):
                server._dispatch(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve_in_thread(self) -> ConsoleServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.simulator.stop()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- requests ------------------------------------------------------------------------------
    def _dispatch(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        path = parsed.path
        try:
            if not path.startswith("/api/"):
                if method != "GET":
                    return self._send(request, 405, {"message": "GET only"})
                return self._static(request, path)
            if self.bearer_token is not None:
                supplied = request.headers.get("Authorization", "")
                if supplied != f"Bearer {self.bearer_token}":
                    return self._send(request, 401, {"message": "Unauthorized"})
            length = int(request.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                return self._send(request, 413, {"message": f"body over {MAX_BODY_BYTES} bytes"})
            body = request.rfile.read(length).decode("utf-8", errors="replace") if length else None
            if path == "/api/simulator":
                return self._simulator(request, method, body)
            if path == "/api/toxicity/moderate" and method == "POST":
                return self._forward(request, self.moderation_url, body)
            params = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            event = proxy_event(method, path, body or "", dict(request.headers))
            event["queryStringParameters"] = params or None
            answer = handle_event(event, self.settings, self.dynamodb, graph=self.graph)
            return self._send(request, answer["statusCode"], answer["body"])
        except (BrokenPipeError, ConnectionResetError):
            return None  # the browser went away (a poll cut short by navigation)
        except Exception as error:  # the console must keep serving; say what failed
            return self._send(request, 500, {"message": f"console error: {type(error).__name__}"})

    def _static(self, request, path: str) -> None:
        if path == "/config.json":
            config = {
                "mode": "cloud" if self.bearer_token else "local",
                "apiBase": "/api",
                "simulator": self.simulator.status()["available"],
                "moderation": self.moderation_url is not None,
            }
            return self._send(request, 200, config)
        relative = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (self.static_dir / relative).resolve()
        if not target.is_relative_to(self.static_dir) or not target.is_file():
            return self._send(request, 404, {"message": "Not Found"})
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return self._send(request, 200, target.read_bytes(), content_type=kind)

    def _simulator(self, request, method: str, body: str | None) -> None:
        if method == "GET":
            return self._send(request, 200, self.simulator.status())
        if not self.simulator.status()["available"]:
            return self._send(request, 409, {"message": "no scoring API to simulate against"})
        try:
            command = json.loads(body or "")
            action = command["action"]
            if action not in ("start", "stop"):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self._send(request, 400, {"message": 'send {"action": "start"|"stop"}'})
        if action == "stop":
            self.simulator.stop()
            return self._send(request, 200, self.simulator.status())
        rate = command.get("rate", 2)
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= MAX_RATE:
            return self._send(
                request, 400, {"message": f"rate must be above 0 and at most {MAX_RATE:g}"}
            )
        self.simulator.start(float(rate))
        return self._send(request, 200, self.simulator.status())

    def _forward(self, request, url: str | None, body: str | None) -> None:
        if url is None:
            return self._send(request, 503, {"message": "no moderation API in this run"})
        forwarded = urllib.request.Request(
            url,
            data=(body or "").encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=30) as answer:
                status, payload = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        except (urllib.error.URLError, OSError):
            return self._send(request, 502, {"message": "the moderation API did not answer"})
        return self._send(request, status, payload)

    @staticmethod
    def _send(request, status: int, body: Any, content_type: str = "application/json") -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else body
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Cache-Control", "no-store")
        request.end_headers()
        request.wfile.write(data)
