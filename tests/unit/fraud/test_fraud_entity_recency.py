"""Entity recency: each entity's earliest TransactionDT (``first_dt``) kept exactly by the
scoring path's one read and one write, and the graph-feature GBDT's age column computed the same
way online (requests as the scoring Lambda and the ETL-state builders send them) and offline."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from inference.fraud import inference
from local.standins.neptune_standin import GraphEngine, NeptuneStandin
from tests.unit.fraud.synthetic import easy_graph
from vigil import aws
from vigil.fraud import schema
from vigil.fraud.calibration import PlattCalibration
from vigil.fraud.context import densify
from vigil.fraud.features import encode_vector
from vigil.fraud.graph import EntityState, FraudGraph, graph_layout
from vigil.fraud.graph_gbdt import GraphGBDTConfig, fit_graph_gbdt, offline_design
from vigil.fraud.model import FraudModelBundle
from vigil.fraud.scoring.scorer import first_seen
from vigil.fraud.training import entity_label_counts, offline_dense

CALIBRATION = PlattCalibration(a=1.0, b=0.0)


# --- the graph keeps the minimum ------------------------------------------------------------------
@pytest.fixture(scope="module")
def standin():
    server = NeptuneStandin(GraphEngine(graph_layout())).serve_in_thread()
    yield server
    server.stop()


@pytest.fixture
def graph(standin) -> FraudGraph:
    client = aws.client("neptunedata", endpoint_url=standin.endpoint_url, max_attempts=0)
    return FraudGraph(client)


def _insert(graph: FraudGraph, tid: str, dt: int | None, **row) -> list[EntityState]:
    keys = graph.entity_keys(row)
    read = graph.read(tid, keys)
    updates = [(s, encode_vector([1.0])) for s in read.entities]
    assert graph.insert(tid, dt, updates, pred_prob=0.1, flag="legit")
    return list(graph.read(tid, keys).entities)


def test_first_dt_is_the_earliest_time_whatever_the_arrival_order(graph):
    (card,) = _insert(graph, "r-1", 5_000, card1="recency-card")
    assert card.first_dt == 5_000  # a new entity: first seen with this transaction
    (card,) = _insert(graph, "r-2", 9_000, card1="recency-card")
    assert card.first_dt == 5_000  # a later transaction keeps it
    (card,) = _insert(graph, "r-3", 1_000, card1="recency-card")  # arrives late, happened first
    assert (card.first_dt, card.degree) == (1_000, 3)


def test_a_transaction_without_time_moves_no_first_dt(graph):
    (card,) = _insert(graph, "r-4", None, card1="recency-untimed")
    assert card.first_dt is None  # not known: the trees' missing branch, never a made-up 0
    (card,) = _insert(graph, "r-5", 7_000, card1="recency-untimed")
    assert card.first_dt is None  # an unknown first_dt is not this entity's first
    (card,) = _insert(graph, "r-6", 3_000, card1="recency-timed")
    (card,) = _insert(graph, "r-7", None, card1="recency-timed")
    assert (card.first_dt, card.degree) == (3_000, 2)
    # a small time (ladybug binds it as a narrower integer than the stored 64-bit one)
    (card,) = _insert(graph, "r-8", 100, card1="recency-timed")
    assert card.first_dt == 100
    (card,) = _insert(graph, "r-9", 2**40, card1="recency-timed")
    assert card.first_dt == 100


def test_the_scorer_sends_the_state_the_insert_will_store():
    stored = EntityState("card1", "k", "AAAA", 3, first_dt=1_000)
    assert first_seen(stored, 5_000) == 1_000
    assert first_seen(stored, 500) == 500
    assert first_seen(stored, None) == 1_000
    new = EntityState("card1", "k", None, 0)
    assert first_seen(new, 5_000) == 5_000
    assert first_seen(EntityState("card1", "k", "AAAA", 3, first_dt=None), 5_000) is None
    assert schema.entity_age(5_000, 1_000) == 4_000.0
    assert schema.entity_age(None, 1_000) is None and schema.entity_age(5_000, None) is None


# --- the GBDT's age column: online = offline ------------------------------------------------------
@pytest.fixture(scope="module")
def gbdt(tmp_path_factory):
    data = easy_graph(n=900, seed=4)
    rng = np.random.default_rng(4)
    data.transaction_dt = rng.integers(86_400, 86_400 * 60, len(data.transaction_ids))
    config = GraphGBDTConfig(in_dim=6, entity_types=data.entity_types, max_iter=40, recency=True)
    model, rows, _ = fit_graph_gbdt(data, config, log=lambda line: None)
    model_dir = tmp_path_factory.mktemp("gbdt-recency")
    FraudModelBundle(
        model=model,
        entity_keys=data.entity_keys,
        calibration=CALIBRATION.to_dict(),
        threshold=0.5,
        entity_labels=entity_label_counts(data),
    ).save(model_dir)
    return data, model, rows, inference.model_fn(str(model_dir))


def _invoke(predictor, payload):
    data = inference.input_fn(json.dumps(payload), "application/json")
    text, _ = inference.output_fn(inference.predict_fn(data, predictor), "application/json")
    return json.loads(text)


def _etl_state(data, etype, t):
    """The entity's bulk-loaded state: float64 sum kept as float32, degree, earliest time."""
    tx, ent = data.edges[etype]
    e = int(ent[tx == t][0])
    members = tx[ent == e]
    total = data.features[members].astype(np.float64).sum(axis=0).astype(np.float32)
    return {
        "key": data.entity_keys[etype][e],
        "feat_sum": encode_vector(total.tolist()),
        "degree": len(members),
        "first_dt": int(data.transaction_dt[members].min()),
    }


def test_offline_age_column_is_time_since_the_entity_was_first_seen(gbdt):
    data, _, rows, _ = gbdt
    tx, ent = data.edges["card1"]
    t = int(tx[0])
    first = data.transaction_dt[tx[ent == ent[0]]].min()
    age_column = 6 + data.entity_types.index("card1") * (6 + 3) + 6 + 2
    assert rows[t, age_column] == data.transaction_dt[t] - first
    assert (rows[:, age_column][~np.isnan(rows[:, age_column])] >= 0).all()


@pytest.mark.parametrize("sent", ["age", "first_dt"])
def test_online_answer_equals_offline_score(gbdt, sent):
    """``age`` as the scoring Lambda sends it; ``first_dt`` with the raw TransactionDT as a
    request built from the bulk-load files sends it."""
    data, model, rows, predictor = gbdt
    offline = model.trees.raw(torch.from_numpy(rows)).numpy()
    targets = list(range(0, 900, 9))
    instances = []
    for t in targets:
        dt = int(data.transaction_dt[t])
        entities = {}
        for etype in data.entity_types:
            state = _etl_state(data, etype, t)
            if sent == "age":
                state["age"] = schema.entity_age(dt, state.pop("first_dt"))
            entities[etype] = state
        instance = {"id": t, "features": data.features[t].tolist(), "entities": entities}
        if sent == "first_dt":
            instance["transaction"] = {schema.TIME_COLUMN: dt}
        instances.append(instance)
    answer = _invoke(predictor, {"instances": instances})
    online = [p["pred_prob"] for p in answer["predictions"]]
    expected = [CALIBRATION.prob(float(offline[t])) for t in targets]
    assert max(abs(a - b) for a, b in zip(online, expected, strict=True)) <= 1e-12


def test_the_dense_batch_path_and_the_offline_contexts_agree(gbdt):
    data, model, rows, _ = gbdt
    targets = np.arange(0, 900, 13)
    dense = offline_dense(data, targets)
    x = torch.from_numpy(data.features[targets])
    np.testing.assert_array_equal(model.dense_rows(x, dense).numpy(), rows[targets])
    # the same contexts as per-target tuples, through densify, give the same rows
    contexts = []
    for j in range(len(targets)):
        context = {}
        for k, etype in enumerate(data.entity_types):
            if dense.present[j, k]:
                entity = (0, dense.mean[j, k], float(dense.degree[j, k]), float(dense.age[j, k]))
                context[etype] = [entity]
        contexts.append(context)
    again = densify(contexts, data.entity_types, 6)
    torch.testing.assert_close(model.dense_rows(x, again), model.design_rows(x, contexts))


def test_fresh_and_unknown_ages(gbdt):
    data, model, _, predictor = gbdt
    x = data.features[10]
    width = len(offline_design(data, recency=True)[0])
    age_at = 6 + 6 + 2  # card1 is the first type: mean (6), degree, count, age
    assert data.entity_types[0] == "card1"

    def expected(age: float) -> float:
        row = np.full(width, np.nan)
        row[:6] = x
        row[6:12], row[12], row[13], row[age_at] = x, 1.0, 1.0, age
        return CALIBRATION.prob(float(model.trees.raw(torch.from_numpy(row[None]))[0]))

    # a key alone: a fresh entity, first seen with this transaction (age 0)
    fresh = _invoke(predictor, {"features": x.tolist(), "entities": {"card1": {"key": "new"}}})
    assert fresh["pred_prob"] == pytest.approx(expected(0.0), abs=1e-12)
    # a state without a first_dt (a graph bulk-loaded before entities kept one): unknown age
    state = {"key": "new", "feat_sum": encode_vector(x.tolist()), "degree": 1}
    unknown = _invoke(predictor, {"features": x.tolist(), "entities": {"card1": state}})
    assert unknown["pred_prob"] == pytest.approx(expected(math.nan), abs=1e-12)


@pytest.mark.parametrize("bad", [{"age": -1}, {"age": True}, {"age": "old"}, {"first_dt": 1.5}])
def test_a_bad_age_or_first_dt_is_a_clear_400(gbdt, bad):
    from vigil.serving_errors import BadRequest

    predictor = gbdt[3]

    state = {"key": "k", "feat_sum": encode_vector([0.0] * 6), "degree": 1, **bad}
    with pytest.raises(BadRequest, match=r"age|first_dt"):
        predictor.parse_body(
            json.dumps({"features": [0.0] * 6, "entities": {"card1": state}}), "application/json"
        )


# --- the RGCN's entity embeddings as GBDT columns --------------------------------------------------
def test_rgcn_embeddings_as_gbdt_columns_score_online_as_offline(tmp_path):
    from vigil.fraud.graph_gbdt import rgcn_embedding_tables
    from vigil.fraud.model import FraudRGCN, RGCNConfig

    data = easy_graph(n=600, seed=5)
    data.transaction_dt = np.arange(len(data.transaction_ids), dtype=np.int64) * 60
    torch.manual_seed(0)
    counts = {t: len(k) for t, k in data.entity_keys.items()}
    rgcn = FraudRGCN(RGCNConfig(in_dim=6, entity_counts=counts, embedding_size=4, dropout=0.0))
    known = data.known_entities("train")
    rgcn.set_known(known)
    tables = rgcn_embedding_tables(rgcn)
    card_mean = rgcn.mean_embedding("card1").double()
    unlearned = int(np.flatnonzero(~known["card1"])[0])
    assert tables["card1"].shape == (counts["card1"] + 1, 4)
    torch.testing.assert_close(tables["card1"][-1], card_mean)  # unseen and fresh entities
    torch.testing.assert_close(tables["card1"][unlearned], card_mean)  # never learned: the mean
    config = GraphGBDTConfig(
        in_dim=6, entity_types=data.entity_types, max_iter=30, recency=True, embedding_size=4
    )
    model, rows, _ = fit_graph_gbdt(data, config, log=lambda line: None, embeddings=tables)
    FraudModelBundle(
        model=model,
        entity_keys=data.entity_keys,
        calibration=CALIBRATION.to_dict(),
        threshold=0.5,
        entity_labels=entity_label_counts(data),
    ).save(tmp_path)
    predictor = inference.model_fn(str(tmp_path))  # the tables travel with the saved model
    offline = model.trees.raw(torch.from_numpy(rows)).numpy()
    targets = list(range(0, 600, 7))
    instances = [
        {"id": t, "features": data.features[t].tolist(), "transaction": {"TransactionDT": int(dt)},
         "entities": {e: _etl_state(data, e, t) for e in data.entity_types}}
        for t, dt in ((t, data.transaction_dt[t]) for t in targets)
    ]  # fmt: skip
    answer = _invoke(predictor, {"instances": instances})
    online = [p["pred_prob"] for p in answer["predictions"]]
    expected = [CALIBRATION.prob(float(offline[t])) for t in targets]
    assert max(abs(a - b) for a, b in zip(online, expected, strict=True)) <= 1e-12
    # the embedding columns are the entity's row of the table
    t = targets[1]
    card = int(data.edges["card1"][1][t])
    at = 6 + data.entity_types.index("card1") * config.block + 6 + 3
    np.testing.assert_array_equal(rows[t, at : at + 4], tables["card1"][card].numpy())
