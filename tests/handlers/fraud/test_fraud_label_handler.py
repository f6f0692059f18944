"""The label Lambda handler end to end: moto server's S3 (the label log, with its conditional
put) and the Neptune stand-in (the graph), reached by boto3's own clients.

Transactions in the stand-in: ``100`` scored online (no label, ``isFraud`` -1), ``200`` and
``300`` bulk-loaded with the training data's labels (legit and fraud).
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from local.standins.fault_injection import inject_faults
from tests.handlers.fraud.conftest import serve_standin
from vigil import aws
from vigil.fraud import label_feedback, label_log

BUCKET = "vigil-fraud-processed"


@pytest.fixture
def standin():
    server = serve_standin(["card1"])
    for transaction_id, is_fraud in (("100", -1), ("200", 0), ("300", 1)):
        server.engine.execute(
            f"CREATE (t:Transaction {{id: '{transaction_id}', TransactionDT: 1, "
            f"isFraud: {is_fraud}}})"
        )
    yield server
    server.stop()


@pytest.fixture
def handler_module(moto_server, standin, monkeypatch):
    monkeypatch.setenv("GRAPH_ENDPOINT", standin.endpoint_url)
    monkeypatch.setenv("LABEL_BUCKET", BUCKET)
    monkeypatch.setenv("MAX_ATTEMPTS", "1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    aws.client("s3").create_bucket(Bucket=BUCKET)
    from lambdas.fraud.label_transaction import handler

    handler.feedback.cache_clear()
    yield handler
    handler.feedback.cache_clear()


def _event(transaction_id: str, body) -> dict:
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    return {
        "resource": "/transactions/{id}/label",
        "path": f"/transactions/{transaction_id}/label",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "pathParameters": {"id": transaction_id},
        "requestContext": {"requestId": "r-1", "stage": "v1"},
        "body": text,
        "isBase64Encoded": False,
    }


def _call(handler_module, context, transaction_id, body) -> tuple[int, dict]:
    response = handler_module.handler(_event(transaction_id, body), context)
    return response["statusCode"], json.loads(response["body"])


def _log_objects(transaction_id: str) -> list[dict]:
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{label_log.LABEL_LOG_PREFIX}")
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    prefix = label_log.transaction_prefix(transaction_id)
    return [
        json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())
        for k in keys
        if k.startswith(prefix)
    ]


def _graph_label(standin, transaction_id: str) -> dict:
    rows = standin.engine.execute(
        f"MATCH (t:Transaction {{id: '{transaction_id}'}}) "
        "RETURN t.isFraud AS y, t.label_source AS s, t.label_version AS v"
    )
    return rows[0]


def test_a_new_label_is_logged_then_set_in_the_graph(handler_module, lambda_context, standin):
    status, body = _call(
        handler_module, lambda_context, "100", {"label": "fraud", "source": "chargeback"}
    )
    assert status == 200
    assert body == {
        "id": "100",
        "result": "labelled",
        "label": "fraud",
        "source": "chargeback",
        "version": 1,
    }
    [record] = _log_objects("100")
    assert record["TransactionID"] == 100 and record["isFraud"] == 1
    assert record["version"] == 1 and record["previous_label"] is None
    assert record["request_id"] == "r-1"
    assert _graph_label(standin, "100") == {"y": 1, "s": "chargeback", "v": 1}


def test_a_repeated_label_is_idempotent_and_writes_nothing(handler_module, lambda_context, standin):
    request = {"label": "fraud", "source": "analyst"}
    assert _call(handler_module, lambda_context, "100", request)[0] == 200
    # a retry, or a second source agreeing: the same label is not logged again
    status, body = _call(handler_module, lambda_context, "100", {**request, "source": "chargeback"})
    assert status == 200 and body["result"] == "unchanged"
    assert body["source"] == "analyst" and body["version"] == 1
    assert len(_log_objects("100")) == 1
    # "00100" is the same transaction
    assert _call(handler_module, lambda_context, "00100", request)[1]["result"] == "unchanged"


def test_a_conflicting_label_is_refused_unless_it_overrides(
    handler_module, lambda_context, standin
):
    _call(handler_module, lambda_context, "100", {"label": "fraud", "source": "analyst"})
    status, body = _call(
        handler_module, lambda_context, "100", {"label": "legit", "source": "chargeback"}
    )
    assert status == 409
    assert body["label"] == "fraud" and body["source"] == "analyst" and body["version"] == 1
    assert "override" in body["message"]
    assert len(_log_objects("100")) == 1
    assert _graph_label(standin, "100")["y"] == 1

    request = {"label": "legit", "source": "chargeback", "override": True}
    status, body = _call(handler_module, lambda_context, "100", request)
    assert status == 200 and body["result"] == "relabelled" and body["version"] == 2
    first, second = _log_objects("100")  # history kept: the first version stays in the log
    assert first["label"] == "fraud"
    assert second["label"] == "legit" and second["override"] is True
    assert second["previous_label"] == "fraud" and second["previous_source"] == "analyst"
    assert _graph_label(standin, "100") == {"y": 0, "s": "chargeback", "v": 2}


def test_the_training_datas_label_counts_as_the_current_label(
    handler_module, lambda_context, standin
):
    status, body = _call(
        handler_module, lambda_context, "300", {"label": "fraud", "source": "analyst"}
    )
    assert status == 200 and body["result"] == "unchanged" and body["source"] == "training_data"
    status, body = _call(
        handler_module, lambda_context, "200", {"label": "fraud", "source": "chargeback"}
    )
    assert status == 409 and body["label"] == "legit" and body["source"] == "training_data"
    request = {"label": "fraud", "source": "chargeback", "override": True}
    status, body = _call(handler_module, lambda_context, "200", request)
    assert status == 200 and body["result"] == "relabelled"
    assert _log_objects("200")[0]["previous_source"] == "training_data"


def test_an_unknown_transaction_is_404_and_nothing_is_logged(handler_module, lambda_context):
    status, body = _call(
        handler_module, lambda_context, "999", {"label": "fraud", "source": "analyst"}
    )
    assert status == 404 and body["id"] == "999"
    assert _log_objects("999") == []


@pytest.mark.parametrize(
    ("transaction_id", "body", "field"),
    [
        ("abc", {"label": "fraud", "source": "analyst"}, "id"),
        ("-1", {"label": "fraud", "source": "analyst"}, "id"),
        (str(2**53), {"label": "fraud", "source": "analyst"}, "id"),
        ("100", None, "body"),
        ("100", "{not json", "body"),
        ("100", "[1, 2]", "body"),
        ("100", {"label": "maybe", "source": "analyst"}, "label"),
        ("100", {"label": "fraud"}, "source"),
        ("100", {"label": "fraud", "source": "Chargeback!"}, "source"),
        ("100", {"label": "fraud", "source": "x" * 33}, "source"),
        ("100", {"label": "fraud", "source": "analyst", "override": "yes"}, "override"),
        ("100", {"label": "fraud", "source": "analyst", "isFraud": 1}, "isFraud"),
        ("100", {"label": 1, "source": "analyst"}, "label"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_touches_nothing(
    handler_module, lambda_context, standin, transaction_id, body, field
):
    status, answer = _call(handler_module, lambda_context, transaction_id, body)
    assert status == 400, answer
    assert field in [error["field"] for error in answer["errors"]], answer
    assert _log_objects("100") == []
    assert _graph_label(standin, "100")["y"] == -1


def test_a_graph_write_failure_after_the_log_is_completed_by_a_retry(
    handler_module, lambda_context, standin, monkeypatch
):
    real_store = label_feedback.store_label
    failures = [1]

    def store_failing_once(*args, **kwargs):
        if failures:
            failures.pop()
            raise ClientError(
                {
                    "Error": {"Code": "ServiceUnavailable"},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                "ExecuteOpenCypherQuery",
            )
        return real_store(*args, **kwargs)

    monkeypatch.setattr(label_feedback, "store_label", store_failing_once)
    request = {"label": "fraud", "source": "chargeback"}
    status, body = _call(handler_module, lambda_context, "100", request)
    assert status == 503 and body["logged"] is True and "retry" in body["message"]
    assert len(_log_objects("100")) == 1  # the log has it: the next training run uses it
    assert _graph_label(standin, "100")["v"] is None
    status, body = _call(handler_module, lambda_context, "100", request)
    assert status == 200 and body["result"] == "unchanged" and body["version"] == 1
    assert _graph_label(standin, "100") == {"y": 1, "s": "chargeback", "v": 1}
    assert len(_log_objects("100")) == 1


def test_a_version_another_writer_logged_first_is_judged_against(
    handler_module, lambda_context, standin
):
    # another writer logged version 1 (legit) and has not reached the graph yet
    record = label_log.label_record(
        transaction_id=100,
        label="legit",
        source="analyst",
        version=1,
        labelled_at="2026-12-03T10:00:00.000+00:00",
        previous_label=None,
        previous_source=None,
        override=False,
        request_id="other",
    )
    aws.client("s3").put_object(
        Bucket=BUCKET, Key=label_log.object_key(100, 1), Body=json.dumps(record).encode()
    )
    status, body = _call(
        handler_module, lambda_context, "100", {"label": "fraud", "source": "chargeback"}
    )
    assert status == 409 and body["label"] == "legit" and body["version"] == 1
    assert _graph_label(standin, "100") == {"y": 0, "s": "analyst", "v": 1}


def test_the_log_never_replaces_a_version(handler_module, standin):
    feedback = handler_module.feedback()
    record = {"TransactionID": 100, "version": 1, "isFraud": 1}
    assert feedback._log(record) is True
    assert feedback._log({**record, "isFraud": 0}) is False
    assert _log_objects("100") == [record]


def test_s3_or_graph_unavailable_is_503_with_nothing_stored(
    handler_module, lambda_context, standin
):
    aws.client("s3").delete_bucket(Bucket=BUCKET)
    status, body = _call(
        handler_module, lambda_context, "100", {"label": "fraud", "source": "analyst"}
    )
    assert status == 503 and body["logged"] is False
    assert _graph_label(standin, "100")["y"] == -1
    aws.client("s3").create_bucket(Bucket=BUCKET)
    inject_faults(standin.endpoint_url, status=503, code="ServiceUnavailable", count=5)
    try:
        status, body = _call(
            handler_module, lambda_context, "100", {"label": "fraud", "source": "analyst"}
        )
    finally:
        inject_faults(standin.endpoint_url)
    assert status == 503 and body["logged"] is False
    assert _log_objects("100") == []
