"""A tiny fraud graph with an easy, purely structural signal (for model and training tests)."""

from __future__ import annotations

import numpy as np

from vigil.fraud.dataset import FraudGraphData


def easy_graph(n: int = 1200, seed: int = 0, dim: int = 6) -> FraudGraphData:
    """Transactions share ``card`` entities; fraud cards carry only fraud, and fraud rows have a
    slightly shifted feature 0. Ids are time-ordered, split 70/10/20 by id."""
    rng = np.random.default_rng(seed)
    n_cards = n // 6
    fraud_card = rng.random(n_cards) < 0.15
    card = rng.integers(0, n_cards, n)
    y = fraud_card[card].astype(np.int64)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    x[:, 0] += 0.8 * y
    device = rng.integers(0, 40, n)
    split = np.array(["train"] * int(0.7 * n) + ["valid"] * int(0.1 * n), dtype=object)
    split = np.concatenate([split, np.array(["test"] * (n - len(split)), dtype=object)])
    # the same entity keys always map to the same index
    return FraudGraphData(
        transaction_ids=np.arange(1000, 1000 + n, dtype=np.int64),
        features=x,
        labels=y,
        split=split,
        entity_keys={
            "card1": [str(i) for i in range(n_cards)],
            "DeviceInfo": [f"dev-{i}" for i in range(40)],
        },
        edges={
            "card1": (np.arange(n, dtype=np.int64), card.astype(np.int64)),
            "DeviceInfo": (np.arange(n, dtype=np.int64), device.astype(np.int64)),
        },
        feature_names=[f"x{i}" for i in range(dim)],
    )
