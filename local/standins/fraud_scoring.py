"""The fraud scoring path on local stand-ins: Neptune stand-in + real model server + runtime proxy.

``with local_scoring(bulk_dir=..., model_dir=..., featurizer=...) as local:`` starts

* the Neptune stand-in process loaded from the ETL's bulk-load files (``local/standins/neptune_standin.py``),
* the real SageMaker PyTorch serving stack for the trained model (``local/standins/model_server.py``),
* the SageMaker runtime proxy in front of it (``local/standins/sagemaker_runtime_proxy.py``),

and yields the environment that points the scoring Lambda at them — the same variables the CDK
construct sets in the cloud (``GRAPH_ENDPOINT``, ``SCORING_ENDPOINT_NAME``, ``FEATURIZER_SPEC``,
…) plus ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` and fake credentials. Everything is stopped by PID
on exit. Used by the demo (``local/demos/fraud.py``), the benchmark and the integration tests.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from local.standins.model_server import ModelServer, start_model_server
from local.standins.moto_server import FAKE_CREDENTIALS
from local.standins.neptune_standin import StandinProcess, start_neptune_standin
from local.standins.sagemaker_runtime_proxy import ProxyProcess, start_sagemaker_proxy
from vigil.fraud.graph import GraphLayout

ENDPOINT_NAME = "vigil-fraud-rgcn"


@dataclass
class LocalScoring:
    standin: StandinProcess
    model_server: ModelServer
    proxy: ProxyProcess
    environment: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def activated(self) -> Iterator[LocalScoring]:
        """Set ``environment`` in ``os.environ`` for the duration (restored afterwards)."""
        saved = {name: os.environ.get(name) for name in self.environment}
        os.environ.update(self.environment)
        from vigil.aws import reset_clients

        reset_clients()
        try:
            yield self
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            reset_clients()


def scoring_environment(
    *,
    graph_endpoint: str,
    runtime_endpoint: str,
    featurizer: Path | str,
    endpoint_name: str = ENDPOINT_NAME,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    return {
        **FAKE_CREDENTIALS,
        "GRAPH_ENDPOINT": graph_endpoint,
        "SCORING_ENDPOINT_NAME": endpoint_name,
        "FEATURIZER_SPEC": str(featurizer),
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime_endpoint,
        "POWERTOOLS_SERVICE_NAME": "vigil-fraud-scoring",
        "POWERTOOLS_METRICS_NAMESPACE": "VigilLocal",
        "POWERTOOLS_TRACE_DISABLED": "1",
        **(settings or {}),
    }


@contextlib.contextmanager
def local_scoring(
    *,
    bulk_dir: Path | str,
    model_dir: Path | str,
    featurizer: Path | str,
    endpoint_name: str = ENDPOINT_NAME,
    settings: Mapping[str, str] | None = None,
    model_env: Mapping[str, str] | None = None,
) -> Iterator[LocalScoring]:
    standin = server = proxy = None
    try:
        standin = start_neptune_standin(bulk_dir)
        server = start_model_server(model_dir, env=model_env)
        proxy = start_sagemaker_proxy(server.url, endpoint_name)
        env = scoring_environment(
            graph_endpoint=standin.endpoint_url,
            runtime_endpoint=proxy.endpoint_url,
            featurizer=featurizer,
            endpoint_name=endpoint_name,
            settings=settings,
        )
        yield LocalScoring(standin=standin, model_server=server, proxy=proxy, environment=env)
    finally:
        for running in (proxy, server, standin):
            if running is not None:
                with contextlib.suppress(Exception):
                    running.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


Execute = Callable[[str, Mapping], list[dict]]
"""Run one openCypher query with parameters, return its rows (an engine's or an endpoint's)."""


def http_execute(endpoint_url: str) -> Execute:
    """``Execute`` over HTTP against a running stand-in (``StandinProcess.endpoint_url``)."""

    def execute(query: str, parameters: Mapping | None = None) -> list[dict]:
        request = urllib.request.Request(
            f"{endpoint_url}/openCypher",
            data=json.dumps({"query": query, "parameters": dict(parameters or {})}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["results"]

    return execute


def degree_violations(
    execute: Execute,
    layout: GraphLayout,
    *,
    link_only_columns: frozenset[str],
    hub_threshold: int,
) -> list[dict]:
    """Entities whose ``degree`` is not their edge count (``[]`` when the graph is consistent).

    The scoring path increments ``degree`` in the query that adds the edge, so the two stay
    equal — except for an entity of a link-only column or a hub (``degree >= hub_threshold``),
    which is only linked once it exists (docs/fraud-graph.md): its degree is at least 1 and at
    most its edge count."""
    violations = []
    for entity in layout.entity_types:
        rows = execute(
            f"MATCH (e:{entity.label}) OPTIONAL MATCH (t:Transaction)-[r:{entity.edge}]->(e) "
            "RETURN e.key AS key, e.degree AS degree, count(r) AS edges",
            {},
        )
        only_linked = entity.column in link_only_columns
        for row in rows:
            degree, edges = row["degree"], row["edges"]
            if only_linked or degree >= hub_threshold:
                consistent = 1 <= degree <= edges
            else:
                consistent = degree == edges
            if not consistent:
                violations.append({"label": entity.label, **row})
    return violations


def graph_size(execute: Execute, layout: GraphLayout) -> dict[str, int]:
    """Node and edge counts, and each entity label's degree total (a replay must move none)."""
    size = {
        "nodes": execute("MATCH (n) RETURN count(n) AS n", {})[0]["n"],
        "edges": execute("MATCH ()-[r]->() RETURN count(r) AS n", {})[0]["n"],
    }
    for entity in layout.entity_types:
        # summed here: engines disagree on sum()'s integer type (ladybug's is a 128-bit one)
        rows = execute(f"MATCH (e:{entity.label}) RETURN e.degree AS degree", {})
        size[f"degree_{entity.label}"] = sum(row["degree"] for row in rows)
    return size
