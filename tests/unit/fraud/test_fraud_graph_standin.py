"""The local Neptune stand-in and the scoring path's graph queries (vigil/fraud/graph.py).

The stand-in runs on a thread here (one per module, a fresh in-memory ladybug database), spoken to
by boto3's real ``neptunedata`` client, so every query string is the exact one production sends.
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import botocore.exceptions
import pytest

from local.standins.fault_injection import inject_faults
from local.standins.neptune_standin import GraphEngine, NeptuneStandin, _binding_type
from vigil import aws
from vigil.fraud import schema
from vigil.fraud.features import decode_vector, encode_vector
from vigil.fraud.graph import FraudGraph, graph_layout, insert_query, read_query


@pytest.fixture(scope="module")
def standin():
    server = NeptuneStandin(GraphEngine(graph_layout())).serve_in_thread()
    yield server
    server.stop()


@pytest.fixture
def graph(standin) -> FraudGraph:
    client = aws.client("neptunedata", endpoint_url=standin.endpoint_url, max_attempts=0)
    return FraudGraph(client)


def _keys(graph: FraudGraph, **row):
    return graph.entity_keys(row)


def test_entity_keys_use_the_canonical_key_and_skip_missing(graph):
    keys = _keys(graph, card1=1234.0, ProductCD="W", addr1=None, DeviceInfo="nan")
    assert [(e.label, k) for e, k in keys] == [("Card1", "1234"), ("ProductCD", "W")]


def test_insert_is_idempotent_and_updates_feat_sum_and_degree(graph, standin):
    keys = _keys(graph, card1=501, P_emaildomain="idem.example")
    first = graph.read("idem-1", keys)
    assert not first.transaction_exists and all(not e.exists for e in first.entities)
    x = [1.0, 2.0, 3.0]
    updates = [(state, encode_vector(x)) for state in first.entities]
    assert graph.insert("idem-1", 100, updates, pred_prob=0.25, flag="legit")
    # the same insert again (a replay, a retry after a lost answer) writes nothing
    assert not graph.insert("idem-1", 100, updates, pred_prob=0.99, flag="fraud")
    after = graph.read("idem-1", keys)
    assert after.transaction_exists and after.pred_prob == 0.25 and after.flag == "legit"
    assert [e.degree for e in after.entities] == [1, 1]
    assert decode_vector(after.entities[0].feat_sum) == x
    edges = standin.engine.execute(
        "MATCH (t:Transaction {id: 'idem-1'})-[r]->(e) RETURN count(r) AS n"
    )
    assert edges == [{"n": 2}]
    # a second transaction folds its vector into the existing entities
    second = graph.read("idem-2", keys)
    y = [0.5, 0.5, 0.5]
    updates = [
        (s, encode_vector([a + b for a, b in zip(decode_vector(s.feat_sum), y, strict=True)]))
        for s in second.entities
    ]
    assert graph.insert("idem-2", 101, updates, pred_prob=None, flag=None)
    final = graph.read("idem-2", keys)
    assert final.transaction_exists and final.pred_prob is None
    assert [e.degree for e in final.entities] == [2, 2]
    assert decode_vector(final.entities[0].feat_sum) == [1.5, 2.5, 3.5]
    # the first answer is stored once; a second store is refused
    assert graph.store_answer("idem-2", 0.7, "fraud")
    assert not graph.store_answer("idem-2", 0.1, "legit")
    assert graph.read("idem-2", keys).pred_prob == 0.7


def test_a_stale_read_writes_nothing(graph, standin):
    keys = _keys(graph, card2=77, DeviceInfo="stale-device")
    seen = graph.read("stale-1", keys)
    assert graph.insert(
        "stale-1",
        1,
        [(s, encode_vector([1.0])) for s in seen.entities],
        pred_prob=0.1,
        flag="legit",
    )
    # "stale-2" was read before stale-1 landed: its guard (degree 0 / absent) must fail
    before = standin.engine.execute("MATCH (t:Transaction) RETURN count(t) AS n")
    assert not graph.insert(
        "stale-2", 2, [(s, encode_vector([9.0])) for s in seen.entities], pred_prob=0.2, flag="x"
    )
    assert standin.engine.execute("MATCH (t:Transaction) RETURN count(t) AS n") == before
    assert graph.read("stale-2", keys).transaction_exists is False
    assert [e.degree for e in graph.read("stale-3", keys).entities] == [1, 1]


def test_hub_entities_are_linked_but_not_updated(graph, standin):
    standin.engine.execute(
        "CREATE (e:ProductCD {key: 'HUB', feat_sum: $f, degree: 50000})",
        {"f": encode_vector([5.0])},
    )
    keys = _keys(graph, ProductCD="HUB", card3=150)
    seen = graph.read("hub-1", keys)
    card, hub = seen.entities  # schema order: card3 before ProductCD
    assert (card.column, hub.column) == ("card3", "ProductCD")
    assert hub.degree == 50000
    assert graph.insert(
        "hub-1", 1, [(card, encode_vector([1.0])), (hub, None)], pred_prob=0.3, flag="legit"
    )
    card_after, hub_after = graph.read("hub-1", keys).entities
    assert (hub_after.degree, hub_after.feat_sum) == (50000, encode_vector([5.0]))
    assert card_after.degree == 1
    linked = standin.engine.execute(
        "MATCH (t:Transaction {id: 'hub-1'})-[:USES_PRODUCTCD]->(e:ProductCD) RETURN e.key AS k"
    )
    assert linked == [{"k": "HUB"}]


def test_the_degree_guard_holds_across_integer_widths(graph, standin):
    """Degrees of 127 → 128 → 129 cross ladybug's INT8/UINT8 binding widths; the guard (a
    double) and the server-side increment are exact at each step, a stale guard still fails,
    and one held statement serves every step."""
    standin.engine.execute(
        "CREATE (e:Card1 {key: 'wide', feat_sum: $f, degree: 127})", {"f": encode_vector([0.0])}
    )
    keys = _keys(graph, card1="wide")
    plans = []
    for n, expected in enumerate((128, 129)):
        seen = graph.read(f"wide-{n}", keys)
        update = [(seen.entities[0], encode_vector([1.0]))]
        assert graph.insert(f"wide-{n}", 1, update, pred_prob=None, flag=None)
        assert not graph.insert(f"wide-stale-{n}", 1, update, pred_prob=None, flag=None)
        assert graph.read("none", keys).entities[0].degree == expected
        plans.append(len(standin.engine._plans))
    assert plans[0] == plans[1]  # the second step reused the first step's statements
    query = insert_query([(graph.layout.entity_types[0], "update")], scored=False)
    assert "$n0" not in query and "e0.degree = e0.degree + 1" in query


@pytest.mark.parametrize(
    ("value", "binding"),
    [
        (5, "int8"),
        (200, "uint8"),
        (1937, "int16"),
        (40_000, "uint16"),
        (86_400, "int32"),
        (3_000_000_000, "uint32"),
        (2**40, "int64"),
        (-5, "int8"),
        (True, "bool"),
        (5.0, "float"),
        ("5", "str"),
    ],
)
def test_held_statements_are_keyed_by_ladybugs_binding_type(value, binding):
    assert _binding_type(value) == binding


def test_concurrent_inserts_of_one_transaction_write_once(graph, standin):
    keys = _keys(graph, card5=9, R_emaildomain="race.example")
    seen = graph.read("race-1", keys)
    updates = [(s, encode_vector([1.0])) for s in seen.entities]
    results = []

    def insert():
        client = aws.client(
            "neptunedata", endpoint_url=standin.endpoint_url, max_attempts=0, read_timeout=9.0
        )
        results.append(FraudGraph(client).insert("race-1", 1, updates, pred_prob=0.5, flag="x"))

    threads = [threading.Thread(target=insert) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    rows = standin.engine.execute(
        "MATCH (t:Transaction {id: 'race-1'})-[r]->() RETURN count(r) AS n"
    )
    assert rows == [{"n": 2}]
    assert [e.degree for e in graph.read("race-1", keys).entities] == [1, 1]


def test_neptune_errors_raise_the_modelled_boto3_exceptions(graph, standin):
    client = graph.client
    with pytest.raises(client.exceptions.MalformedQueryException) as raised:
        client.execute_open_cypher_query(openCypherQuery="MATCH (n:Transaction RETURN n")
    assert raised.value.response["Error"]["Code"] == "MalformedQueryException"
    assert "Parser" in raised.value.response["detailedMessage"]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.execute_open_cypher_query(openCypherQuery="RETURN 1", parameters="[1, 2]")
    inject_faults(standin.endpoint_url, status=429, count=1)
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.execute_open_cypher_query(openCypherQuery="RETURN 1 AS one")
    inject_faults(standin.endpoint_url, status=500, code="TimeLimitExceededException", count=1)
    with pytest.raises(client.exceptions.TimeLimitExceededException) as raised:
        client.execute_open_cypher_query(openCypherQuery="RETURN 1 AS one")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # after the armed faults, the next query answers normally, in Neptune's result format
    answer = client.execute_open_cypher_query(
        openCypherQuery="RETURN $x AS x", parameters=json.dumps({"x": 3})
    )
    assert answer["results"] == [{"x": 3}]


def test_a_slow_graph_times_out_on_the_client(standin):
    client = aws.client(
        "neptunedata", endpoint_url=standin.endpoint_url, max_attempts=0, read_timeout=0.2
    )
    inject_faults(standin.endpoint_url, status=200, delay_s=0.6, count=1)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client.execute_open_cypher_query(openCypherQuery="RETURN 1 AS one")


def test_query_text_is_fixed_by_the_schema_not_by_values():
    layout = graph_layout()
    card1 = layout.entity_types[0]
    text = read_query([card1.label])
    assert "$k0" in text and "Card1" in text and "UNION ALL" in text
    insert = insert_query([(card1, "update")], scored=True)
    for fragment in ("OPTIONAL MATCH (t0:Transaction {id: $id})", "t0 IS NULL", "$g0", "$f0"):
        assert fragment in insert
    assert "USES_CARD1" in insert


def _write_bulk(folder: Path) -> None:
    """Bulk-load files exactly as the schema's headers say (openCypher CSV format)."""
    (folder / "nodes_transaction").mkdir(parents=True)
    (folder / "nodes_card1").mkdir()
    (folder / "edges_card1").mkdir()
    with (folder / "nodes_transaction" / "part-0.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(schema.TRANSACTION_NODE_HEADER)
        writer.writerow([schema.transaction_node_id(10), "Transaction", "10", 86400, 0])
        writer.writerow([schema.transaction_node_id(11), "Transaction", "11", 86500, 1])
    with (folder / "nodes_card1" / "part-0.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(schema.ENTITY_NODE_HEADER)
        writer.writerow(
            [schema.entity_node_id("card1", "7"), "Card1", "7", encode_vector([1.0, 2.0]), 2]
        )
    with (folder / "edges_card1" / "part-0.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(schema.EDGE_HEADER)
        for tid in (10, 11):
            writer.writerow(
                [
                    schema.edge_id("card1", tid, "7"),
                    schema.transaction_node_id(tid),
                    schema.entity_node_id("card1", "7"),
                    schema.edge_type("card1"),
                ]
            )


def test_loads_the_etl_bulk_load_files(tmp_path):
    _write_bulk(tmp_path)
    engine = GraphEngine(graph_layout())
    try:
        counts = engine.load_bulk_files(tmp_path)
        assert counts == {"Transaction": 2, "Card1": 1, "USES_CARD1": 2}
        rows = engine.execute(
            "MATCH (t:Transaction)-[:USES_CARD1]->(c:Card1 {key: '7'}) "
            "RETURN t.id AS id, t.isFraud AS fraud, c.degree AS d ORDER BY id"
        )
        assert rows == [{"id": "10", "fraud": 0, "d": 2}, {"id": "11", "fraud": 1, "d": 2}]
    finally:
        engine.close()
