"""The inference entry point's hooks in-process, and malformed requests → 4xx errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inference.fraud import inference
from tests.unit.fraud.synthetic import easy_graph
from vigil.fraud.features import (
    CategoricalFeature,
    Featurizer,
    FeaturizerSpec,
    NumericFeature,
    encode_vector,
)
from vigil.fraud.model import FraudModelBundle, FraudRGCN, RGCNConfig
from vigil.serving_errors import BadRequest

SPEC = FeaturizerSpec(
    numeric=[NumericFeature(f"x{i}", mean=0.0, std=1.0) for i in range(5)],
    categorical=[CategoricalFeature("ProductCD", ["W"])],
    entity_columns=["card1", "DeviceInfo"],
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = easy_graph(n=300, seed=5)
    torch.manual_seed(0)
    model = FraudRGCN(
        RGCNConfig(
            in_dim=6, entity_counts={t: len(k) for t, k in data.entity_keys.items()}, dropout=0.0
        )
    )
    model.set_known(data.known_entities("train"))
    model_dir = tmp_path_factory.mktemp("model")
    FraudModelBundle(model=model, entity_keys=data.entity_keys, featurizer=SPEC.to_dict()).save(
        model_dir
    )
    return data, model, inference.model_fn(str(model_dir))


def _entity_state(data, etype, t):
    tx, ent = data.edges[etype]
    e = int(ent[tx == t][0])
    members = tx[ent == e]
    return {
        "key": data.entity_keys[etype][e],
        "feat_sum": encode_vector(data.features[members].sum(axis=0).tolist()),
        "degree": len(members),
    }


def _invoke(predictor, payload, content_type="application/json"):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    data = inference.input_fn(body, content_type)
    text, accept = inference.output_fn(inference.predict_fn(data, predictor), "application/json")
    assert accept == "application/json"
    return json.loads(text)


def test_hooks_answer_the_full_graph_probability(served):
    data, model, predictor = served
    offline = model.inference(data.build_graph(), torch.from_numpy(data.features)).numpy()
    instances = [
        {
            "id": int(data.transaction_ids[t]),
            "features": data.features[t].tolist(),
            "entities": {e: _entity_state(data, e, t) for e in data.entity_keys},
        }
        for t in (0, 7, 123)
    ]
    answer = _invoke(predictor, {"instances": instances})
    probs = [p["pred_prob"] for p in answer["predictions"]]
    np.testing.assert_allclose(probs, offline[[0, 7, 123]], atol=1e-5)
    single = _invoke(predictor, instances[1])
    assert single["id"] == instances[1]["id"]
    assert single["pred_prob"] == pytest.approx(float(offline[7]), abs=1e-5)


def test_raw_transaction_and_unseen_entities(served):
    _, model, predictor = served
    raw = {"x0": "1.5", "x1": 2, "ProductCD": "W", "card1": "999999", "DeviceInfo": "dev-3"}
    answer = _invoke(predictor, {"id": "a", "transaction": raw})
    assert answer["unseen_entities"] == ["card1"]  # dev-3 is known, card1 999999 is not
    x = torch.tensor([Featurizer(SPEC).transform(raw)])
    expected = model.score_targets(x, [{"card1": [(None, None)], "DeviceInfo": [(3, None)]}])
    assert answer["pred_prob"] == pytest.approx(float(expected[0]), abs=1e-6)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"instances": []}, "non-empty list"),
        ({"id": 1}, "needs 'transaction'"),
        ({"features": [1.0, 2.0]}, "expected 6"),
        ({"features": [1, 2, 3, 4, 5, "x"]}, "finite numbers"),
        ({"features": [0] * 6, "entities": {"nope": None}}, "unknown entity type"),
        ({"features": [0] * 6, "entities": {"card1": {"feat_sum": "AAAA"}}}, "'key'"),
        (
            {
                "features": [0] * 6,
                "entities": {"card1": {"key": "1", "feat_sum": "AAAAAAAAAAA=", "degree": 1}},
            },
            "expected 6",
        ),
        (
            {"features": [0] * 6, "entities": {"card1": {"key": "1", "feat_sum": [0] * 6}}},
            "degree must be a positive integer",
        ),
        ({"features": [0] * 6, "colour": "red"}, "unknown field"),
    ],
)
def test_malformed_requests_raise_bad_request(served, payload, message):
    _, _, predictor = served
    with pytest.raises(BadRequest, match=message) as error:
        _invoke(predictor, payload)
    assert error.value.status_code == 400


def test_wrong_content_type_is_415(served):
    with pytest.raises(BadRequest) as error:
        inference.input_fn(b"a,b", "text/csv")
    assert error.value.status_code == 415
