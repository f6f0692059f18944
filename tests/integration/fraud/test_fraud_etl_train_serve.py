"""Generated + hand-made Kaggle-layout data → Glue ETL (local Spark) → train.py → served model.

One Spark session and one ETL run for the module; one training run; one model server.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vigil.fraud import datagen, schema
from vigil.fraud.features import Featurizer, FeaturizerSpec, decode_vector

pytestmark = [pytest.mark.slow, pytest.mark.integration]

N_GENERATED = 900
# Hand-made rows in Kaggle's own layout: unquoted, floats as "150.0", most fields empty.
KAGGLE_ROWS = [
    {"TransactionID": "3100001", "isFraud": "0", "TransactionDT": "2592000", "TransactionAmt": "68.5",
     "ProductCD": "W", "card1": "13926", "card3": "150.0", "card4": "discover", "card5": "142.0",
     "card6": "credit", "addr1": "315.0", "addr2": "87.0", "dist1": "19.0", "C1": "1.0",
     "D1": "14.0", "M1": "T", "M2": "T", "M3": "T", "M4": "M2", "M6": "F", "V1": "1.0"},
    {"TransactionID": "3100002", "isFraud": "1", "TransactionDT": "2592100", "TransactionAmt": "29.0",
     "ProductCD": "C", "card1": "2755", "card2": "404.0", "card4": "mastercard",
     "P_emaildomain": "anonymous.com"},
    {"TransactionID": "not-an-id", "isFraud": "0", "TransactionDT": "2592200"},
    {"TransactionID": "3100001", "isFraud": "0", "TransactionDT": "2592300"},  # duplicate
    {"TransactionID": "3100003", "isFraud": "", "TransactionDT": "2592400"},  # no label
]  # fmt: skip
IDENTITY_EXTRA = [
    {"TransactionID": "3100002", "id-01": "-5.0", "id-12": "NotFound", "DeviceType": "mobile",
     "DeviceInfo": "SM-G930V Build/NRD90M"},
    {"TransactionID": "9999999", "DeviceType": "desktop"},  # no such transaction
    {"TransactionID": "x9", "DeviceType": "desktop"},  # unparseable id
]  # fmt: skip


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, quoting=csv.QUOTE_MINIMAL)
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    data = datagen.generate(N_GENERATED, seed=11)
    datagen.write(data, out)
    _write_csv(out / "train_transaction.csv", schema.TRANSACTION_COLUMNS, KAGGLE_ROWS)
    # Kaggle's test_identity spelling (id-01) for the whole identity file
    ident = out / "train_identity.csv"
    lines = ident.read_text().splitlines(keepends=True)
    header = [c.replace("id_", "id-") for c in schema.IDENTITY_COLUMNS]
    lines[0] = ",".join(header) + "\n"
    ident.write_text("".join(lines))
    _write_csv(ident, header, IDENTITY_EXTRA)
    return out


@pytest.fixture(scope="module")
def etl(raw, tmp_path_factory):
    from glue.fraud_etl import local_spark_session, parse_args, run

    out = tmp_path_factory.mktemp("processed")
    spark = local_spark_session("local[2]", shuffle_partitions=2)
    spark.sparkContext.setLogLevel("ERROR")
    config = parse_args(
        ["--transactions", str(raw / "train_transaction.csv"), "--identity",
         str(raw / "train_identity.csv"), "--output", str(out), "--shuffle_partitions", "2",
         "--JOB_NAME", "test", "--TempDir", "/tmp/ignored"]
    )  # fmt: skip
    report = run(spark, config)
    yield out, report
    spark.stop()


def _read_folder(path: Path, **kwargs) -> pd.DataFrame:
    files = sorted(path.glob("*.csv"))
    assert files, f"no CSV in {path}"
    return pd.concat([pd.read_csv(f, **kwargs) for f in files], ignore_index=True)


def test_etl_counts_splits_and_sets_bad_rows_aside(etl):
    out, report = etl
    good = N_GENERATED + 2
    assert report["rows_in"] == N_GENERATED + len(KAGGLE_ROWS)
    assert report["transactions_out"] == good
    assert report["bad_row_reasons"] == {
        "transactions: TransactionID is not an integer": 1,
        "transactions: duplicate TransactionID (first occurrence kept)": 1,
        "transactions: isFraud is not 0 or 1": 1,
        "identity: no transaction with this TransactionID": 1,
        "identity: TransactionID is not an integer": 1,
    }
    bad = _read_folder(out / schema.BAD_ROWS_FOLDER, dtype=str)
    assert len(bad) == 5 and "not-an-id" in set(bad["TransactionID"])
    labels = _read_folder(out / schema.LABELS_FOLDER)
    assert len(labels) == good and labels["TransactionID"].is_unique
    counts = labels["split"].value_counts()
    assert counts["test"] == round(good * 0.2) or abs(counts["test"] - good * 0.2) <= 1
    latest_train = labels.loc[labels.split == "train", "TransactionDT"].max()
    assert latest_train <= labels.loc[labels.split == "test", "TransactionDT"].min()
    kaggle = labels.set_index("TransactionID").loc[3100002]
    assert kaggle["isFraud"] == 1
    json.loads((out / schema.ETL_REPORT_FILE).read_text())  # the report is written


def test_spark_features_equal_the_python_featurizer(raw, etl):
    out, _ = etl
    spec = FeaturizerSpec.from_json((out / schema.FEATURIZER_FILE).read_text())
    assert spec.dim > 30 and spec.entity_columns == schema.DEFAULT_ENTITY_COLUMNS
    # statistics come from training rows only
    labels = _read_folder(out / schema.LABELS_FOLDER)
    tx = pd.read_csv(raw / "train_transaction.csv", dtype=str, keep_default_na=False)
    ident = pd.read_csv(raw / "train_identity.csv", dtype=str, keep_default_na=False)
    ident.columns = [schema.normalize_identity_column(c) for c in ident.columns]
    train_ids = set(labels.loc[labels.split == "train", "TransactionID"].astype(str))
    first = tx.drop_duplicates("TransactionID")
    amounts = pd.to_numeric(
        first.loc[first.TransactionID.isin(train_ids), "TransactionAmt"], errors="coerce"
    )
    amounts = np.log1p(amounts.dropna())
    amount_stats = spec.numeric[0]
    assert amount_stats.column == "TransactionAmt" and amount_stats.log
    assert amount_stats.mean == pytest.approx(amounts.mean(), rel=1e-9)

    rows = tx.drop_duplicates("TransactionID").merge(
        ident.drop_duplicates("TransactionID"), on="TransactionID", how="left"
    )
    rows = rows[rows.TransactionID.isin(labels.TransactionID.astype(str))].fillna("")
    featurizer = Featurizer(spec)
    expected = {
        int(r["TransactionID"]): featurizer.transform(r) for r in rows.to_dict(orient="records")
    }
    features = _read_folder(out / schema.FEATURES_FOLDER).set_index("TransactionID")
    assert len(features) == len(expected) == N_GENERATED + 2
    got = features.loc[list(expected)].to_numpy(np.float32)
    np.testing.assert_allclose(got, np.array(list(expected.values()), np.float32), atol=1e-6)


def test_neptune_bulk_load_files(etl):
    out, report = etl
    nep = out / schema.NEPTUNE_FOLDER
    tx_nodes = _read_folder(nep / "nodes_transaction", dtype=str)
    assert list(tx_nodes.columns) == schema.TRANSACTION_NODE_HEADER
    assert len(tx_nodes) == report["transactions_out"]
    features = _read_folder(out / schema.FEATURES_FOLDER).set_index("TransactionID")
    for column in ("card1", "P_emaildomain", "DeviceInfo"):
        nodes = _read_folder(nep / schema.bulk_load_folder("nodes", column), dtype=str)
        edges = _read_folder(nep / schema.bulk_load_folder("edges", column), dtype=str)
        assert list(nodes.columns) == schema.ENTITY_NODE_HEADER
        assert list(edges.columns) == schema.EDGE_HEADER
        assert set(nodes[":LABEL"]) == {schema.entity_label(column)}
        assert set(edges[":TYPE"]) == {schema.edge_type(column)}
        assert set(edges[":END_ID"]) <= set(nodes[":ID"])
        assert set(edges[":START_ID"]) <= set(tx_nodes[":ID"])
        edgelist = _read_folder(out / "edges" / schema.edgelist_name(column), dtype=str)
        assert len(edgelist) == len(edges)
        node = nodes.sort_values("degree:Int").iloc[-1]  # the busiest entity
        members = edgelist.loc[edgelist.iloc[:, 1] == node["key:String"], "TransactionID"]
        assert int(node["degree:Int"]) == len(members)
        times = tx_nodes.set_index("id:String")["TransactionDT:Long"].astype(int)
        assert int(node["first_dt:Long"]) == times.loc[members].min()  # its earliest transaction
        expected = features.loc[members.astype(int)].to_numpy(np.float64).sum(axis=0)
        np.testing.assert_allclose(
            decode_vector(node["feat_sum:String"], features.shape[1]),
            expected,
            rtol=1e-5,
            atol=1e-4,
        )


@pytest.fixture(scope="module", params=["rgcn", "graph-gbdt", "rgcn,graph-gbdt"])
def trained(etl, tmp_path_factory, request):
    from training.fraud.train import main

    out, _ = etl
    model_dir = tmp_path_factory.mktemp("model")
    output_dir = tmp_path_factory.mktemp("output")
    code = main(
        ["--train", str(out), "--model-dir", str(model_dir), "--output-data-dir", str(output_dir),
         "--n-epochs", "6", "--patience", "6", "--num-threads", "1", "--baseline-iter", "20",
         "--n-hidden", "16", "--embedding-size", "8", "--model", request.param,
         "--gbdt-max-iter", "60"]
    )  # fmt: skip
    assert code == 0
    return model_dir, output_dir, request.param


def test_training_outputs(trained, etl):
    model_dir, output_dir, kinds = trained
    metrics = json.loads((output_dir / "metrics.json").read_text())
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ap"):
        assert 0.0 <= metrics["test"][key] <= 1.0
    assert "roc_auc" in metrics["baseline_test"]
    assert set(metrics["models"]) == set(kinds.split(","))
    valid = {kind: m["valid_roc_auc"] for kind, m in metrics["models"].items()}
    assert metrics["selected_model"] == max(valid, key=valid.get)
    assert 0.0 < metrics["threshold"] < 1.0
    assert 0.0 <= metrics["test"]["ece"] <= 1.0
    if "rgcn" in kinds:
        assert metrics["epochs_run"] <= 6
    for name in ("roc_curve.png", "pr_curve.png"):
        assert (output_dir / name).read_bytes()[:4] == b"\x89PNG"
    scores = pd.read_csv(output_dir / "test_scores.csv")
    assert len(scores) == metrics["test_transactions"]
    assert scores["pred_prob"].between(0, 1).all()
    assert (scores["flag"] == "fraud").tolist() == (
        scores["pred_prob"] >= metrics["threshold"]
    ).tolist()
    weights = "model.pt" if metrics["selected_model"] == "rgcn" else "graph_gbdt.pt"
    for name in (weights, "model_config.json", "entity_keys.json", "featurizer.json",
                 "threshold_table.json", "entity_labels.json"):  # fmt: skip
        assert (model_dir / name).is_file()
    config = json.loads((model_dir / "model_config.json").read_text())
    assert config["kind"] == metrics["selected_model"]
    assert config["threshold"] == metrics["threshold"]
    assert (model_dir / "code" / "inference.py").is_file()
    assert (model_dir / "code" / "vigil" / "fraud" / "model.py").is_file()


def _online_requests(raw: Path, out: Path, ids: list[int]) -> list[dict]:
    """Requests built the way the scoring path builds them: raw fields + Neptune entity state."""
    tx = pd.read_csv(raw / "train_transaction.csv", dtype=str, keep_default_na=False)
    ident = pd.read_csv(raw / "train_identity.csv", dtype=str, keep_default_na=False)
    ident.columns = [schema.normalize_identity_column(c) for c in ident.columns]
    rows = (
        tx.drop_duplicates("TransactionID")
        .merge(ident.drop_duplicates("TransactionID"), on="TransactionID", how="left")
        .fillna("")
    )
    rows = rows.set_index("TransactionID")
    states = {}
    for column in schema.DEFAULT_ENTITY_COLUMNS:
        nodes = _read_folder(out / "neptune" / schema.bulk_load_folder("nodes", column), dtype=str)
        states[column] = {
            r["key:String"]: {"key": r["key:String"], "feat_sum": r["feat_sum:String"],
                              "degree": int(r["degree:Int"]),
                              "first_dt": int(r["first_dt:Long"])}
            for r in nodes.to_dict(orient="records")
        }  # fmt: skip
    requests = []
    for tid in ids:
        raw_row = rows.loc[str(tid)].to_dict()
        entities = {}
        for column in schema.DEFAULT_ENTITY_COLUMNS:
            key = schema.canonical_key(raw_row.get(column))
            entities[column] = None if key is None else states[column][key]
        requests.append({"id": tid, "transaction": raw_row, "entities": entities})
    return requests


def test_online_scoring_reproduces_offline_test_scores(raw, etl, trained):
    from vigil.fraud.serving import FraudPredictor

    out, _ = etl
    model_dir, output_dir, _ = trained
    scores = pd.read_csv(output_dir / "test_scores.csv").head(25)
    predictor = FraudPredictor.load(model_dir)
    # the offline file has 8 significant digits; the GBDT's trees are exact beyond that
    tolerance = 1e-4 if predictor.bundle.kind == "rgcn" else 1e-7
    requests = _online_requests(raw, out, scores["TransactionID"].tolist())
    answer = predictor(json.dumps({"instances": [r | {"explain": True} for r in requests]}))
    online = [p["pred_prob"] for p in answer["predictions"]]
    np.testing.assert_allclose(online, scores["pred_prob"], atol=tolerance)
    # the explanation online is the offline file's (one entity per type: per type = per entity)
    for prediction, (_, offline) in zip(answer["predictions"], scores.iterrows(), strict=True):
        explanation = prediction["explanation"]
        assert explanation["base_logit"] == pytest.approx(offline["base_logit"], abs=1e-3)
        by_type = {e["type"]: e["contribution"] for e in explanation["entities"]}
        for column in schema.DEFAULT_ENTITY_COLUMNS:
            expected = offline[f"contribution_{column}"]
            assert by_type.get(column, 0.0) == pytest.approx(expected, abs=1e-3)


def test_served_by_the_sagemaker_stack(raw, etl, trained, tmp_path):
    from local.standins.model_server import serve_model
    from vigil.fraud.serving import FraudPredictor
    from vigil.packaging import package_model

    out, _ = etl
    model_dir, output_dir, kinds = trained
    if "," in kinds:
        pytest.skip("each model kind is served on its own; selection adds nothing to serving")
    tarball = package_model(model_dir, tmp_path / "model.tar.gz")
    ids = pd.read_csv(output_dir / "test_scores.csv")["TransactionID"].head(3).tolist()
    body = json.dumps({"instances": _online_requests(raw, out, ids)})
    in_process = FraudPredictor.load(model_dir)(body)
    with serve_model(tarball) as server:
        served = server.invoke(body).json()
        bad = server.invoke(b'{"features": [1, 2]}', check=False)
    assert [p["id"] for p in served["predictions"]] == ids
    np.testing.assert_allclose(
        [p["pred_prob"] for p in served["predictions"]],
        [p["pred_prob"] for p in in_process["predictions"]],
        atol=1e-6,
    )
    assert bad.status == 400
    assert "expected" in bad.message.splitlines()[0] or "needs" in bad.message
