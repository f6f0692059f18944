"""The console's air-quality operations routes on the detector's own tables: detector and series
status, data quality per interval, episodes, and the feedback write, which the detector learns
at its next run; bad input is a 4xx naming what is wrong."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from local.standins.air_quality_pipeline import scheduled_event
from tests.handlers.air_quality.test_air_quality_detector_handler import (
    DAY,
    HISTORY_HOURS,
    START,
    _live,
    s3_put,
)
from tests.handlers.air_quality.test_air_quality_detector_handler import (
    aws as aws,  # the fixture: the detector's tables on moto, history learnt
)
from tests.unit.air_quality.helpers import as_lines
from vigil.air_quality.episode_table import pending_feedback
from vigil.air_quality.service import service_from_environment
from vigil.aws import client
from vigil.console.contract import ConsoleSettings
from vigil.console.read_api import handle_event

LIVE = START + timedelta(hours=HISTORY_HOURS)


def _call(settings, path, *, method="GET", body=None, now=None, **params) -> tuple[int, dict]:
    event = {
        "httpMethod": method,
        "path": "/api" + path,
        "queryStringParameters": params or None,
        "body": body,
    }
    answer = handle_event(event, settings, client("dynamodb"), now=now)
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def console(aws, lambda_context):
    from lambdas.air_quality.detector.handler import handler

    resources, cfg = aws

    def fault(h, loc, record):  # CO of B-101 departs alone for two hours
        if h in (3, 4) and loc == "B-101":
            record["CO"] = round(record["CO"] * 5, 3)

    handler(s3_put(resources.bucket, "readings/c/obj-1", as_lines(_live(fault))), lambda_context)
    settings = ConsoleSettings(anomaly_table=resources.anomaly_table, detector_name=cfg.name)
    return settings, resources, cfg


def test_status_series_and_data_quality_for_the_page(console):
    settings, _, _ = console
    now = LIVE + timedelta(hours=25)
    status, body = _call(settings, "/air/status", now=now.replace(tzinfo=UTC))
    assert status == 200
    assert body["status"] == "active" and body["by_status"] == {
        "learning": 0,
        "active": 4,
        "silent": 0,
    }
    assert body["state"] == "active" and body["series_total"] == 4
    rows = {row["series"]: row for row in body["series"]}
    # the last scored interval (23:00 is still open) and whole intervals since, judged at now
    assert rows["CO[LOCATION_ID=B-101]"]["last_data"] == f"{DAY}T22:00"
    assert rows["CO[LOCATION_ID=B-101]"]["intervals_since_data"] == 2

    status, body = _call(settings, "/air/quality")  # the day up to the newest closed interval
    assert status == 200 and body["items"]
    assert all(
        r["received"] == r["accepted"] + r["duplicate"] + r["rejected"] for r in body["items"]
    )
    assert body["items"][0]["completeness"] == 1.0
    status, body = _call(settings, "/air/quality", **{"from": f"{DAY}T03:00", "to": f"{DAY}T03:59"})
    assert [r["interval_start"] for r in body["items"]] == [f"{DAY}T03:00"]
    assert body["items"][0]["received"] == 2

    for params, parameter in (
        ({"from": "yesterday"}, "from"),
        ({"from": f"{DAY}T05:00", "to": f"{DAY}T01:00"}, "from"),
        ({"shard": "1"}, "shard"),
    ):
        status, body = _call(settings, "/air/quality", **params)
        assert status == 400 and body["errors"][0]["parameter"] == parameter


def test_feedback_from_the_page_is_stored_and_learnt_by_the_next_run(console, lambda_context):
    from lambdas.air_quality.detector.handler import handler

    settings, resources, cfg = console
    status, body = _call(settings, "/air/episodes", kind="sensor_fault")
    (episode,) = [e for e in body["items"] if e["place"] == "LOCATION_ID=B-101"]
    assert episode["departure"]["measure"] == "CO"

    answer = {"episode": episode["id"], "verdict": "not_anomaly", "note": "cleaning crew"}
    status, body = _call(settings, "/air/feedback", method="POST", body=json.dumps(answer))
    assert status == 200 and body["feedback"] == "not_anomaly" and body["id"] == episode["id"]
    _, listed = _call(settings, "/air/episodes", kind="sensor_fault")
    assert [e["feedback"] for e in listed["items"] if e["id"] == episode["id"]] == ["not_anomaly"]
    service = service_from_environment(os.environ)
    assert [
        p["id"] for p in pending_feedback(client("dynamodb"), resources.anomaly_table, cfg.name)
    ] == [episode["id"]]

    # the detector's next run (here the schedule) learns it and empties the queue
    handler(scheduled_event(datetime(2026, 1, 20, 1, 0, tzinfo=UTC)), lambda_context)
    assert pending_feedback(client("dynamodb"), resources.anomaly_table, cfg.name) == []
    shard = service.shard_of_episode(episode)
    from vigil.air_quality.engine import Detector

    detector = Detector.from_bytes(service.state.load([shard])[shard].data, cfg)
    assert detector.annotations["muted"] == {
        f"CO[LOCATION_ID=B-101]|{reason}": 10.0 for reason in episode["reasons"]
    }


@pytest.mark.parametrize(
    ("body", "status", "parameter"),
    [
        ("{not json", 400, "body"),
        (json.dumps(["a"]), 400, "body"),
        (json.dumps({"episode": "x", "verdict": "maybe"}), 400, "verdict"),
        (json.dumps({"verdict": "anomaly"}), 400, "episode"),
        (json.dumps({"episode": "x", "verdict": "anomaly", "note": "n" * 501}), 400, "note"),
        (json.dumps({"episode": "x", "verdict": "anomaly", "by": "me"}), 400, "by"),
        (json.dumps({"episode": "2020-01-01T00:00#nowhere", "verdict": "anomaly"}), 404, None),
    ],
)
def test_bad_feedback_is_refused_and_nothing_is_queued(console, body, status, parameter):
    settings, resources, cfg = console
    got, answer = _call(settings, "/air/feedback", method="POST", body=body)
    assert got == status, answer
    if parameter:
        assert answer["errors"][0]["parameter"] == parameter
    else:
        assert "no episode" in answer["message"]
    assert pending_feedback(client("dynamodb"), resources.anomaly_table, cfg.name) == []


def test_feedback_is_post_only_and_reads_are_get_only(console):
    settings, _, _ = console
    assert _call(settings, "/air/feedback")[0] == 405
    assert _call(settings, "/air/episodes", method="POST", body="{}")[0] == 405
