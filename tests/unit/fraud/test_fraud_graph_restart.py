"""The Neptune stand-in restarted from its database: after a clean close or a kill -9, the graph
it comes back with is the one it held (the fault campaign, benchmarks/faults.py, relies on it)."""

from __future__ import annotations

import signal

import pytest

from local.standins.fraud_scoring import http_execute
from local.standins.neptune_standin import GraphEngine, start_neptune_standin
from vigil.fraud.graph import graph_layout

INSERT = "CREATE (t:Transaction {id: $id, TransactionDT: 1, isFraud: -1})"
COUNT = "MATCH (t:Transaction) RETURN count(t) AS n"


def test_an_engine_reopened_on_its_database_keeps_the_graph(tmp_path):
    database = str(tmp_path / "graph")
    engine = GraphEngine(graph_layout(), database)
    engine.execute(INSERT, {"id": "kept-1"})
    engine.close()

    reopened = GraphEngine(graph_layout(), database)  # the schema exists: created only if absent
    try:
        assert reopened.execute(COUNT)[0]["n"] == 1
        assert reopened.execute(
            "MATCH (t:Transaction {id: $id}) RETURN t.id AS id", {"id": "kept-1"}
        )
    finally:
        reopened.close()


@pytest.mark.integration
def test_a_killed_standin_restarts_from_its_database_with_every_committed_write(tmp_path):
    database = tmp_path / "graph"
    standin = start_neptune_standin(database=database)
    execute = http_execute(standin.endpoint_url)
    for i in range(5):
        execute(INSERT, {"id": f"committed-{i}"})
    standin.process.send_signal(signal.SIGKILL)  # no shutdown, no checkpoint
    standin.process.wait(timeout=10)

    restarted = start_neptune_standin(database=database, port=standin.port)
    try:
        assert http_execute(restarted.endpoint_url)(COUNT, {})[0]["n"] == 5
    finally:
        restarted.stop()
