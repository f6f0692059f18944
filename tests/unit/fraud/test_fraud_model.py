"""The RGCN: training on an easy structural signal, exact single-target scoring, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from tests.unit.fraud.synthetic import easy_graph
from vigil.fraud.model import FraudModelBundle, FraudRGCN, RGCNConfig
from vigil.fraud.training import fit, offline_scores, parse_args

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained():
    data = easy_graph(n=900, seed=1)
    args = parse_args(
        ["--train", "unused", "--n-epochs", "25", "--patience", "25", "--num-threads", "1",
         "--n-hidden", "16", "--embedding-size", "8", "--lr", "0.02"]
    )  # fmt: skip
    model, graph, history = fit(data, args, log=lambda line: None)
    return data, model, graph, history


def _contexts(data, model_features, targets, unseen_type=None):
    """Each target's graph context the way serving gets it: entity index + neighbour mean."""
    contexts = []
    for t in targets:
        context = {}
        for etype, (tx, ent) in data.edges.items():
            entries = []
            for e in ent[tx == t]:
                mean = model_features[tx[ent == e]].mean(dim=0)
                entries.append((None if etype == unseen_type else int(e), mean))
            context[etype] = entries
        contexts.append(context)
    return contexts


def test_loss_falls_and_auc_beats_chance(trained):
    data, model, graph, history = trained
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    probs = offline_scores(model, graph, data)
    test = data.mask("test")
    assert roc_auc_score(data.labels[test], probs[test]) > 0.8


def test_single_target_scoring_equals_full_graph_inference(trained):
    data, model, graph, _ = trained
    x = torch.from_numpy(data.features)
    offline = offline_scores(model, graph, data)
    targets = list(range(0, 900, 90))
    online = model.score_targets(x[targets], _contexts(data, x, targets)).numpy()
    np.testing.assert_allclose(online, offline[targets], atol=1e-5)


def test_serving_weights_follow_parameter_changes(trained):
    """score_targets caches stacked weights; an in-place update (an optimizer step, a state-dict
    load) must be seen by the next call, exactly as a fresh model with those weights sees it."""
    data, model, _, _ = trained
    x = torch.from_numpy(data.features)
    contexts = _contexts(data, x, [0, 1, 2])
    changed = FraudRGCN(model.config)
    changed.load_state_dict(model.state_dict())
    before = changed.score_targets(x[:3], contexts)
    with torch.no_grad():
        next(iter(changed.layers[0].weight.values())).mul_(3.0)
    after = changed.score_targets(x[:3], contexts)
    fresh = FraudRGCN(model.config)
    fresh.load_state_dict(changed.state_dict())
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, fresh.score_targets(x[:3], contexts))


def test_unknown_entities_use_the_type_mean_embedding(trained):
    data, model, _, _ = trained
    known = model.known("card1")
    assert known.any() and not known.all()  # some cards touch no training transaction
    unknown_index = int(torch.nonzero(~known)[0])
    row = model.entity_input("card1", torch.tensor([unknown_index]))[0]
    torch.testing.assert_close(row, model.mean_embedding("card1"))
    x = torch.from_numpy(data.features)
    by_none = model.score_targets(x[:3], _contexts(data, x, [0, 1, 2], unseen_type="card1"))
    t = 0
    manual = _contexts(data, x, [t])
    manual[0]["card1"] = [(None, mean) for _, mean in manual[0]["card1"]]
    assert float(by_none[0]) == pytest.approx(float(model.score_targets(x[:1], manual)[0]))


def test_mini_batch_mode_trains():
    data = easy_graph(n=600, seed=2)
    args = parse_args(
        ["--train", "unused", "--n-epochs", "3", "--batch-size", "128", "--fanout", "4",
         "--num-threads", "1", "--n-hidden", "8", "--embedding-size", "4"]
    )  # fmt: skip
    model, graph, history = fit(data, args, log=lambda line: None)
    assert len(history["loss"]) == 3 and all(np.isfinite(history["loss"]))
    assert offline_scores(model, graph, data).shape == (600,)


def test_save_load_round_trip(trained, tmp_path):
    data, model, graph, _ = trained
    FraudModelBundle(model=model, entity_keys=data.entity_keys, metadata={"x": 1}).save(tmp_path)
    loaded = FraudModelBundle.load(tmp_path)
    assert loaded.metadata["x"] == 1 and loaded.entity_keys == data.entity_keys
    assert loaded.index_of("card1", "3") == 3 and loaded.index_of("card1", "nope") is None
    x = torch.from_numpy(data.features)
    np.testing.assert_allclose(
        loaded.model.inference(graph, x).numpy(), offline_scores(model, graph, data), atol=1e-6
    )
    assert torch.equal(loaded.model.known("card1"), model.known("card1"))


def test_one_layer_model_scores_match_and_three_layers_refuse_serving():
    data = easy_graph(n=300, seed=3)
    counts = {t: len(k) for t, k in data.entity_keys.items()}
    graph, x = data.build_graph(), torch.from_numpy(data.features)
    one = FraudRGCN(RGCNConfig(in_dim=x.shape[1], entity_counts=counts, n_layers=1))
    online = one.score_targets(x[:5], _contexts(data, x, range(5))).numpy()
    np.testing.assert_allclose(online, one.inference(graph, x).numpy()[:5], atol=1e-5)
    three = FraudRGCN(RGCNConfig(in_dim=x.shape[1], entity_counts=counts, n_layers=3))
    assert three.inference(graph, x).shape == (300,)
    with pytest.raises(ValueError, match="1 or 2 layers"):
        three.score_targets(x[:1], [{}])


def test_feature_only_entity_inputs_use_no_id_embedding():
    data = easy_graph(n=300, seed=4)
    args = parse_args(
        ["--train", "unused", "--n-epochs", "2", "--num-threads", "1", "--n-hidden", "8",
         "--embedding-size", "4", "--entity-input", "features"]
    )  # fmt: skip
    model, _, _ = fit(data, args, log=lambda line: None)
    for etype in data.entity_types:
        assert not model.known(etype).any()
        assert torch.count_nonzero(model.entity_input(etype)) == 0
    with pytest.raises(SystemExit):
        parse_args(["--train", "unused", "--entity-input", "ids"])
