"""≥ 10,000 hypothesis-generated events through the scoring handler: zero unhandled errors, zero
partial writes, and invalid events never reach the graph.

The graph is the real Neptune stand-in (ladybug, boto3 ``neptunedata`` client over HTTP); the
endpoint is the real SageMaker runtime proxy with no model container behind it, so every valid
event is inserted and answered with the fail-open fallback (scoring itself is covered by the
integration tests). After the run the whole graph is checked against the accepted events:
every transaction has exactly one edge per entity it uses, every entity's ``degree`` equals its
edge count and its ``feat_sum`` equals the sum of its transactions' feature vectors.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict

import pytest
from aws_lambda_powertools import Metrics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.standins.fraud_scoring import degree_violations
from tests.handlers.fraud.conftest import serve_standin
from vigil.fraud import schema
from vigil.fraud.features import (
    CategoricalFeature,
    Featurizer,
    FeaturizerSpec,
    NumericFeature,
    decode_vector,
)
from vigil.fraud.graph import graph_layout
from vigil.fraud.scoring import Scorer, ScoringConfig, handle_event

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", 10_000))
SPEC = FeaturizerSpec(
    numeric=[
        NumericFeature("TransactionAmt", 4.0, 1.2, log=True),
        NumericFeature("C1", 3.0, 10.0),
        NumericFeature("D1", 40.0, 80.0),
    ],
    categorical=[
        CategoricalFeature("ProductCD", ["W", "C", "H"]),
        CategoricalFeature("card4", ["visa", "mastercard"]),
    ],
    entity_columns=["card1", "addr1", "ProductCD", "P_emaildomain", "DeviceInfo"],
)
FEATURIZER = Featurizer(SPEC)
VALID_IDS = 400  # valid events reuse these ids: replays and concurrent-looking duplicates
INVALID_BASE = 1_000_000  # invalid events use ids from here: none may ever reach the graph

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
valid_transaction = st.fixed_dictionaries(
    {"TransactionID": st.integers(0, VALID_IDS - 1)},
    optional={
        "TransactionDT": st.integers(0, 10**7),
        "TransactionAmt": finite,
        "C1": finite,
        "D1": st.one_of(st.none(), finite),
        "ProductCD": st.sampled_from(["W", "C", "H", "R"]),
        "card1": st.integers(1000, 1010),
        "card4": st.sampled_from(["visa", "mastercard", "amex"]),
        "addr1": st.one_of(st.integers(100, 103), st.floats(100, 103).map(math.floor)),
        "P_emaildomain": st.sampled_from(["gmail.com", "x.example", "nan", " "]),
        "DeviceInfo": st.text(min_size=0, max_size=12),
        "V5": st.one_of(st.none(), finite),
        "id_31": st.one_of(st.none(), st.text(max_size=20)),
    },
)
BAD_NUMBERS = [float("nan"), float("inf"), -float("inf"), "12.5", "", True, [1, 2], {"a": 1}, None]
BAD_STRINGS = [4, 4.5, True, ["W"], {"k": "v"}, "x" * 257, "y" * 5000]
BAD_IDS = ["3100001", 1.5, -1, True, None, 2**53, [1], float("nan")]
BAD_BODIES = ['{"TransactionID": 1,', '{"TransactionID": NaN}', "[]", "null", "x" * 40_000, ""]
NUMERIC = ["TransactionAmt", "C1", "D1", "V5", "dist1", "card1", "addr1", "id_01"]
STRINGS = ["ProductCD", "card4", "P_emaildomain", "DeviceInfo", "M4", "id_31"]
KNOWN = set(schema.TRANSACTION_COLUMNS) | set(schema.IDENTITY_COLUMNS)
EVENTS_PER_EXAMPLE = 10

mutation = st.tuples(
    st.integers(0, 5),  # what goes wrong
    st.integers(0, 10**6),  # which column / value (taken modulo the choices)
    st.text(min_size=1, max_size=8),  # an unknown key, or a body that is not JSON
    st.booleans(),  # through API Gateway or a direct invoke
)


def _mutate(base: dict, kind: int, pick: int, text: str) -> tuple[object, bool]:
    """An invalid event derived from ``base`` (and whether it is an event body or raw payload)."""
    event = {**base, "TransactionID": INVALID_BASE + pick}
    if kind == 0:
        event.pop("TransactionID")
        event["card1"] = 1000  # a valid entity that must not be written
    elif kind == 1:
        event["TransactionID"] = BAD_IDS[pick % len(BAD_IDS)]
        if event["TransactionID"] is None:
            event.pop("TransactionID")
    elif kind == 2:
        value = BAD_NUMBERS[pick % len(BAD_NUMBERS)]
        event[NUMERIC[pick % len(NUMERIC)]] = value if value is not None else "none"
    elif kind == 3:
        event[STRINGS[pick % len(STRINGS)]] = BAD_STRINGS[pick % len(BAD_STRINGS)]
    elif kind == 4:
        event[text if text not in KNOWN else text + "_x"] = pick
    else:
        return (text if pick % 2 else BAD_BODIES[pick % len(BAD_BODIES)]), True
    return event, False


def _api(body: str) -> dict:
    return {"httpMethod": "POST", "requestContext": {"requestId": "fuzz"}, "body": body}


@st.composite
def batches(draw):
    """EVENTS_PER_EXAMPLE (event, expected status, accepted transaction or None) per example:
    the valid transaction itself about one time in three, otherwise invalid variants of it."""
    base = draw(valid_transaction)
    submit_valid = draw(st.integers(0, 2)) == 0
    cases = []
    if submit_valid:
        as_api = draw(st.booleans())
        cases.append((_api(json.dumps(base)) if as_api else base, 200, base))
    for kind, pick, text, as_api in draw(
        st.lists(mutation, min_size=EVENTS_PER_EXAMPLE - len(cases), max_size=EVENTS_PER_EXAMPLE)
    )[: EVENTS_PER_EXAMPLE - len(cases)]:
        event, raw_body = _mutate(base, kind, pick, text)
        if raw_body:
            cases.append((_api(event) if as_api else event, 400, None))
        else:
            body = json.dumps(event, allow_nan=True)
            cases.append((_api(body) if as_api else event, 400, None))
    return cases


@pytest.fixture(scope="module")
def stack(proxy):
    standin = serve_standin(SPEC.entity_columns)
    yield standin, proxy
    standin.stop()


def test_fuzzed_events_never_crash_and_never_half_write(stack, monkeypatch):
    standin, proxy = stack
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", proxy.endpoint_url)
    config = ScoringConfig(
        graph_endpoint=standin.endpoint_url,
        endpoint_name="vigil-fraud-rgcn",
        featurizer_spec="unused",
        max_attempts=1,
        latency_budget_ms=2_000,
        graph_timeout_ms=2_000,
    )
    scorer = Scorer(config, featurizer=FEATURIZER)
    metrics = Metrics(namespace="VigilTests", service="fuzz")
    accepted: dict[int, dict] = {}
    counts = defaultdict(int)

    @settings(
        max_examples=EXAMPLES // EVENTS_PER_EXAMPLE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(batches())
    def run(cases):
        for event, expected, transaction in cases:
            response = handle_event(event, lambda: scorer, metrics)  # must not raise
            metrics.clear_metrics()
            status = response.get("statusCode", 200)
            body = json.loads(response["body"]) if "body" in response else response
            assert status == expected, (event, response)
            counts[status] += 1
            if status == 400:
                assert body["errors"] and all(e["field"] for e in body["errors"])
            else:
                assert body["id"] == str(transaction["TransactionID"])
                assert body["flag"] in ("fraud", "legit", "review")
                accepted.setdefault(transaction["TransactionID"], transaction)

    run()
    assert sum(counts.values()) >= EXAMPLES
    assert counts[200] >= EXAMPLES // 100 and counts[400] >= EXAMPLES // 2, dict(counts)
    _assert_graph_is_consistent(standin, accepted, config.link_only_columns)
    # the same check benchmarks/load.py runs on a graph it cannot replay from its inputs
    assert not degree_violations(
        standin.engine.execute,
        graph_layout(SPEC.entity_columns),
        link_only_columns=config.link_only_columns,
        hub_threshold=config.hub_threshold,
    )


def _assert_graph_is_consistent(
    standin, accepted: dict[int, dict], link_only_columns: frozenset[str]
) -> None:
    """Every accepted transaction with all its edges; each entity's ``degree``/``feat_sum`` the
    count/sum of its transactions, except a link-only column's entity: created by the first
    transaction that used it (degree 1, its vector), then only linked."""
    engine = standin.engine
    layout = graph_layout(SPEC.entity_columns)
    ids = {int(r["id"]) for r in engine.execute("MATCH (t:Transaction) RETURN t.id AS id")}
    assert ids == set(accepted), "the graph holds exactly the accepted transactions"
    assert all(i < INVALID_BASE for i in ids)
    expected_sum: dict[tuple[str, str], list[float]] = {}
    expected_degree: dict[tuple[str, str], int] = defaultdict(int)
    expected_edges: dict[tuple[str, str], int] = defaultdict(int)
    for tid, transaction in accepted.items():
        vector = FEATURIZER.transform(transaction)
        used = 0
        for entity in layout.entity_types:
            key = schema.canonical_key(transaction.get(entity.column))
            if key is None:
                continue
            used += 1
            expected_edges[(entity.label, key)] += 1
            if entity.column in link_only_columns and (entity.label, key) in expected_sum:
                continue  # linked only
            expected_degree[(entity.label, key)] += 1
            total = expected_sum.setdefault((entity.label, key), [0.0] * len(vector))
            for i, value in enumerate(vector):
                total[i] += value
        edges = engine.execute(
            "MATCH (t:Transaction {id: $id})-[r]->() RETURN count(r) AS n", {"id": str(tid)}
        )[0]["n"]
        assert edges == used, (tid, edges, used)
    for entity in layout.entity_types:
        rows = engine.execute(
            f"MATCH (e:{entity.label}) OPTIONAL MATCH (t:Transaction)-[r:{entity.edge}]->(e) "
            "RETURN e.key AS key, e.degree AS degree, e.feat_sum AS feat_sum, count(r) AS edges"
        )
        for row in rows:
            where = (entity.label, row["key"])
            assert row["degree"] == expected_degree[where], (where, row)
            assert row["edges"] == expected_edges[where], (where, row)
            got = decode_vector(row["feat_sum"])
            assert all(
                math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-3)
                for a, b in zip(got, expected_sum[where], strict=True)
            ), where
