"""Multi-worker RGCN training (vigil/fraud/distributed.py): two processes on CPU (DDP, gloo)
train on a tiny graph; rank 0's artefact loads and scores, and its validation ROC-AUC is close to
one process's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.fraud.synthetic import easy_graph
from vigil.fraud import distributed, schema, training

INFERENCE_ENTRY = Path(__file__).resolve().parents[3] / "inference" / "fraud" / "inference.py"


def test_each_epoch_deals_every_target_out_in_equal_shares():
    targets = np.arange(100, 203)  # 103 targets, 2 workers: 52 each, one repeated
    shares = [distributed.epoch_share(targets, 4, 0, rank, 2) for rank in range(2)]
    assert [len(s) for s in shares] == [52, 52]
    assert set(np.concatenate(shares)) == set(targets)
    again = distributed.epoch_share(targets, 4, 0, 0, 2)
    assert np.array_equal(shares[0], again)  # every worker computes the same deal
    assert not np.array_equal(shares[0], distributed.epoch_share(targets, 5, 0, 0, 2))


def test_workers_come_from_the_sagemaker_hosts_or_the_local_count():
    hosts = {"SM_HOSTS": json.dumps(["algo-2", "algo-1"]), "SM_CURRENT_HOST": "algo-2"}
    on_sagemaker = distributed.workers_from(1, hosts)
    assert (on_sagemaker.world_size, on_sagemaker.rank, on_sagemaker.master_addr) == (
        2,
        1,
        "algo-1",
    )
    assert not on_sagemaker.spawn_locally
    local = distributed.workers_from(3, {})
    assert (local.world_size, local.spawn_locally) == (3, True)
    assert distributed.workers_from(1, {"SM_HOSTS": '["algo-1"]'}).world_size == 1
    started = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "9"}
    assert distributed.workers_from(2, started).rank == 1  # a started worker never respawns


def _write_channel(root: Path) -> Path:
    data = easy_graph(n=1500, seed=2)
    ids = data.transaction_ids
    features = pd.DataFrame(data.features, columns=data.feature_names)
    features.insert(0, schema.ID_COLUMN, ids)
    features.to_csv(root / "features.csv", index=False)
    pd.DataFrame(
        {schema.ID_COLUMN: ids, schema.LABEL_COLUMN: data.labels, "split": data.split}
    ).to_csv(root / "labels.csv", index=False)
    for etype, (tx, ent) in data.edges.items():
        keys = np.asarray(data.entity_keys[etype], dtype=object)
        pd.DataFrame({schema.ID_COLUMN: ids[tx], etype: keys[ent]}).to_csv(
            root / f"relation_{etype}_edgelist.csv", index=False
        )
    return root


def _train(channel: Path, out: Path, workers: int) -> dict:
    code = training.main(
        [
            *("--train", str(channel), "--model-dir", str(out / "model")),
            *("--output-data-dir", str(out / "output"), "--model", "rgcn"),
            *("--workers", str(workers), "--batch-size", "128", "--n-epochs", "12"),
            *("--patience", "50", "--num-threads", "1", "--baseline-iter", "0", "--seed", "3"),
            *("--n-hidden", "16", "--dropout", "0.0"),
        ],
        inference_entry=INFERENCE_ENTRY,
    )
    assert code == 0
    return json.loads((out / "output" / "metrics.json").read_text())


@pytest.mark.slow
def test_two_workers_train_a_model_that_loads_scores_and_validates_like_one(tmp_path):
    from vigil.fraud.serving import FraudPredictor

    channel = _write_channel(tmp_path)
    one = _train(channel, tmp_path / "one", workers=1)
    two = _train(channel, tmp_path / "two", workers=2)

    predictor = FraudPredictor.load(tmp_path / "two" / "model")
    answer = predictor(
        json.dumps({"id": "t", "features": [0.5] * 6, "entities": {"card1": {"key": "3"}}})
    )
    assert 0.0 <= answer["pred_prob"] <= 1.0
    assert (one["workers"], two["workers"]) == (1, 2)
    assert two["epochs_run"] == 12 and one["epochs_run"] == 12
    assert one["valid_roc_auc"] > 0.8  # the easy graph is learnable in 12 epochs
    assert abs(two["valid_roc_auc"] - one["valid_roc_auc"]) <= 0.05
