"""The IEEE-CIS-layout generator."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from vigil.fraud import datagen, schema


def test_layout_types_and_rates():
    data = datagen.generate(4000, seed=3)
    tx, ident = data.transactions, data.identity
    assert list(tx.columns) == schema.TRANSACTION_COLUMNS
    assert list(ident.columns) == schema.IDENTITY_COLUMNS
    assert tx["TransactionID"].is_unique and tx["TransactionDT"].is_monotonic_increasing
    assert tx["TransactionDT"].min() >= 86_400
    assert abs(tx["isFraud"].mean() - 0.035) < 0.005
    assert 0.18 < len(ident) / len(tx) < 0.35  # about a quarter have identity rows
    assert set(ident["TransactionID"]) <= set(tx["TransactionID"])
    assert set(tx["M4"].dropna()) <= {"M0", "M1", "M2"}
    assert set(tx["M1"].dropna()) <= {"T", "F"}
    assert tx["V200"].isna().mean() > 0.6 and tx["dist2"].isna().mean() > 0.8  # sparse
    assert tx["ProductCD"].value_counts(normalize=True)["W"] > 0.6  # a hub value
    assert tx["P_emaildomain"].value_counts(normalize=True)["gmail.com"] > 0.25


def test_rings_reuse_entities_over_short_spans():
    data = datagen.generate(6000, seed=4)
    tx = data.transactions.assign(ring=data.ring_id)
    rings = tx[tx.ring >= 0].groupby("ring")
    assert (tx.loc[tx.ring >= 0, "isFraud"] == 1).all()
    spans = rings["TransactionDT"].agg(lambda s: s.max() - s.min())
    assert spans.max() <= 4 * 86_400
    assert (rings.size() >= 3).all()
    cards_per_ring = rings["card1"].nunique()
    assert (cards_per_ring <= 3).all() and (rings.size() > cards_per_ring).all()
    assert (rings["addr1"].nunique() <= 1).all()


def test_deterministic_per_seed():
    a = datagen.generate(1000, seed=9).transactions
    b = datagen.generate(1000, seed=9).transactions
    c = datagen.generate(1000, seed=10).transactions
    pd.testing.assert_frame_equal(a, b)
    assert not a["TransactionAmt"].equals(c["TransactionAmt"])


def test_cli_writes_kaggle_files(tmp_path, capsys):
    assert datagen.main(["--transactions", "1000", "--seed", "1", "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["transactions"] == 1000
    tx = pd.read_csv(tmp_path / "train_transaction.csv")
    ident = pd.read_csv(tmp_path / "train_identity.csv")
    assert list(tx.columns) == schema.TRANSACTION_COLUMNS and len(tx) == 1000
    assert list(ident.columns) == schema.IDENTITY_COLUMNS
    assert np.issubdtype(tx["card1"].dtype, np.integer)
