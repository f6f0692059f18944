"""The scoring path end to end on the real pipeline's artifacts: parity, freshness, idempotency.

One module-scoped pipeline: generated transactions → the Spark ETL (glue/fraud_etl.py) → RGCN
training (training/fraud/train.py) → the Neptune stand-in loaded from the ETL's bulk-load files
(its own process) → the real SageMaker serving stack behind the runtime proxy. Every test calls
the scoring code as the Lambda does (boto3 clients from the environment).
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from aws_lambda_powertools import Metrics

from local.standins.fraud_scoring import local_scoring
from local.standins.fraud_training import (
    STREAM_ID_OFFSET,
    offline_test_scores,
    run_etl,
    train_model,
)
from vigil.fraud import datagen, schema
from vigil.fraud.scoring import Scorer, ScoringConfig, handle_event, transaction_event

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TRANSACTIONS = int(os.environ.get("VIGIL_FRAUD_IT_TRANSACTIONS", 1500))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("fraud_scoring")
    data = datagen.generate(TRANSACTIONS, seed=5)
    datagen.write(data, root / "raw")
    run_etl(root / "raw", root / "processed", master="local[1]")
    model_dir = train_model(root / "processed", root / "model", epochs=25)
    rows = data.transactions.merge(data.identity, on=schema.ID_COLUMN, how="left")
    return {
        "root": root,
        "rows": {int(r[schema.ID_COLUMN]): r for r in rows.to_dict("records")},
        "model_dir": model_dir,
        "offline": offline_test_scores(model_dir),
        "featurizer": root / "processed" / schema.FEATURIZER_FILE,
    }


@pytest.fixture(scope="module")
def local(pipeline):
    with local_scoring(
        bulk_dir=pipeline["root"] / "processed" / schema.NEPTUNE_FOLDER,
        model_dir=pipeline["model_dir"],
        featurizer=pipeline["featurizer"],
        settings={"HUB_DEGREE_THRESHOLD": "100000"},
    ) as running:
        yield running


@pytest.fixture
def scorer(local, monkeypatch) -> Scorer:
    for name, value in local.environment.items():
        monkeypatch.setenv(name, value)
    from vigil.aws import reset_clients

    reset_clients()
    return Scorer(ScoringConfig.from_environment())


def _metric(metrics, name) -> float:
    return sum(metrics.metric_set.get(name, {}).get("Value", []))


def test_online_scores_equal_offline_full_graph_inference(pipeline, scorer):
    offline = pipeline["offline"]
    assert len(offline) >= 100
    diffs = {}
    for tid, expected in offline.items():
        answer = scorer.score(transaction_event(pipeline["rows"][int(tid)]))
        assert answer.fallback is None, answer
        diffs[tid] = abs(answer.pred_prob - expected)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= 1e-4, (worst, diffs[worst])


def test_a_replay_returns_the_first_answer_and_writes_nothing(pipeline, scorer, local):
    row = dict(next(iter(pipeline["rows"].values())))
    row[schema.ID_COLUMN] = STREAM_ID_OFFSET + 1
    event = transaction_event(row)
    first = scorer.score(event)
    assert first.fallback is None and 0.0 <= first.pred_prob <= 1.0
    degrees = _entity_degrees(scorer, event)
    again = scorer.score({**event, "TransactionAmt": 9999.0})  # same id, different payload
    assert again.body() == first.body() and again.replay
    assert _entity_degrees(scorer, event) == degrees
    count = scorer.graph.execute(
        "MATCH (t:Transaction {id: $id})-[r]->() RETURN count(r) AS n", {"id": first.id}
    )
    assert count[0]["n"] == len(scorer.graph.entity_keys(event))


def test_a_new_transaction_updates_its_card_and_only_links_its_product_code(pipeline, scorer):
    row = dict(next(iter(pipeline["rows"].values())))
    row[schema.ID_COLUMN] = STREAM_ID_OFFSET + 2
    event = transaction_event(row)
    keys = scorer.graph.entity_keys(event)
    before = {e.column: e for e in scorer.graph.read("none", keys).entities}
    assert before["card1"].exists and before["ProductCD"].exists
    assert "ProductCD" in scorer.config.link_only_columns
    answer = scorer.score(event)
    assert answer.fallback is None
    after = {e.column: e for e in scorer.graph.read("none", keys).entities}
    assert after["card1"].degree == before["card1"].degree + 1
    assert after["card1"].feat_sum != before["card1"].feat_sum
    assert after["ProductCD"] == before["ProductCD"]  # a category: not written online
    linked = scorer.graph.execute(
        "MATCH (t:Transaction {id: $id})-[:USES_PRODUCTCD]->(e:ProductCD) RETURN e.key AS k",
        {"id": answer.id},
    )
    assert linked == [{"k": before["ProductCD"].key}]


def _entity_degrees(scorer, event) -> list[int]:
    read = scorer.graph.read("none", scorer.graph.entity_keys(event))
    return [e.degree for e in read.entities]


def test_fraud_on_a_new_device_raises_the_next_score_on_it(pipeline, scorer):
    rows = pipeline["rows"]
    # known fraud: labelled fraud transactions of the graph that the model recognises as fraud
    scored = [
        (scorer.score(transaction_event(row)).pred_prob, tid)
        for tid, row in rows.items()
        if row[schema.LABEL_COLUMN] == 1
    ]
    known_fraud = [tid for prob, tid in sorted(scored, reverse=True)[:8] if prob >= 0.5]
    assert len(known_fraud) >= 3, sorted(scored, reverse=True)[:8]
    # next transactions: legit ones that would pass on a device never seen (score < 0.5)
    compared = 0
    for n, base_id in enumerate(t for t, r in rows.items() if r[schema.LABEL_COLUMN] == 0):
        if compared == 3 or n == 40:
            break
        base = {**rows[base_id], schema.ID_COLUMN: STREAM_ID_OFFSET + 10_000 + 1000 * n + 500}
        on_fresh_device = scorer.score(
            transaction_event({**base, "DeviceInfo": f"never-seen-device-{n}"})
        )
        if on_fresh_device.pred_prob >= 0.5:
            continue
        device = f"brand-new-device-{n}"
        for i, tid in enumerate(known_fraud):
            inserted = {**rows[tid], schema.ID_COLUMN: STREAM_ID_OFFSET + 10_000 + 1000 * n + i}
            assert (
                scorer.score(transaction_event({**inserted, "DeviceInfo": device})).fallback is None
            )
        base[schema.ID_COLUMN] += 1
        on_ring_device = scorer.score(transaction_event({**base, "DeviceInfo": device}))
        assert on_ring_device.pred_prob > on_fresh_device.pred_prob, (
            base_id,
            on_ring_device,
            on_fresh_device,
        )
        compared += 1
    assert compared == 3


def test_an_endpoint_hiccup_is_retried_and_scored(pipeline, scorer, local):
    metrics = Metrics(namespace="VigilTests", service="it")
    metrics.clear_metrics()
    row = {**next(iter(pipeline["rows"].values())), schema.ID_COLUMN: STREAM_ID_OFFSET + 300}
    local.proxy.inject_faults(status=503, code="ServiceUnavailable", count=1)
    answer = scorer.score(transaction_event(row), metrics)
    assert answer.fallback is None and answer.pred_prob is not None
    assert _metric(metrics, "EndpointRetry") == 1
    metrics.clear_metrics()


def test_the_api_event_round_trip(pipeline, scorer):
    row = {**next(iter(pipeline["rows"].values())), schema.ID_COLUMN: STREAM_ID_OFFSET + 400}
    event = {
        "httpMethod": "POST",
        "requestContext": {"requestId": "it"},
        "body": json.dumps(transaction_event(row)),
    }
    response = handle_event(event, lambda: scorer)
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert set(body) == {"id", "flag", "pred_prob"}
    # no FRAUD_THRESHOLD here: the model's own operating threshold decides
    threshold = json.loads((pipeline["model_dir"] / "model_config.json").read_text())["threshold"]
    assert body["flag"] == ("fraud" if body["pred_prob"] >= threshold else "legit")
    assert pd.notna(body["pred_prob"])


def test_batch_scoring_equals_the_online_answers_and_rejects_bad_rows(pipeline, scorer):
    from vigil.fraud.batch_scoring import BatchScorer

    batch = BatchScorer.load(pipeline["model_dir"], pipeline["root"] / "processed")
    ids = sorted(pipeline["offline"], key=int)[:80]  # in the graph, scored online above
    events = [transaction_event(pipeline["rows"][int(tid)]) for tid in ids]
    bad = [{schema.ID_COLUMN: "not-an-id"}, dict(events[0])]  # unparseable id, duplicate
    scores, rejects = batch.score([*events, *bad])
    assert [s[schema.ID_COLUMN] for s in scores] == ids
    assert [(r["row"], r["reason"]) for r in rejects] == [
        (len(ids) + 1, "TransactionID is not an integer"),
        (len(ids) + 2, "duplicate TransactionID (first occurrence scored)"),
    ]
    worst = 0.0
    for event, row in zip(events, scores, strict=True):
        online = scorer.score(event)
        assert online.fallback is None
        worst = max(worst, abs(online.pred_prob - row["pred_prob"]))
        assert online.flag == row["flag"]
    assert worst <= 1e-4
