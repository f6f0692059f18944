"""A local REST API front for Lambda handlers: HTTP on 127.0.0.1 → API Gateway proxy events.

``POST /transactions`` (or ``POST /transactions/{id}/label``) with a JSON body becomes the API Gateway (REST, proxy integration) event
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
import urllib.parse
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


def proxy_event(
    method: str,
    path: str,
    body: str,
    headers: dict[str, str],
    *,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
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


def match_route(
    routes: dict[tuple[str, str], Callable[[dict, Any], dict]], method: str, path: str
) -> tuple[Callable[[dict, Any], dict], str, dict[str, str]] | None:
    """(handler, resource template, path parameters) of the route ``path`` matches, as API
    Gateway matches a resource such as ``/transactions/{id}/label`` (one segment per parameter)."""
    if (method, path) in routes:
        return routes[(method, path)], path, {}
    segments = path.split("/")
    for (route_method, template), handler in routes.items():
        parts = template.split("/")
        if route_method != method or len(parts) != len(segments):
            continue
        parameters = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}") and segment:
                parameters[part[1:-1]] = urllib.parse.unquote(segment)
            elif part != segment:
                break
        else:
            return handler, template, parameters
    return None


class LocalApi:
    """Serve ``routes`` ({(method, path): handler}) on 127.0.0.1; handlers get proxy events.
    A path may name parameters (``/transactions/{id}/label``): they arrive as
    ``pathParameters``, as from API Gateway."""

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
                route = match_route(api.routes, "POST", self.path)
                if route is None:
                    status, headers, payload = 404, {}, json.dumps({"message": "Not Found"})
                else:
                    handler, resource, parameters = route
                    event = proxy_event(
                        "POST",
                        self.path,
                        body,
                        dict(self.headers),
                        resource=resource,
                        path_parameters=parameters,
                    )
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
