"""The graph-feature GBDT and the explanations: trees exported exactly, online = offline through
the inference hooks, the dense batch path = the per-target path, contributions that add up."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from inference.fraud import inference
from tests.unit.fraud.synthetic import easy_graph
from vigil.fraud.calibration import PlattCalibration
from vigil.fraud.context import densify
from vigil.fraud.features import encode_vector
from vigil.fraud.graph_gbdt import GraphGBDTConfig, fit_graph_gbdt, offline_design
from vigil.fraud.model import FraudModelBundle, FraudRGCN, RGCNConfig
from vigil.fraud.serving import FRESH_ENTITY
from vigil.fraud.training import entity_label_counts

CALIBRATION = PlattCalibration(a=0.8, b=-0.3)


@pytest.fixture(scope="module")
def gbdt(tmp_path_factory):
    data = easy_graph(n=900, seed=3)
    config = GraphGBDTConfig(in_dim=6, entity_types=data.entity_types, max_iter=40)
    model, rows, classifier = fit_graph_gbdt(data, config, log=lambda line: None)
    model_dir = tmp_path_factory.mktemp("gbdt")
    FraudModelBundle(
        model=model,
        entity_keys=data.entity_keys,
        calibration=CALIBRATION.to_dict(),
        threshold=0.25,
        entity_labels=entity_label_counts(data),
    ).save(model_dir)
    return data, model, rows, classifier, inference.model_fn(str(model_dir))


def _etl_state(data, etype, t):
    """The entity's graph state as the ETL bulk-loads it: float64 sum kept as float32."""
    tx, ent = data.edges[etype]
    e = int(ent[tx == t][0])
    members = tx[ent == e]
    total = data.features[members].astype(np.float64).sum(axis=0).astype(np.float32)
    return {"key": data.entity_keys[etype][e], "feat_sum": encode_vector(total.tolist()),
            "degree": len(members)}  # fmt: skip


def _invoke(predictor, payload):
    data = inference.input_fn(json.dumps(payload), "application/json")
    text, _ = inference.output_fn(inference.predict_fn(data, predictor), "application/json")
    return json.loads(text)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_exported_trees_score_exactly_as_scikit_learn(gbdt):
    _, model, rows, classifier, _ = gbdt
    ours = model.trees.raw(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(ours, classifier.decision_function(rows), rtol=0, atol=1e-12)
    with_missing = rows[:50].copy()
    with_missing[:, 6:] = np.nan  # no entities at all: the trees' missing-value branches
    np.testing.assert_allclose(
        model.trees.raw(torch.from_numpy(with_missing)).numpy(),
        classifier.decision_function(with_missing),
        atol=1e-12,
    )


def test_compiled_and_torch_tree_walks_agree(gbdt):
    _, model, rows, _, _ = gbdt
    with_missing = rows.copy()
    with_missing[::3, 6:] = np.nan
    for batch in (rows, with_missing):
        tensor = torch.from_numpy(batch)
        np.testing.assert_allclose(
            model.trees.raw(tensor).numpy(),
            model.trees._raw_torch(tensor).numpy(),
            rtol=0,
            atol=1e-12,
        )
    assert model.trees.raw(torch.from_numpy(rows[:0])).shape == (0,)


def test_online_answer_equals_offline_score_through_the_inference_hooks(gbdt):
    data, model, rows, _, predictor = gbdt
    offline = model.trees.raw(torch.from_numpy(rows)).numpy()
    targets = list(range(0, 900, 7))
    instances = [
        {"id": int(data.transaction_ids[t]), "features": data.features[t].tolist(),
         "entities": {e: _etl_state(data, e, t) for e in data.entity_types}}
        for t in targets
    ]  # fmt: skip
    answer = _invoke(predictor, {"instances": instances})
    online = [p["pred_prob"] for p in answer["predictions"]]
    expected = [CALIBRATION.prob(float(offline[t])) for t in targets]
    assert max(abs(a - b) for a, b in zip(online, expected, strict=True)) <= 1e-12
    assert {p["threshold"] for p in answer["predictions"]} == {0.25}


def test_an_entity_without_state_is_a_fresh_one(gbdt):
    data, model, _, _, predictor = gbdt
    x = data.features[10]
    answer = _invoke(predictor, {"features": x.tolist(), "entities": {"card1": {"key": "new"}}})
    row = np.full(len(offline_design(data)[0]), np.nan)
    row[:6] = x
    row[6:12], row[12], row[13] = x, 1.0, 1.0  # card1: its only transaction is the target
    expected = CALIBRATION.prob(float(model.trees.raw(torch.from_numpy(row[None]))[0]))
    assert answer["pred_prob"] == pytest.approx(expected, abs=1e-12)
    assert answer["unseen_entities"] == ["card1"]


def test_dense_batch_rows_equal_per_target_rows(gbdt):
    data, model, rows, _, _ = gbdt
    x = torch.from_numpy(data.features)
    contexts = []
    for t in range(0, 900, 11):
        context = {}
        for etype in data.entity_types:
            state = _etl_state(data, etype, t)
            total = torch.tensor(np.frombuffer(_decode(state["feat_sum"]), dtype="<f4").copy())
            context[etype] = [(0, total / state["degree"], state["degree"])]
        contexts.append(context)
    targets = list(range(0, 900, 11))
    dense = model.dense_rows(x[targets], densify(contexts, data.entity_types, 6))
    torch.testing.assert_close(dense, model.design_rows(x[targets], contexts), equal_nan=True)
    np.testing.assert_array_equal(dense.numpy(), rows[targets])


def _decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def test_explanation_adds_up_and_each_contribution_is_the_fresh_entity_difference(gbdt):
    data, model, _, _, predictor = gbdt
    t = 123
    payload = {"features": data.features[t].tolist(), "explain": True,
               "entities": {e: _etl_state(data, e, t) for e in data.entity_types}}  # fmt: skip
    answer = _invoke(predictor, payload)
    explanation = answer["explanation"]
    entities = explanation["entities"]
    total = explanation["base_logit"] + sum(e["contribution"] for e in entities)
    assert total + explanation["interaction"] == pytest.approx(_logit(answer["pred_prob"]))
    x = torch.from_numpy(data.features[t : t + 1])
    context = predictor.parse_instance(payload, None).context
    for entity in entities:
        changed = dict(context) | {entity["type"]: [FRESH_ENTITY]}
        without = CALIBRATION.logit(float(model.logits(x, [changed])[0]))
        assert entity["contribution"] == pytest.approx(_logit(answer["pred_prob"]) - without)
        tx, ent = data.edges[entity["type"]]
        index = data.entity_keys[entity["type"]].index(entity["key"])
        labelled = (ent == index) & (data.split[tx] == "train")
        assert entity["labelled"] == int(labelled.sum())
        frauds = int((data.labels[tx[labelled]] == 1).sum())
        assert entity["fraud_share"] == (frauds / labelled.sum() if labelled.sum() else None)
        assert entity["degree"] == int((ent == index).sum())
    assert [abs(e["contribution"]) for e in entities] == sorted(
        (abs(e["contribution"]) for e in entities), reverse=True
    )


def test_with_one_entity_the_interaction_is_zero_and_without_explain_nothing_is_added(gbdt):
    data, _, _, _, predictor = gbdt
    payload = {"features": data.features[5].tolist(), "explain": True,
               "entities": {"card1": _etl_state(data, "card1", 5)}}  # fmt: skip
    explanation = _invoke(predictor, payload)["explanation"]
    assert explanation["interaction"] == pytest.approx(0.0, abs=1e-12)
    assert len(explanation["entities"]) == 1
    assert "explanation" not in _invoke(predictor, payload | {"explain": False})


def test_explain_must_be_a_boolean(gbdt):
    from vigil.serving_errors import BadRequest

    *_, predictor = gbdt
    with pytest.raises(BadRequest, match="explain must be true or false"):
        _invoke(predictor, {"features": [0.0] * 6, "explain": "yes"})


def test_rgcn_batch_path_equals_its_per_target_path():
    data = easy_graph(n=300, seed=2)
    torch.manual_seed(0)
    counts = {t: len(k) for t, k in data.entity_keys.items()}
    model = FraudRGCN(RGCNConfig(in_dim=6, entity_counts=counts, dropout=0.0))
    model.set_known(data.known_entities("train"))
    x = torch.from_numpy(data.features)
    rng = np.random.default_rng(0)
    contexts = []
    for _ in range(40):
        context = {}
        for etype in data.entity_types:
            mean = torch.from_numpy(rng.normal(size=6).astype(np.float32))
            index = None if rng.random() < 0.3 else int(rng.integers(len(data.entity_keys[etype])))
            context[etype] = [] if rng.random() < 0.2 else [(index, mean, 3)]
        contexts.append(context)
    batch = model.logits(x[:40], contexts)
    # the same entity twice forces the per-target path and changes no mean
    doubled = [{t: e * 2 for t, e in c.items()} for c in contexts]
    torch.testing.assert_close(batch, model.logits(x[:40], doubled), atol=1e-5, rtol=0)
