"""The console's read API answers the air-quality detector's episodes (moto server)."""

from __future__ import annotations

import json

from local.standins.air_quality_pipeline import provision
from tests.handlers.console.test_console_read_api import _get
from vigil import aws
from vigil.air_quality.episode_table import episode_partition
from vigil.console.contract import ConsoleSettings


def test_episodes_by_time_and_kind_and_bad_kind_is_400(moto_server):
    resources = provision("vigil-console-episodes")
    ddb = aws.client("dynamodb")
    for start, place, kind in [
        ("2026-12-03T01:00", "A", "sensor_fault"),
        ("2026-12-03T05:00", "B", "event"),
    ]:
        episode = {"id": f"{start}#LOCATION_ID={place}", "start": start, "kind": kind}
        ddb.put_item(
            TableName=resources.anomaly_table,
            Item={
                "detector": {"S": episode_partition("aq")},
                "sk": {"S": episode["id"]},
                "status": {"S": "closed"},
                "kind": {"S": kind},
                "peak_severity": {"N": "70"},
                "episode": {"S": json.dumps(episode)},
            },
        )
    settings = ConsoleSettings(anomaly_table=resources.anomaly_table, detector_name="aq")
    status, body = _get("/air/episodes", settings)
    assert status == 200 and [e["kind"] for e in body["items"]] == ["sensor_fault", "event"]
    status, body = _get("/air/episodes", settings, **{"from": "2026-12-03T05:00:00Z"})
    assert [e["start"] for e in body["items"]] == ["2026-12-03T05:00"]
    status, body = _get("/air/episodes", settings, kind="event")
    assert [e["kind"] for e in body["items"]] == ["event"]
    status, body = _get("/air/episodes", settings, kind="fire")
    assert status == 400 and body["errors"][0]["parameter"] == "kind"
    # the anomalies route still sees only anomalies, not the episodes beside them
    status, body = _get("/air/anomalies", settings)
    assert status == 200 and body["items"] == []
