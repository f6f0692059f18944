"""The console's read-API Lambda on moto server: recent scores newest first across pages and
hours, one transaction, anomalies by time range and by place, and 4xx answers on bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from local.console.stores import create_recent_scores_table
from local.standins.air_quality_pipeline import provision
from vigil import aws
from vigil.console.contract import ConsoleSettings
from vigil.console.read_api import handle_event
from vigil.fraud import recent_scores

NOW = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
TABLE = "vigil-console-recent"


def _get(path: str, settings: ConsoleSettings, **params) -> tuple[int, dict]:
    event = {
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": params or None,
        "requestContext": {"stage": "v1"},
    }
    answer = handle_event(event, settings, aws.client("dynamodb"), now=NOW)
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def fraud(moto_server) -> ConsoleSettings:
    create_recent_scores_table(TABLE)
    ddb = aws.client("dynamodb")
    # 7 transactions over the last two hours, one a minute-apart pair across the hour boundary
    for i in range(7):
        when = NOW - timedelta(minutes=20 * i)
        transaction = {
            "TransactionID": 100 + i,
            "TransactionAmt": 10.0 + i,
            "card1": 7,
            "ProductCD": "W",
        }
        answer = {
            "id": str(100 + i),
            "flag": "fraud" if i % 3 == 0 else "legit",
            "pred_prob": i / 10,
        }
        item = recent_scores.score_item(transaction, answer, 12.5, now=when)
        ddb.put_item(TableName=TABLE, Item=item)
    return ConsoleSettings(recent_scores_table=TABLE)


def test_recent_transactions_are_newest_first_and_pages_cross_hours(fraud):
    seen, token = [], None
    for _ in range(4):
        params = {"limit": "3", **({"next": token} if token else {})}
        status, body = _get("/fraud/transactions", fraud, **params)
        assert status == 200
        seen += [r["id"] for r in body["items"]]
        token = body["next"]
        if token is None:
            break
    assert seen == [str(100 + i) for i in range(7)]
    status, body = _get("/api/fraud/transactions/103", fraud)
    assert status == 200
    assert body["transaction"] == {"TransactionAmt": 13.0, "ProductCD": "W", "card1": 7}
    assert body["entities"] == {"card1": 7} and body["latency_ms"] == 12.5


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/fraud/transactions", {"limit": "0"}, "limit"),
        ("/fraud/transactions", {"limit": "abc"}, "limit"),
        ("/fraud/transactions", {"next": "not-a-token"}, "next"),
        ("/fraud/transactions", {"colour": "red"}, "colour"),
        ("/fraud/transactions/12ab", {}, "id"),
    ],
)
def test_bad_parameters_answer_400_naming_the_parameter(fraud, path, params, parameter):
    status, body = _get(path, fraud, **params)
    assert status == 400
    assert body["errors"][0]["parameter"] == parameter


def test_unknown_routes_and_transactions_are_404(fraud):
    assert _get("/fraud/nothing", fraud)[0] == 404
    status, body = _get("/fraud/transactions/999", fraud)
    assert status == 404 and "999" in body["message"]
    assert _get("/air/anomalies", fraud)[0] == 404  # no anomaly table in these settings


@pytest.fixture
def air(moto_server) -> ConsoleSettings:
    resources = provision("vigil-console-air")
    ddb = aws.client("dynamodb")
    for hour, place, measure, severity in [
        (1, "A", "CO", 90),
        (2, "B", "CO", 40),
        (3, "A", "NO2", 70),
    ]:
        start = f"2026-12-03T{hour:02d}:00:00"
        ddb.put_item(
            TableName=resources.anomaly_table,
            Item={
                "detector": {"S": "aq"},
                "sk": {"S": f"{start}#{measure}|LOCATION_ID={place}"},
                "interval_start": {"S": start},
                "dimensions": {"S": f"LOCATION_ID={place}"},
                "measure": {"S": measure},
                "series": {"S": f"{measure}|LOCATION_ID={place}"},
                "observed": {"N": "9.5"},
                "expected": {"N": "2.0"},
                "z": {"N": "5.0"},
                "severity": {"N": str(severity)},
                "reason": {"S": "spike"},
                "contributions": {"S": json.dumps({"LOCATION_ID": {place: 100}})},
            },
        )
    return ConsoleSettings(
        anomaly_table=resources.anomaly_table, state_table=resources.state_table, detector_name="aq"
    )


def test_anomalies_by_time_place_measure_and_severity(air):
    def ids(**params):
        status, body = _get("/air/anomalies", air, **params)
        assert status == 200, body
        return [
            (a["interval_start"][11:13], a["dimensions"][-1], a["measure"]) for a in body["items"]
        ]

    assert ids() == [("03", "A", "NO2"), ("02", "B", "CO"), ("01", "A", "CO")]
    assert ids(dimensions="LOCATION_ID=A") == [("03", "A", "NO2"), ("01", "A", "CO")]
    assert ids(measure="CO", min_severity="50") == [("01", "A", "CO")]
    assert ids(**{"from": "2026-12-03T01:30:00Z", "to": "2026-12-03T02:30:00Z"}) == [
        ("02", "B", "CO")
    ]
    assert _get("/air/anomalies", air, min_severity="101")[0] == 400
    assert _get("/air/anomalies", air, **{"from": "yesterday"})[0] == 400
    assert _get("/air/series", air, measure="CO")[0] == 400  # no place
    status, body = _get("/air/status", air)
    assert status == 200 and body["latest_anomaly"] == "2026-12-03T03:00:00"
