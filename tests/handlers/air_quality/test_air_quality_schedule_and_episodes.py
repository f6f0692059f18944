"""The detector Lambda's scheduled check, episode alerts with their SNS attributes, a filtered
subscription, and the read API / CLI over the same tables (mock_aws)."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from pydantic import ValidationError

from local.standins.air_quality_pipeline import (
    ScheduleTimer,
    deliver_to_lambda,
    read_alerts,
    scheduled_event,
)
from tests.handlers.air_quality.test_air_quality_detector_handler import (
    HISTORY_HOURS,
    START,
    _live,
    s3_put,
)
from tests.handlers.air_quality.test_air_quality_detector_handler import (
    aws as aws,  # the fixture, shared with the detector handler's tests
)
from tests.unit.air_quality.helpers import as_lines
from vigil.air_quality.read_api import detector_status, list_episodes
from vigil.air_quality.service import service_from_environment
from vigil.aws import client

LIVE = START + timedelta(hours=HISTORY_HOURS)


def _subscribe(topic_arn: str, name: str, policy: dict) -> str:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client("sns").subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps(policy)},
    )
    return url


def test_the_schedule_finds_silent_places_once_and_data_brings_recovery(
    aws, lambda_context, monkeypatch
):
    from lambdas.air_quality.detector.handler import handler

    resources, _ = aws
    maintenance = _subscribe(resources.topic_arn, "maintenance", {"kind": ["silent"]})
    # no object arrives after the history: only the scheduled trigger can notice
    clock = [LIVE + timedelta(hours=6)]
    timer = ScheduleTimer(handler, lambda_context, clock=lambda: clock[0])
    first = timer.tick()
    assert first["silent"] == 4 and first["alerts_published"] == 4
    clock[0] += timedelta(hours=1)
    again = timer.tick()
    assert again["silent"] == 0 and again["alerts_published"] == 0
    alerts = read_alerts(maintenance)
    assert len(alerts) == 4
    assert {a["attributes"]["kind"] for a in alerts} == {"silent"}
    assert {a["attributes"]["LOCATION_ID"] for a in alerts} == {"B-101", "B-102"}
    assert all(a["subject"].startswith("[air-quality] silent:") for a in alerts)

    service = service_from_environment(os.environ)
    status = detector_status(service, LIVE + timedelta(hours=7))
    assert status["status"] == "silent" and status["by_status"]["silent"] == 4

    def fault(h, loc, record):  # one measure of one place departs: a sensor fault
        if h in (3, 4) and loc == "B-101":
            record["CO"] = round(record["CO"] * 5, 3)

    totals = handler(
        s3_put(resources.bucket, "readings/a/obj-1", as_lines(_live(fault))), lambda_context
    )
    assert totals["recovered"] == 4
    recovered = [
        a for a in read_alerts(maintenance) if a["attributes"]["transition"] == "recovered"
    ]
    assert len(recovered) == 4
    episodes = list_episodes(service)
    fault_episodes = [e for e in episodes if e["place"] == "LOCATION_ID=B-101"]
    assert fault_episodes and fault_episodes[0]["kind"] == "sensor_fault"
    assert fault_episodes[0]["measures"] == ["CO"]
    assert list_episodes(service, kind="event", since="2099-01-01") == []
    sent = [
        a for a in read_alerts(resources.queue_url) if a["attributes"]["transition"] == "opened"
    ]
    co = [a for a in sent if a["attributes"]["LOCATION_ID"] == "B-101"]
    assert len(co) == 1  # 03:00 and 04:00: one episode, one alert
    assert co[0]["attributes"]["kind"] == "sensor_fault"
    assert json.loads(co[0]["attributes"]["measure"]) == ["CO"]
    assert "likely sensor fault" in co[0]["subject"]
    assert detector_status(service, LIVE + timedelta(hours=24))["status"] == "active"


def test_a_malformed_scheduled_event_is_refused(aws, lambda_context):
    from lambdas.air_quality.detector.handler import handler

    bad = scheduled_event(LIVE)
    bad["time"] = "not a time"
    with pytest.raises(ValidationError):
        handler(bad, lambda_context)


def test_the_status_cli_reads_the_same_tables(aws, capsys):
    from vigil.air_quality.__main__ import main

    assert main(["status", "--summary", "--now", (LIVE + timedelta(hours=1)).isoformat()]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["detector"] == "air-quality" and answer["series_count"] == 4
    assert answer["by_status"]["active"] == 4 and "series" not in answer
    assert main(["episodes", "--since", "2026-01-01"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_feedback_is_stored_learnt_and_refused_for_a_missing_episode(aws, lambda_context, capsys):
    from lambdas.air_quality.detector.handler import handler
    from vigil.air_quality.__main__ import main
    from vigil.air_quality.engine import Detector
    from vigil.air_quality.read_api import EpisodeNotFound, record_feedback

    resources, cfg = aws

    def fault(h, loc, record):
        if h == 3 and loc == "B-101":
            record["CO"] = round(record["CO"] * 5, 3)

    handler(s3_put(resources.bucket, "readings/f/obj-1", as_lines(_live(fault))), lambda_context)
    service = service_from_environment(os.environ)
    (episode,) = [e for e in list_episodes(service) if e["place"] == "LOCATION_ID=B-101"]
    capsys.readouterr()  # the handler's log lines
    assert main(["feedback", episode["id"], "not_anomaly", "--note", "calibration"]) == 0
    assert json.loads(capsys.readouterr().out)["feedback"] == "not_anomaly"
    (stored,) = [e for e in list_episodes(service) if e["id"] == episode["id"]]
    assert stored["feedback"] == "not_anomaly"
    # the place's shard learnt it: the episode's pattern now needs 10 more severity points
    state = service.state.load(list(range(cfg.state_shards)))
    muted = {}
    for part in state.values():
        if part.data:
            muted |= Detector.from_bytes(part.data, cfg).annotations.get("muted", {})
    assert muted and set(muted.values()) == {10.0}
    assert all(key.startswith("CO[LOCATION_ID=B-101]|") for key in muted)

    with pytest.raises(EpisodeNotFound):
        record_feedback(service, "2026-01-01T00:00#LOCATION_ID=nowhere", "anomaly")
    assert main(["feedback", "2026-01-01T00:00#LOCATION_ID=nowhere", "anomaly"]) == 2
    with pytest.raises(ValueError, match="feedback must be one of"):
        record_feedback(service, episode["id"], "maybe")


def test_the_sample_action_opens_and_closes_maintenance_tickets(aws, lambda_context, monkeypatch):
    """Detector → SNS (filter: sensor faults and silent series) → the ticket Lambda."""
    from lambdas.air_quality.detector.handler import handler
    from lambdas.air_quality.maintenance_ticket import handler as tickets
    from vigil.air_quality.maintenance import act_on_alert, list_tickets

    resources, cfg = aws
    monkeypatch.setenv("TICKET_TABLE", resources.anomaly_table)
    tickets.settings.cache_clear()
    inbox = _subscribe(resources.topic_arn, "tickets", {"kind": ["sensor_fault", "silent"]})
    ScheduleTimer(handler, lambda_context, clock=lambda: LIVE + timedelta(hours=6)).tick()
    opened = deliver_to_lambda(inbox, tickets.handler, lambda_context)
    assert [r["action"] for r in opened] == ["open"] * 4

    def fault(h, loc, record):
        if h == 3 and loc == "B-101":
            record["CO"] = round(record["CO"] * 5, 3)

    handler(s3_put(resources.bucket, "readings/t/obj-1", as_lines(_live(fault))), lambda_context)
    changed = deliver_to_lambda(inbox, tickets.handler, lambda_context)
    assert sorted(r["action"] for r in changed) == ["close"] * 4 + ["open"]
    state = list_tickets(resources.anomaly_table, cfg.name)
    assert (
        sorted((t["kind"], t["status"]) for t in state)
        == [("sensor_fault", "open")] + [("silent", "closed")] * 4
    )
    # bad or unrelated input is ignored with its reason, never a crash
    ignored = act_on_alert(resources.anomaly_table, "no details", {"kind": {"Value": "silent"}})
    assert ignored["action"] == "ignored"
    attributes = {
        "kind": {"Value": "silent"},
        "transition": {"Value": "silent"},
        "detector": {"Value": cfg.name},
    }
    assert act_on_alert(resources.anomaly_table, "text\n{broken", attributes)["action"] == (
        "ignored"
    )


def test_completeness_per_interval_counts_a_place_that_went_quiet(aws, lambda_context):
    from lambdas.air_quality.detector.handler import handler
    from vigil.air_quality.read_api import data_quality

    resources, _ = aws
    day = [r for r in _live() if r["LOCATION_ID"] == "B-101" or r["TIMESTAMP"][11:13] < "12"]
    totals = handler(s3_put(resources.bucket, "readings/q/obj-1", as_lines(day)), lambda_context)
    assert totals["late"] == 0 and totals["duplicates"] == 0
    service = service_from_environment(os.environ)
    rows = {r["interval_start"][11:]: r for r in data_quality(service, since="2026", until="2027")}
    assert rows["06:00"]["completeness"] == 1.0 and rows["06:00"]["expected"] == 4
    # B-102 (its own shard) stopped at 12:00: its shard closes nothing, and still counts
    assert {k: rows["18:00"][k] for k in ("reporting", "expected", "completeness")} == {
        "reporting": 2,
        "expected": 4,
        "completeness": 0.5,
    }
    assert rows["18:00"]["received"] == rows["18:00"]["accepted"] == 1  # B-101's one record
