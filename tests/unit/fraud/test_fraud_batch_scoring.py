"""Batch scoring's array path equals the endpoint's per-request path, row by row.

A small model (the RGCN and the graph-feature GBDT), a featurizer and an ETL snapshot written
here; the reference is what the scoring API does for one transaction: build the endpoint request
(the entity states it would read and insert) and send it through ``FraudPredictor``'s own parser
and model. Bad rows land in the rejects with their reasons, whatever chunk they fall in.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import torch

from vigil.fraud import schema
from vigil.fraud.batch_scoring import (
    BatchScorer,
    EntityOverflow,
    GraphSnapshot,
    malformed_state_reason,
    score_file,
)
from vigil.fraud.features import (
    CategoricalFeature,
    Featurizer,
    FeaturizerSpec,
    NonFiniteFeature,
    NumericFeature,
    add_vectors,
    decode_vector,
    encode_vector,
)
from vigil.fraud.graph_gbdt import GraphGBDT, GraphGBDTConfig, TreeEnsemble, design_width
from vigil.fraud.model import FraudModelBundle, FraudRGCN, RGCNConfig
from vigil.fraud.serving import FraudPredictor

SPEC = FeaturizerSpec(
    numeric=[
        NumericFeature("TransactionAmt", mean=4.0, std=1.5, log=True),
        NumericFeature("dist1", mean=10.0, std=5.0),
    ],
    categorical=[CategoricalFeature("ProductCD", ["W", "C", "H"])],
    entity_columns=["card1", "DeviceInfo"],
)
ENTITY_KEYS = {  # what the model knows; the snapshot knows more cards
    "card1": [str(100 + i) for i in range(16)],
    "DeviceInfo": [f"dev-{i}" for i in range(6)],
}
IN_GRAPH, NEW = 80, 40
UNRECORDED_CARD = "119"  # the ETL left this value out of the graph
OVERFLOW_CARD, MALFORMED_CARD = "888", "999"


def _raw_rows(seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(IN_GRAPH + NEW):
        amount = rng.choice([f"{rng.uniform(1, 500):.2f}", "", "abc", "0"])
        card = rng.choice([str(100 + rng.integers(0, 19)), "", "101.0"])
        rows.append(
            {
                schema.ID_COLUMN: str(5000 + i),
                "TransactionAmt": amount,
                "dist1": rng.choice([f"{rng.normal(10, 8):.3f}", ""]),
                "ProductCD": rng.choice(["W", "C", "H", "S", ""]),
                "card1": card,
                "DeviceInfo": rng.choice([f"dev-{rng.integers(0, 8)}", ""]),
            }
        )
    rows[3]["card1"] = UNRECORDED_CARD  # in the graph, without this card
    return rows


def _snapshot_states(rows: list[dict]) -> dict[str, dict[str, tuple[str, int]]]:
    """What the ETL writes: per entity, the float64 sum of its graph rows' vectors as float32."""
    featurizer = Featurizer(SPEC)
    states: dict[str, dict[str, tuple[str, int]]] = {}
    for column in SPEC.entity_columns:
        members: dict[str, list[list[float]]] = {}
        for row in rows[:IN_GRAPH]:
            key = schema.canonical_key(row[column])
            if key is not None and key != UNRECORDED_CARD:
                members.setdefault(key, []).append(featurizer.transform(row))
        states[column] = {
            key: (encode_vector(np.sum(np.array(v, dtype=np.float64), axis=0).tolist()), len(v))
            for key, v in members.items()
        }
    big = [0.0] * SPEC.dim
    big[1] = 3.3e38  # one more large dist1 overflows float32
    states["card1"][OVERFLOW_CARD] = (encode_vector(big), 2)
    states["card1"][MALFORMED_CARD] = ("@@not-base64", 2)
    return states


def _write_processed(root, rows: list[dict]) -> None:
    nep = root / schema.NEPTUNE_FOLDER
    for column, states in _snapshot_states(rows).items():
        folder = nep / schema.bulk_load_folder("nodes", column)
        folder.mkdir(parents=True)
        with (folder / "part-00000.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(schema.ENTITY_NODE_HEADER)
            for i, (key, (feat_sum, degree)) in enumerate(states.items()):
                writer.writerow([f"{column}-{i}", column, key, feat_sum, degree])
    folder = nep / schema.bulk_load_folder("transaction")
    folder.mkdir(parents=True)
    with (folder / "part-00000.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(schema.TRANSACTION_NODE_HEADER)
        for row in rows[:IN_GRAPH]:
            tid = row[schema.ID_COLUMN]
            writer.writerow([f"t-{tid}", "Transaction", tid, 0, 0])


def _rgcn() -> FraudRGCN:
    torch.manual_seed(7)
    model = FraudRGCN(
        RGCNConfig(
            in_dim=SPEC.dim,
            entity_counts={t: len(k) for t, k in ENTITY_KEYS.items()},
            n_hidden=8,
            embedding_size=4,
            dropout=0.0,
        )
    )
    known = {t: [i % 5 != 0 for i in range(len(k))] for t, k in ENTITY_KEYS.items()}
    model.set_known(known)
    return model.eval()


def _gbdt() -> GraphGBDT:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    width = design_width(SPEC.dim, len(ENTITY_KEYS))
    design = rng.normal(size=(400, width))
    design[rng.random(design.shape) < 0.2] = np.nan
    labels = (np.nan_to_num(design[:, 0]) + np.nan_to_num(design[:, SPEC.dim + 1]) > 0.3).astype(
        int
    )
    classifier = HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(design, labels)
    config = GraphGBDTConfig(in_dim=SPEC.dim, entity_types=list(ENTITY_KEYS))
    return GraphGBDT(config, TreeEnsemble.from_sklearn(classifier))


@pytest.fixture(scope="module", params=["rgcn", "graph-gbdt"])
def setup(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"batch-{request.param}")
    model = _rgcn() if request.param == "rgcn" else _gbdt()
    FraudModelBundle(
        model=model,
        entity_keys=ENTITY_KEYS,
        featurizer=SPEC.to_dict(),
        calibration={"method": "platt", "a": 1.3, "b": -0.4},
        threshold=0.45,
    ).save(root / "model")
    rows = _raw_rows()
    _write_processed(root / "processed", rows)
    return root, rows


def _bad_rows(rows: list[dict]) -> list[tuple[dict, str]]:
    """Rows a batch must refuse, each with the reason it must give."""
    base = {**rows[-1]}
    return [
        ({**base, schema.ID_COLUMN: "x-1"}, "TransactionID is not an integer"),
        ({**base, schema.ID_COLUMN: ""}, "TransactionID is not an integer"),
        (dict(rows[0]), "duplicate TransactionID (first occurrence scored)"),
        ({**base, schema.ID_COLUMN: "9001", "dist1": "1e40"}, str(NonFiniteFeature("dist1"))),
        (
            {**base, schema.ID_COLUMN: "9002", "dist1": "5e38", "card1": OVERFLOW_CARD},
            str(EntityOverflow("card1")),
        ),
        (
            {**base, schema.ID_COLUMN: "9003", "card1": MALFORMED_CARD},
            malformed_state_reason("card1"),
        ),
    ]


def _endpoint_request(row: dict, in_graph: bool, states) -> dict:
    """The request the scoring API sends for ``row`` (its read of each entity's stored state,
    plus the row for a transaction it inserts), as plain Python."""
    features = Featurizer(SPEC).transform(row)
    entities = {}
    for column in SPEC.entity_columns:
        key = schema.canonical_key(row.get(column))
        if key is None:
            entities[column] = None
            continue
        stored = states[column].get(key)
        if in_graph:
            entities[column] = (
                None if stored is None else {"key": key, "feat_sum": stored[0], "degree": stored[1]}
            )
            continue
        if stored is None:
            total, degree = features, 1
        else:
            total = add_vectors(decode_vector(stored[0], len(features)), features)
            degree = stored[1] + 1
        entities[column] = {"key": key, "feat_sum": encode_vector(total), "degree": degree}
    return {"id": row[schema.ID_COLUMN], "features": encode_vector(features), "entities": entities}


def test_every_row_scores_as_the_endpoint_answers_it(setup):
    root, rows = setup
    scorer = BatchScorer.load(root / "model", root / "processed")
    bad = _bad_rows(rows)
    scores, rejects = scorer.score([*rows, *(row for row, _ in bad)])

    assert [s[schema.ID_COLUMN] for s in scores] == [r[schema.ID_COLUMN] for r in rows]
    assert [(r["row"], r["reason"]) for r in rejects] == [
        (len(rows) + 1 + i, reason) for i, (_, reason) in enumerate(bad)
    ]
    predictor = FraudPredictor.load(root / "model")
    states = _snapshot_states(rows)
    parsed = [
        predictor.parse_instance(_endpoint_request(row, i < IN_GRAPH, states), None)
        for i, row in enumerate(rows)
    ]
    answers = predictor.predict(parsed)
    expected = np.array([a["pred_prob"] for a in answers])
    got = np.array([s["pred_prob"] for s in scores])
    assert np.abs(got - expected).max() <= 1e-6
    assert [s["flag"] for s in scores] == ["fraud" if p >= 0.45 else "legit" for p in expected]
    # the in-graph rows and the new rows take different states: both kinds are present
    assert len({round(p, 9) for p in got[:IN_GRAPH]}) > 10
    assert len({round(p, 9) for p in got[IN_GRAPH:]}) > 10


def test_in_graph_rows_read_the_stored_state_and_new_rows_add_themselves(setup):
    root, rows = setup
    scorer = BatchScorer.load(root / "model", root / "processed")
    in_graph = rows[:IN_GRAPH]
    as_new = [{**row, schema.ID_COLUMN: str(900000 + i)} for i, row in enumerate(in_graph)]
    stored, _ = scorer.score(in_graph)
    added, _ = scorer.score(as_new)
    # as new transactions they count twice in their entities' states: other scores
    changed = [
        abs(a["pred_prob"] - b["pred_prob"]) > 1e-9 for a, b in zip(stored, added, strict=True)
    ]
    assert sum(changed) >= len(in_graph) // 4


def test_the_snapshot_marks_malformed_states_and_keeps_the_rest(setup):
    root, _ = setup
    graph = GraphSnapshot.load(root / "processed", list(ENTITY_KEYS), SPEC.dim)
    cards = graph.entities["card1"]
    assert not cards.valid[cards.position[MALFORMED_CARD]]
    assert cards.valid[cards.position[OVERFLOW_CARD]]
    assert cards.valid.sum() == len(cards.position) - 1
    assert len(graph.transactions) == IN_GRAPH


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_file_scores_in_chunks_as_in_one_frame(setup, tmp_path, kind):
    root, rows = setup
    scorer = BatchScorer.load(root / "model", root / "processed")
    bad = _bad_rows(rows)
    frame = pd.DataFrame([*rows, *(row for row, _ in bad)]).assign(V1="1")  # a column unread
    transactions = frame.drop(columns=["DeviceInfo"])
    identity = frame[[schema.ID_COLUMN, "DeviceInfo"]].iloc[::-1]
    paths = {}
    for name, part in (("transactions", transactions), ("identity", identity)):
        paths[name] = tmp_path / f"{name}.{kind}"
        if kind == "csv":
            part.to_csv(paths[name], index=False)
        else:
            part.to_parquet(paths[name], index=False)

    counts = score_file(
        scorer, paths["transactions"], paths["identity"], tmp_path / "out", chunk_rows=37
    )

    expected_scores, expected_rejects = scorer.score([*rows, *(row for row, _ in bad)])
    written = pd.read_csv(tmp_path / "out" / "scores.csv", dtype={schema.ID_COLUMN: str})
    assert written[schema.ID_COLUMN].tolist() == [s[schema.ID_COLUMN] for s in expected_scores]
    # chunks of another size: the model's products may round differently, within 1e-6
    difference = written["pred_prob"].to_numpy() - [s["pred_prob"] for s in expected_scores]
    assert np.abs(difference).max() <= 1e-6
    assert written["flag"].tolist() == [s["flag"] for s in expected_scores]
    rejected = pd.read_csv(tmp_path / "out" / "rejects.csv", dtype=str, keep_default_na=False)
    assert rejected["row"].astype(int).tolist() == [r["row"] for r in expected_rejects]
    assert rejected["reason"].tolist() == [r["reason"] for r in expected_rejects]
    assert counts == {
        "rows": len(frame),
        "scored": len(rows),
        "rejected": len(bad),
        "flagged": sum(s["flag"] == "fraud" for s in expected_scores),
    }


def test_requests_answered_by_the_transform_hooks_equal_the_batch_scores(setup, tmp_path):
    from inference.fraud import inference
    from vigil.fraud.batch_scoring import write_requests

    root, rows = setup
    scorer = BatchScorer.load(root / "model", root / "processed")
    bad = _bad_rows(rows)
    frame = pd.DataFrame([*rows, *(row for row, _ in bad)])
    frame.to_csv(tmp_path / "day.csv", index=False)
    counts = write_requests(
        scorer, tmp_path / "day.csv", None, tmp_path / "requests", chunk_rows=50, lines_per_file=70
    )
    assert counts == {"rows": len(frame), "requests": len(rows), "rejected": len(bad), "files": 2}
    body = b"".join(p.read_bytes() for p in sorted((tmp_path / "requests").glob("*.jsonl")))
    lines = body.decode().splitlines()
    # a broken line and a request the endpoint refuses, in the middle of the mini-batch
    lines[5:5] = ['{"id": "1", "features"', '{"id": "2", "features": "AAAA", "entities": {}}']
    predictor = inference.model_fn(str(root / "model"))
    payload = inference.input_fn("\n".join(lines).encode() + b"\n", "application/jsonlines")
    text, content_type = inference.output_fn(
        inference.predict_fn(payload, predictor), "application/jsonlines"
    )
    answers = [json.loads(line) for line in text.splitlines()]

    assert content_type == "application/jsonlines"
    assert len(answers) == len(lines)
    assert answers[5]["id"] is None and "line 6 is not JSON" in answers[5]["rejected"]
    assert answers[6]["id"] == "2" and "features" in answers[6]["rejected"]
    del answers[5:7]
    expected, _ = scorer.score(rows)
    assert [a["id"] for a in answers] == [s[schema.ID_COLUMN] for s in expected]
    assert [a["flag"] for a in answers] == [s["flag"] for s in expected]
    worst = max(
        abs(a["pred_prob"] - s["pred_prob"]) for a, s in zip(answers, expected, strict=True)
    )
    assert worst <= 1e-6


def test_two_processes_write_the_files_one_process_writes(setup, tmp_path):
    root, rows = setup
    scorer = BatchScorer.load(root / "model", root / "processed")
    bad = _bad_rows(rows)  # the duplicate of the first row lands in a later chunk
    pd.DataFrame([*rows, *(row for row, _ in bad)]).to_csv(tmp_path / "day.csv", index=False)
    outputs = {}
    for processes in (1, 2):
        out = tmp_path / f"out-{processes}"
        counts = score_file(
            scorer,
            tmp_path / "day.csv",
            None,
            out,
            chunk_rows=37,
            processes=processes,
            load_args=(root / "model", root / "processed", None),
        )
        outputs[processes] = (
            counts,
            (out / "scores.csv").read_text(),
            (out / "rejects.csv").read_text(),
        )
    assert outputs[2] == outputs[1]
    assert "duplicate TransactionID" in outputs[2][2]
