"""A local REST API front for Lambda handlers: HTTP on 127.0.0.1 → API Gateway proxy events.

``POST /transactions`` with a JSON body becomes the API Gateway (REST, proxy integration) event
the deployed API sends — ``httpMethod``, ``path``, ``resource``, ``headers``, ``requestContext``,
``body``, ``isBase64Encoded`` — and the handler's ``{"statusCode", "headers", "body"}`` answer
becomes the HTTP response. The handler runs in this process (as the Lambda runtime would run it),
so the demo streams transactions through the real handler over HTTP. What API Gateway itself
does before the Lambda (SigV4/IAM authorisation, the request-model validator, WAF) is
configuration tested in ``tests/infra/fraud/``; this front does not imitate it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class LocalContext:
    """The parts of the Lambda context Powertools reads."""

    function_name: str = "vigil-local"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:vigil-local"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/vigil-local"
    log_stream_name: str = "local"
    timeout_ms: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


def proxy_event(method: str, path: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userArn": None},
        },
        "body": body,
        "isBase64Encoded": False,
    }


class LocalApi:
    """Serve ``routes`` ({(method, path): handler}) on 127.0.0.1; handlers get proxy events."""

    def __init__(self, routes: dict[tuple[str, str], Callable[[dict, Any], dict]], port: int = 0):
        self.routes = routes
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                handler = api.routes.get(("POST", self.path))
                if handler is None:
                    status, headers, payload = 404, {}, json.dumps({"message": "Not Found"})
                else:
                    event = proxy_event("POST", self.path, body, dict(self.headers))
                    context = LocalContext(aws_request_id=event["requestContext"]["requestId"])
                    answer = handler(event, context)
                    status = int(answer.get("statusCode", 200))
                    headers = answer.get("headers") or {}
                    payload = answer.get("body") or ""
                data = payload.encode("utf-8")
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve_in_thread(self) -> LocalApi:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
