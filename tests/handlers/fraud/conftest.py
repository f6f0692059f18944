"""Shared stand-ins of the scoring handler tests: the Neptune stand-in and the runtime proxy,
both on threads, reached by boto3's own clients."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from local.standins.loopback_process import free_port
from local.standins.neptune_standin import GraphEngine, NeptuneStandin
from local.standins.sagemaker_runtime_proxy import SageMakerRuntimeProxy
from vigil.fraud.graph import graph_layout

ENDPOINT_NAME = "vigil-fraud-rgcn"


def serve_standin(entity_columns: Sequence[str]) -> NeptuneStandin:
    """An empty graph with the layout of ``entity_columns``, served on a thread."""
    return NeptuneStandin(GraphEngine(graph_layout(entity_columns))).serve_in_thread()


@pytest.fixture(scope="module")
def proxy():
    """The SageMaker runtime front with no container behind it (its port is closed): requests
    that get past injected faults fail as an unreachable container (503)."""
    server = SageMakerRuntimeProxy(f"http://127.0.0.1:{free_port()}", ENDPOINT_NAME)
    yield server.serve_in_thread()
    server.stop()
