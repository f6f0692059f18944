"""The whole local path: MQTT broker → topic-rule bridge → Firehose (moto server) → S3 →
detector handler → DynamoDB + SNS → SQS, with real engines on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pytest

from local.standins.air_quality_pipeline import (
    learnt_detector,
    read_alerts,
    running_path,
    wait_until_idle,
)
from local.standins.mqtt_broker import running_mqtt_broker
from vigil.air_quality.config import DetectorConfig, Measure
from vigil.air_quality.episode_table import data_quality_from_table
from vigil.air_quality.simulator import LocalPublisher, generate, publish_records, thing_name
from vigil.aws import client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = datetime(2026, 1, 5)
HISTORY_STEPS = 12 * 24 * 7  # one week of 5-minute readings


def test_readings_over_mqtt_become_alerts_and_errors(moto_server, monkeypatch, lambda_context):
    from lambdas.air_quality.detector import handler as detector_handler

    config = DetectorConfig(
        name="local-path",
        measures=[Measure(name=m) for m in ("CO", "SO2", "NO2")],
        dimensions=["LOCATION_ID"],
        interval_minutes=5,
        lateness_minutes=1,
        severity_threshold=40,
    )
    spike_step = HISTORY_STEPS + 12
    records, injected = generate(
        2, START, HISTORY_STEPS + 36, 5, anomalies=[(1, "NO2", "spike", spike_step, 1)]
    )
    cut = (START + timedelta(minutes=5 * HISTORY_STEPS)).strftime("%Y-%m-%d %H:%M")
    history = [r for r in records if r["TIMESTAMP"] < cut]
    live = [r for r in records if r["TIMESTAMP"] >= cut]

    resources = learnt_detector(
        config, pd.DataFrame(history), "vigil-air-it", setenv=monkeypatch.setenv
    ).resources

    malformed = [
        b"{oops",
        json.dumps({"TIMESTAMP": cut, "LOCATION_ID": "B-101", "CO": "x"}).encode(),
    ]
    with running_mqtt_broker() as broker:
        publisher = LocalPublisher(port=broker.port)
        with running_path(
            broker.port, resources, detector_handler.handler, lambda_context, buffer_seconds=0.5
        ) as (bridge, trigger):
            sent = sum(1 for _ in publish_records(publisher, live))
            for payload in malformed:
                publisher.publish(thing_name("B-101"), payload)
            publisher.close()
            assert wait_until_idle(bridge, trigger, sent + len(malformed), timeout=60)
    assert trigger.errors == []
    totals = {}
    for result in trigger.results:
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + value
    assert totals["received"] == sent + len(malformed)
    assert totals["received"] == totals["processed"] + totals["rejected"]
    assert totals["rejected"] == len(malformed)

    # Firehose on moto really wrote the objects the detector read.
    s3 = client("s3")
    objects = s3.list_objects_v2(Bucket=resources.bucket, Prefix="readings/")["Contents"]
    assert len(objects) == len(trigger.results)
    first = s3.get_object(Bucket=resources.bucket, Key=objects[0]["Key"])["Body"].read()
    assert b'"THING_NAME":"sensor-B-10' in first and b'"RECEIVED_AT":' in first

    errors = s3.list_objects_v2(Bucket=resources.bucket, Prefix="errors/detector/")["Contents"]
    assert len(errors) >= 1

    # data quality per interval, stored by the detector Lambda: every record counted once
    quality = data_quality_from_table(
        client("dynamodb"), resources.anomaly_table, config.name, since="2026", until="2027"
    )
    assert sum(row["received"] for row in quality) == totals["received"]
    assert sum(row["rejected"] for row in quality) == len(malformed)
    reasons = [code for row in quality for code in row["rejected_by_reason"]]
    assert "not_json" in reasons and len(reasons) == len(malformed)
    assert all(row["completeness"] == 1.0 for row in quality if row["completeness"] is not None)

    spike_at = injected[0].start.strftime("%Y-%m-%dT%H:%M")
    alerts = read_alerts(resources.queue_url, wait_s=1.0)
    hits = [a for a in alerts if "NO2" in a["subject"] and "B-102" in a["subject"]]
    assert hits and spike_at in hits[0]["message"], [a["subject"] for a in alerts]
