"""The series chart's read API on what the real detector stored: every closed interval of a
series with its expected value and band, the detector's anomalies marked, pages, and 4xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from local.standins.air_quality_pipeline import learnt_detector
from vigil import aws
from vigil.air_quality.config import DetectorConfig, Measure
from vigil.air_quality.interval_table import TTL_ATTRIBUTE, intervals_partition
from vigil.air_quality.simulator import generate
from vigil.console.contract import ConsoleSettings
from vigil.console.read_api import handle_event

DETECTOR = "series-it"
START = datetime(2026, 1, 5)
HISTORY_STEPS = 12 * 24 * 2
LIVE_STEPS = 24
SPIKE_STEP = HISTORY_STEPS + 10


def _get(settings: ConsoleSettings, **params) -> tuple[int, dict]:
    event = {"httpMethod": "GET", "path": "/air/series", "queryStringParameters": params or None}
    answer = handle_event(event, settings, aws.client("dynamodb"), now=datetime.now(UTC))
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def scored(moto_server) -> ConsoleSettings:
    config = DetectorConfig(
        name=DETECTOR,
        measures=[Measure(name="CO"), Measure(name="NO2")],
        dimensions=["LOCATION_ID"],
        interval_minutes=5,
        lateness_minutes=1,
        severity_threshold=40,
    )
    records, _ = generate(
        2, START, HISTORY_STEPS + LIVE_STEPS, 5, anomalies=[(0, "NO2", "spike", SPIKE_STEP, 1)]
    )
    cut = (START + timedelta(minutes=5 * HISTORY_STEPS)).strftime("%Y-%m-%d %H:%M")
    history = pd.DataFrame([r for r in records if r["TIMESTAMP"] < cut])
    live = "\n".join(json.dumps(r) for r in records if r["TIMESTAMP"] >= cut).encode()
    local = learnt_detector(config, history, "vigil-series", setenv=lambda k, v: None)
    result = local.service.process_records(live, source="series", bucket=local.resources.bucket)
    assert result.anomalies >= 1, result.counts()
    return ConsoleSettings(anomaly_table=local.resources.anomaly_table, detector_name=DETECTOR)


def test_a_series_has_every_closed_interval_with_its_band_and_the_spike_marked(scored):
    spike = (START + timedelta(minutes=5 * SPIKE_STEP)).strftime("%Y-%m-%dT%H:%M")
    status, body = _get(scored, measure="NO2", place="LOCATION_ID=B-101", limit="200")
    assert status == 200, body
    points = body["items"]
    starts = [p["interval_start"] for p in points]
    # the live stretch's intervals (the last one is still open), oldest first
    assert len(points) >= LIVE_STEPS - 2 and starts == sorted(starts)
    assert {p["interval_start"] for p in points if p["anomaly"]} >= {spike}
    marked = next(p for p in points if p["interval_start"] == spike)
    assert marked["observed"] > marked["high"] > marked["expected"] > marked["low"] >= 0
    calm = [p for p in points if not p["anomaly"] and p["low"] is not None]
    inside = sum(p["low"] <= p["observed"] <= p["high"] for p in calm)
    assert inside >= 0.8 * len(calm)  # ± 2 forecast scales holds most calm readings
    # the other place never spiked: its series has no anomaly
    status, other = _get(scored, measure="NO2", place="LOCATION_ID=B-102")
    assert status == 200 and other["items"] and not any(p["anomaly"] for p in other["items"])


def test_the_record_is_bounded_and_stays_out_of_the_place_index(scored):
    ddb = aws.client("dynamodb")
    items = ddb.query(
        TableName=scored.anomaly_table,
        KeyConditionExpression="detector = :p",
        ExpressionAttributeValues={":p": {"S": intervals_partition(DETECTOR, "LOCATION_ID=B-101")}},
    )["Items"]
    assert items and all(TTL_ATTRIBUTE in i for i in items)
    assert all(set(json.loads(i["measures"]["S"])) == {"CO", "NO2"} for i in items)
    assert not any("dimensions" in i or "interval_start" in i for i in items)


def test_series_pages_continue_where_the_last_ended(scored):
    seen, token = [], None
    for _ in range(30):
        params = {"measure": "CO", "place": "LOCATION_ID=B-102", "limit": "5"}
        status, body = _get(scored, **params, **({"next": token} if token else {}))
        assert status == 200, body
        seen += [p["interval_start"] for p in body["items"]]
        token = body["next"]
        if token is None:
            break
    _, whole = _get(scored, measure="CO", place="LOCATION_ID=B-102")
    assert seen == [p["interval_start"] for p in whole["items"]] and len(seen) > 5


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"place": "LOCATION_ID=B-101"}, "measure"),
        ({"measure": "CO"}, "place"),
        ({"measure": "CO", "place": "B-101"}, "place"),
        ({"measure": "CO", "place": "LOCATION_ID=B-101", "limit": "0"}, "limit"),
        ({"measure": "CO", "place": "LOCATION_ID=B-101", "from": "soon"}, "from"),
        ({"measure": "CO", "place": "LOCATION_ID=B-101", "next": "bm90IGEgdG9rZW4"}, "next"),
        ({"measure": "CO", "place": "LOCATION_ID=B-101", "series": "CO"}, "series"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(moto_server, params, parameter):
    settings = ConsoleSettings(anomaly_table="unused", detector_name=DETECTOR)
    status, body = _get(settings, **params)
    assert status == 400 and body["errors"][0]["parameter"] == parameter, body
