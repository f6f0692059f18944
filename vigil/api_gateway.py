"""API Gateway (REST, Lambda proxy integration) requests and responses, for every API Lambda.

The fraud scoring and the toxicity moderation Lambdas read a request body and answer JSON the
same way: :func:`is_proxy_event` tells a proxy event from a direct invoke, :func:`request_body`
decodes the body (base64 when API Gateway encoded it, bounded in size), :func:`json_body` parses
it, and :func:`json_response` builds the proxy response. Standard library only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any


class InvalidBody(ValueError):
    """The request body cannot be read; ``message`` says why (it completes "body ...")."""

    def __init__(self, message: str):
        super().__init__(f"body {message}")
        self.message = message


def is_proxy_event(event: Any) -> bool:
    return isinstance(event, Mapping) and "requestContext" in event and "httpMethod" in event


def request_body(event: Mapping[str, Any], *, max_bytes: int | None = None) -> str | None:
    """The body as text (None when the request has none)."""
    body = event.get("body")
    if body is None:
        return None
    if not isinstance(body, str):
        raise InvalidBody("must be a JSON string")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except ValueError:
            raise InvalidBody("is not valid base64 UTF-8") from None
    if max_bytes is not None and len(body.encode("utf-8")) > max_bytes:
        raise InvalidBody(f"larger than {max_bytes} bytes")
    return body


def json_body(event: Mapping[str, Any], *, max_bytes: int | None = None) -> Any:
    """The body parsed as JSON; a missing body is an error."""
    body = request_body(event, max_bytes=max_bytes)
    if body is None:
        raise InvalidBody("missing request body")
    try:
        return json.loads(body)
    except ValueError as error:
        raise InvalidBody(f"is not valid JSON ({error.msg})") from None
    except RecursionError:  # the parser recurses per nesting level: bounded by the stack
        raise InvalidBody("is not valid JSON (nested too deeply)") from None


def json_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda proxy response with a compact JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }
