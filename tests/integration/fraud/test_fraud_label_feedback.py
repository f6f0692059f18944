"""Label feedback end to end: HTTP on the local API front → the label Lambda → the S3 label log
(moto server) and the graph (Neptune stand-in) → the next ETL run (local Spark) trains on it.

The log is copied out of S3 into a folder as a Glue job would read the prefix; the ETL's
``--label-log`` then replaces the raw ``isFraud`` with each transaction's latest logged label.
"""

from __future__ import annotations

import csv
import http.client
import json
from pathlib import Path

import pandas as pd
import pytest

from local.standins.api_gateway import LocalApi, match_route
from tests.handlers.fraud.conftest import serve_standin
from vigil import aws
from vigil.fraud import datagen, label_log, schema
from vigil.fraud.dataset import load_training_data

pytestmark = [pytest.mark.slow, pytest.mark.integration]

BUCKET = "vigil-fraud-processed"
UNLABELLED_ID = 3_200_001  # in the raw data without a label: set aside unless the log labels it
ONLINE_ID = 3_300_001  # scored online, not in this raw export


def _post(port: int, path: str, body: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_routes_with_path_parameters_match_as_api_gateway_does():
    def handler(event, context):
        return {}

    routes = {("POST", "/transactions"): handler, ("POST", "/transactions/{id}/label"): handler}
    assert match_route(routes, "POST", "/transactions") == (handler, "/transactions", {})
    assert match_route(routes, "POST", "/transactions/42/label") == (
        handler,
        "/transactions/{id}/label",
        {"id": "42"},
    )
    assert match_route(routes, "POST", "/transactions//label") is None
    assert match_route(routes, "POST", "/transactions/42/label/x") is None
    assert match_route(routes, "GET", "/transactions/42/label") is None


@pytest.fixture
def raw(tmp_path) -> tuple[Path, pd.DataFrame]:
    out = tmp_path / "raw"
    out.mkdir()
    datagen.write(datagen.generate(400, seed=5), out)
    with (out / "train_transaction.csv").open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=schema.TRANSACTION_COLUMNS)
        row = {c: "" for c in schema.TRANSACTION_COLUMNS}
        row.update(TransactionID=str(UNLABELLED_ID), TransactionDT="99999999", card1="1234")
        writer.writerow(row)
    frame = pd.read_csv(out / "train_transaction.csv", usecols=["TransactionID", "isFraud"])
    return out, frame


def test_labels_through_the_api_become_the_next_runs_training_labels(
    raw, moto_server, monkeypatch, tmp_path
):
    raw_dir, frame = raw
    legit_id = int(frame.loc[frame.isFraud == 0, "TransactionID"].iloc[0])
    fraud_id = int(frame.loc[frame.isFraud == 1, "TransactionID"].iloc[0])
    standin = serve_standin(schema.DEFAULT_ENTITY_COLUMNS)
    for transaction_id, is_fraud in (
        (legit_id, 0),
        (fraud_id, 1),
        (UNLABELLED_ID, -1),
        (ONLINE_ID, -1),
    ):
        standin.engine.execute(
            f"CREATE (t:Transaction {{id: '{transaction_id}', TransactionDT: 1, isFraud: {is_fraud}}})"
        )
    monkeypatch.setenv("GRAPH_ENDPOINT", standin.endpoint_url)
    monkeypatch.setenv("LABEL_BUCKET", BUCKET)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    aws.client("s3").create_bucket(Bucket=BUCKET)
    from lambdas.fraud.label_transaction import handler

    handler.feedback.cache_clear()
    api = LocalApi({("POST", "/transactions/{id}/label"): handler.handler}).serve_in_thread()
    port = api.httpd.server_address[1]
    try:
        chargeback = {"label": "fraud", "source": "chargeback"}
        # the training data says legit: a chargeback contradicting it needs override
        assert _post(port, f"/transactions/{legit_id}/label", chargeback)[0] == 409
        status, body = _post(
            port, f"/transactions/{legit_id}/label", {**chargeback, "override": True}
        )
        assert (status, body["result"]) == (200, "relabelled")
        # an analyst clears a training-data fraud
        status, _ = _post(
            port,
            f"/transactions/{fraud_id}/label",
            {"label": "legit", "source": "analyst", "override": True},
        )
        assert status == 200
        assert (
            _post(
                port,
                f"/transactions/{UNLABELLED_ID}/label",
                {"label": "legit", "source": "analyst"},
            )[0]
            == 200
        )
        assert _post(port, f"/transactions/{ONLINE_ID}/label", chargeback)[0] == 200
        assert (
            _post(port, f"/transactions/{ONLINE_ID}/label", chargeback)[1]["result"] == "unchanged"
        )
        assert _post(port, "/transactions/7/label", chargeback)[0] == 404
        status, body = _post(port, "/transactions/abc/label", {"label": "fraud"})
        assert status == 400 and {e["field"] for e in body["errors"]} == {"id", "source"}
    finally:
        api.stop()
        standin.stop()
        handler.feedback.cache_clear()

    # the Glue job reads the prefix; here it is copied to a folder first
    log_dir = tmp_path / "label_log"
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=label_log.LABEL_LOG_PREFIX)["Contents"]
    assert len(listed) == 4  # one object per accepted change; refusals and repeats log nothing
    for item in listed:
        target = log_dir / item["Key"][len(label_log.LABEL_LOG_PREFIX) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
    (log_dir / "junk").mkdir()
    (log_dir / "junk" / "00000001.json").write_text("not json\n")

    from glue.fraud_etl import local_spark_session, parse_args, read_label_log, run

    out = tmp_path / "processed"
    spark = local_spark_session("local[2]", shuffle_partitions=2)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        config = parse_args(
            ["--transactions", str(raw_dir / "train_transaction.csv"), "--identity",
             str(raw_dir / "train_identity.csv"), "--output", str(out),
             "--shuffle-partitions", "2", "--label-log", str(log_dir)]
        )  # fmt: skip
        report = run(spark, config)
        # no label ever logged: the prefix does not exist, and the raw labels stand
        assert read_label_log(spark, str(tmp_path / "no_log"))[0] is None
    finally:
        spark.stop()
    assert report["label_feedback"] == {
        "label_records": 5,
        "label_records_unreadable": 1,
        "labelled_transactions": 4,
        "applied": 3,
        "changed": 3,
        "labels_without_transaction": 1,
    }
    # the unlabelled raw row is now a labelled transaction, not a bad row
    assert "transactions: isFraud is not 0 or 1" not in report["bad_row_reasons"]
    assert report["transactions_out"] == len(frame)
    data = load_training_data(out)
    labels = dict(zip(data.transaction_ids.tolist(), data.labels.tolist(), strict=True))
    assert labels[legit_id] == 1 and labels[fraud_id] == 0 and labels[UNLABELLED_ID] == 0
    untouched = frame.loc[~frame.TransactionID.isin([legit_id, fraud_id, UNLABELLED_ID])]
    assert all(
        labels[int(t)] == int(y)
        for t, y in zip(untouched.TransactionID, untouched.isFraud, strict=True)
    )
