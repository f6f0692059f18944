"""boto3 clients built one way for production and local mode.

boto3 itself honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``), so local mode is
only an environment difference: tests and the demo point it at moto server or a local stand-in.
Clients are cached per (service, settings) so a warm Lambda reuses connections.
"""

from __future__ import annotations

import functools

import boto3
from botocore.config import Config


@functools.cache
def client(
    service: str,
    *,
    connect_timeout: float = 2.0,
    read_timeout: float = 10.0,
    max_attempts: int = 3,
    region_name: str | None = None,
    endpoint_url: str | None = None,
):
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(
        service, config=config, region_name=region_name, endpoint_url=endpoint_url
    )


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
