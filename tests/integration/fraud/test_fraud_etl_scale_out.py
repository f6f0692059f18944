"""The fraud ETL's steps that used to need one machine, on a small local Spark.

The time split ranks rows without a global window (which would move every row to one task), the
one-hot vocabularies are ranked by the executors, and entity ``feat_sum`` vectors are encoded by
the executors; each gives the same answer as a plain single-process computation.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from vigil.fraud.features import decode_vector

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def spark():
    from glue.fraud_etl import local_spark_session

    session = local_spark_session("local[2]", shuffle_partitions=3)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _executed_plan(frame) -> str:
    return frame._jdf.queryExecution().executedPlan().toString()


def test_time_positions_follow_time_then_id_without_a_single_partition(spark):
    from glue.fraud_etl import rank_by_time

    rng = random.Random(5)
    rows = [(tid, rng.randrange(40)) for tid in rng.sample(range(10_000), 600)]  # many tied times
    frame = spark.createDataFrame(rows, "__tid long, __dt long").repartition(3)
    ranked, cached = rank_by_time(frame, 4)
    got = {r["__tid"]: r["__position"] for r in ranked.collect()}
    cached.unpersist()
    expected = {tid: i for i, (dt, tid) in enumerate(sorted((dt, tid) for tid, dt in rows))}
    assert got == expected
    plan = _executed_plan(ranked)
    assert "rangepartitioning" in plan.lower()
    assert "SinglePartition" not in plan and "Window" not in plan


def test_top_categories_are_the_most_frequent_keys_ties_by_key(spark):
    from glue.fraud_etl import top_categories

    rng = random.Random(7)
    card4 = [
        rng.choice(["visa", "visa", "mastercard", "amex", "discover", None]) for _ in range(400)
    ]
    product = [rng.choice(["W", "C", "R", "H", "S"]) for _ in range(400)]
    frame = spark.createDataFrame(
        list(zip(card4, product, strict=True)), "__k0 string, __k1 string"
    )
    top = top_categories(frame, {"card4": "__k0", "ProductCD": "__k1"}, ["card4", "ProductCD"], 3)

    def expected(values):
        counts = Counter(v for v in values if v is not None)
        return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]

    assert top == {"card4": expected(card4), "ProductCD": expected(product)}


def test_entity_vectors_are_encoded_by_the_executors_as_the_python_encoder_does(spark):
    from glue.fraud_etl import encode_entity_nodes
    from vigil.fraud import schema

    rng = np.random.default_rng(3)
    sums = rng.normal(size=(50, 4)) * 1e3
    rows = [
        ("card1", str(1000 + i), i + 1, 86_400 + 60 * i, *map(float, sums[i]))
        for i in range(len(sums))
    ]
    frame = spark.createDataFrame(
        rows,
        "__column string, __key string, __degree long, __first_dt long, f_0 double, "
        "f_1 double, f_2 double, f_3 double",
    ).repartition(3)
    nodes = {
        r["key"]: r for r in encode_entity_nodes(frame, ["f_0", "f_1", "f_2", "f_3"]).collect()
    }
    assert len(nodes) == 50
    for i in range(50):
        node = nodes[str(1000 + i)]
        assert node["id"] == schema.entity_node_id("card1", str(1000 + i))
        assert node["label"] == schema.entity_label("card1") and node["degree"] == i + 1
        assert node["first_dt"] == 86_400 + 60 * i  # the entity's earliest TransactionDT
        np.testing.assert_array_equal(
            decode_vector(node["feat_sum"], 4), sums[i].astype(np.float32)
        )
