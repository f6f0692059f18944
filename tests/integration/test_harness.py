"""The harness itself: moto server on loopback, endpoint switching, the network guard."""

from __future__ import annotations

import socket

import pytest

from vigil.aws import client

pytestmark = pytest.mark.integration


def test_moto_server_serves_boto3_through_aws_endpoint_url(moto_server):
    assert moto_server.endpoint_url.startswith("http://127.0.0.1:")
    s3 = client("s3")
    s3.create_bucket(Bucket="vigil-harness")
    s3.put_object(Bucket="vigil-harness", Key="k", Body=b"v")
    assert s3.get_object(Bucket="vigil-harness", Key="k")["Body"].read() == b"v"


def test_moto_server_is_reset_between_tests(moto_server):
    assert client("s3").list_buckets()["Buckets"] == []


def test_connections_off_the_loopback_are_refused():
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match=r"127\.0\.0\.1"):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed, refused before sending
