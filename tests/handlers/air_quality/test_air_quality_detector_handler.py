"""The detector Lambda under mock_aws: S3 event → DynamoDB state → SNS alert read back via SQS."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from moto import mock_aws

from local.standins.air_quality_pipeline import provision, read_alerts
from tests.conftest import EVENTS
from tests.unit.air_quality.helpers import as_lines, config, records
from vigil.air_quality.service import BY_DIMENSION_INDEX, DetectorService
from vigil.air_quality.sharding import shard_of
from vigil.air_quality.state_store import ShardedStateStore
from vigil.aws import client

START = datetime(2026, 1, 5)
HISTORY_HOURS = 2 * 24 * 7
DAY = (START + timedelta(hours=HISTORY_HOURS)).strftime("%Y-%m-%d")  # the live day


@pytest.fixture
def aws(monkeypatch):
    with mock_aws():
        resources = provision("vigil-air-test")
        cfg = config(cooldown_minutes=120, state_shards=16)  # B-101 and B-102 in two shards
        for name, value in resources.environment(cfg).items():
            monkeypatch.setenv(name, value)
        service = DetectorService(
            cfg,
            state_table=resources.state_table,
            anomaly_table=resources.anomaly_table,
            topic_arn=resources.topic_arn,
        )
        service.learn_and_store(
            service_batch(records(START, HISTORY_HOURS, locations=("B-101", "B-102")), cfg)
        )
        yield resources, cfg


def shard_version(resources, cfg, location: str) -> int:
    """The stored state version of the shard that holds ``location`` (0: never stored)."""
    store = ShardedStateStore(resources.state_table, cfg.name, cfg.state_shards)
    head = client("dynamodb").get_item(
        TableName=resources.state_table,
        Key={
            "pk": {"S": store.partition(shard_of(location, cfg.state_shards))},
            "sk": {"S": "head"},
        },
    )
    return int(head["Item"]["version"]["N"]) if "Item" in head else 0


def service_batch(items, cfg):
    from vigil.air_quality.records import parse_json_lines

    return parse_json_lines(as_lines(items), cfg)


def s3_put(bucket: str, key: str, body: bytes) -> dict:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    event = json.loads((EVENTS / "air_quality_s3_put.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    event["Records"][0]["s3"]["object"]["key"] = key
    event["Records"][0]["s3"]["object"]["size"] = len(body)
    return event


def _live(change=None, hours=24):
    return records(
        START + timedelta(hours=HISTORY_HOURS), hours, locations=("B-101", "B-102"), change=change
    )


def test_s3_event_to_state_anomalies_and_an_alert(aws, lambda_context):
    from lambdas.air_quality.detector.handler import handler

    resources, cfg = aws

    def spike(h, loc, record):
        if h == 3 and loc == "B-102":
            record["NO2"] = round(record["NO2"] * 4, 2)

    event = s3_put(resources.bucket, "readings/2026/01/26/00/obj-1", as_lines(_live(spike)))
    totals = handler(event, lambda_context)
    assert totals["received"] == 48 and totals["rejected"] == 0
    assert totals["received"] == totals["processed"] + totals["rejected"]
    assert totals["anomalies"] >= 1 and totals["alerts_published"] >= 1

    ddb = client("dynamodb")
    for location in ("B-101", "B-102"):  # learnt (1), then this object (2)
        assert shard_version(resources, cfg, location) == 2

    by_dimension = ddb.query(
        TableName=resources.anomaly_table,
        IndexName=BY_DIMENSION_INDEX,
        KeyConditionExpression="dimensions = :d AND interval_start BETWEEN :a AND :b",
        ExpressionAttributeValues={
            ":d": {"S": "LOCATION_ID=B-102"},
            ":a": {"S": f"{DAY}T00:00"},
            ":b": {"S": f"{DAY}T23:59"},
        },
    )["Items"]
    spike_items = [i for i in by_dimension if i["interval_start"]["S"] == f"{DAY}T03:00"]
    assert spike_items and spike_items[0]["measure"]["S"] == "NO2"
    by_time = ddb.query(
        TableName=resources.anomaly_table,
        KeyConditionExpression="detector = :n AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={
            ":n": {"S": "air-quality"},
            ":a": {"S": f"{DAY}T03:00"},
            ":b": {"S": f"{DAY}T03:00~"},
        },
    )["Items"]
    assert any(i["series"]["S"] == "NO2[LOCATION_ID=B-102]" for i in by_time)

    alerts = read_alerts(resources.queue_url)
    spike_alert = [a for a in alerts if "NO2" in a["subject"] and "B-102" in a["subject"]]
    assert spike_alert, [a["subject"] for a in alerts]
    text = spike_alert[0]["message"]
    assert f"{DAY}T03:00" in text and "expected about" in text and "observed" in text
    assert "LOCATION_ID: B-102" in text


def test_malformed_records_go_to_the_error_prefix_and_nothing_is_lost(aws, lambda_context):
    from lambdas.air_quality.detector.handler import handler

    resources, _ = aws
    good = _live(hours=6)
    lines = [json.dumps(r) for r in good] + [
        "{broken",
        json.dumps({"TIMESTAMP": f"{DAY} 01:00", "LOCATION_ID": "B-101", "CO": "high", "NO2": 5}),
        json.dumps({"TIMESTAMP": f"{DAY} 01:00", "CO": 1.0, "NO2": 5}),
        '{"TIMESTAMP":"' + DAY + ' 01:00","LOCATION_ID":"B-101","CO":NaN,"NO2":5}',
        json.dumps(good[0]),  # a duplicate: processed (counted once), not rejected
    ]
    body = ("\n".join(lines) + "\n").encode()
    totals = handler(s3_put(resources.bucket, "readings/x/obj-2", body), lambda_context)
    assert totals["received"] == len(lines) == totals["processed"] + totals["rejected"]
    assert totals["rejected"] == 4 and totals["duplicates"] == 1

    s3 = client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=resources.bucket, Prefix="errors/detector/")["Contents"]
    ]
    assert len(keys) == 1
    errors = [
        json.loads(line)
        for line in s3.get_object(Bucket=resources.bucket, Key=keys[0])["Body"].read().splitlines()
    ]
    assert len(errors) == 4
    assert {e["source"] for e in errors} == {f"s3://{resources.bucket}/readings/x/obj-2"}
    assert any("not valid JSON" in e["reason"] and e["record"] == "{broken" for e in errors)
    assert any("CO must be a number" in e["reason"] for e in errors)
    assert any("missing field LOCATION_ID" in e["reason"] for e in errors)
    assert any("not a finite number" in e["reason"] for e in errors)

    # S3 may deliver the same event twice: the second delivery is recognised and skipped.
    again = handler(s3_put(resources.bucket, "readings/x/obj-2", body), lambda_context)
    assert again["received"] == 0


def test_cool_down_suppresses_repeated_alerts_per_series(aws, lambda_context):
    from lambdas.air_quality.detector.handler import handler

    resources, _ = aws

    def burst(h, loc, record):  # worse at 04:00 than at 03:00: the engine raises both
        if h in (3, 4) and loc == "B-101":
            record["CO"] = round(record["CO"] * (2 if h == 3 else 6), 3)

    totals = handler(
        s3_put(resources.bucket, "readings/y/obj-3", as_lines(_live(burst))), lambda_context
    )
    assert totals["anomalies"] >= 2
    assert totals["alerts_suppressed"] >= 1  # 04:00 falls within 03:00's 120-minute cool-down
    co_alerts = [
        a for a in read_alerts(resources.queue_url) if a["subject"].startswith("[air-quality] CO")
    ]
    assert len(co_alerts) == 1


def test_without_state_the_detector_learns_from_the_history_prefix(lambda_context, monkeypatch):
    """First run in the cloud: no state yet, so learn from s3://bucket/history/ before scoring."""
    from lambdas.air_quality.detector.handler import handler

    with mock_aws():
        resources = provision("vigil-air-history")
        cfg = config(history=f"s3://{resources.bucket}/history/")
        for name, value in resources.environment(cfg).items():
            monkeypatch.setenv(name, value)
        history = records(START, HISTORY_HOURS, locations=("B-101", "B-102"))
        client("s3").put_object(
            Bucket=resources.bucket, Key="history/2026/01.jsonl", Body=as_lines(history)
        )

        def spike(h, loc, record):
            if h == 3 and loc == "B-101":
                record["CO"] = round(record["CO"] * 4, 3)

        totals = handler(
            s3_put(resources.bucket, "readings/z/obj-4", as_lines(_live(spike))), lambda_context
        )
        assert totals["received"] == 48 and totals["anomalies"] >= 1
        assert shard_version(resources, cfg, "B-101") == 1
        subjects = [a["subject"] for a in read_alerts(resources.queue_url)]
        assert any(s.startswith("[air-quality] CO anomaly at B-101") for s in subjects), subjects


def test_a_failed_publish_loses_neither_the_readings_nor_the_alert(
    aws, lambda_context, monkeypatch
):
    """SNS fails once; Lambda redelivers the same object: the alert goes out, nothing is late."""
    from botocore.exceptions import ClientError

    from lambdas.air_quality.detector import handler as module

    resources, _ = aws

    def spike(h, loc, record):
        if h == 3 and loc == "B-102":
            record["NO2"] = round(record["NO2"] * 4, 2)

    body = as_lines(_live(spike)) + b"{broken\n"
    event = s3_put(resources.bucket, "readings/2026/01/26/00/obj-5", body)
    sns = module._get_service().sns
    publish, calls = sns.publish, []

    def failing_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "InternalError"}}, "Publish")
        return publish(**kwargs)

    monkeypatch.setattr(sns, "publish", failing_once)
    with pytest.raises(ClientError):
        module.handler(event, lambda_context)

    totals = module.handler(event, lambda_context)  # Lambda's retry of the same object
    assert totals["received"] == 49 and totals["rejected"] == 1  # only the broken line
    assert totals["anomalies"] >= 1 and totals["alerts_published"] >= 1
    # both attempts wrote the broken line's error record, to the same object: it is there once
    listed = client("s3").list_objects_v2(Bucket=resources.bucket, Prefix="errors/detector/")
    assert listed["KeyCount"] == 1
    subjects = [a["subject"] for a in read_alerts(resources.queue_url)]
    assert sum("NO2" in s and "B-102" in s for s in subjects) == 1, subjects

    # a third delivery of the now fully processed object neither pages again nor rejects
    again = module.handler(event, lambda_context)
    assert again["received"] == 0 and again["rejected"] == 0
    assert not [a for a in read_alerts(resources.queue_url) if "NO2" in a["subject"]]


def _service(resources, cfg) -> DetectorService:
    return DetectorService(
        cfg,
        state_table=resources.state_table,
        anomaly_table=resources.anomaly_table,
        topic_arn=resources.topic_arn,
    )


def test_an_object_reads_and_writes_only_the_shards_of_its_places(aws):
    resources, cfg = aws
    assert shard_of("B-101", cfg.state_shards) != shard_of("B-102", cfg.state_shards)
    only_b101 = [r for r in _live() if r["LOCATION_ID"] == "B-101"]
    service = _service(resources, cfg)
    result = service.process_records(as_lines(only_b101), source="test", bucket=resources.bucket)
    assert result.received == len(only_b101) == result.processed + result.rejected
    assert shard_version(resources, cfg, "B-101") == 2
    assert shard_version(resources, cfg, "B-102") == 1  # untouched: neither read nor written
    assert service.state.traffic.items_read == 2  # B-101's head and its one chunk


def test_a_concurrent_writer_of_one_shard_cancels_the_whole_commit(aws, monkeypatch):
    """Both shards commit together or not at all: the retry then scores every reading again."""
    from vigil.air_quality.state_store import StateConflict

    resources, cfg = aws
    service = _service(resources, cfg)
    rival = ShardedStateStore(resources.state_table, cfg.name, cfg.state_shards)
    b102 = shard_of("B-102", cfg.state_shards)
    load = service.state.load

    def load_then_rival_writes(shards):
        states = load(shards)
        stored = rival.load([b102])[b102]
        rival.save({b102: (stored.data, stored)})  # another invocation commits B-102 first
        return states

    monkeypatch.setattr(service.state, "load", load_then_rival_writes)
    with pytest.raises(StateConflict):
        service.process_records(as_lines(_live()), source="test", bucket=resources.bucket)
    assert shard_version(resources, cfg, "B-101") == 1  # not committed alone
    assert shard_version(resources, cfg, "B-102") == 2  # the rival's version
    monkeypatch.setattr(service.state, "load", load)
    retry = service.process_records(as_lines(_live()), source="test", bucket=resources.bucket)
    assert retry.received == 48 and retry.rejected == 0 and retry.duplicates == 0
    assert shard_version(resources, cfg, "B-101") == 2
    assert shard_version(resources, cfg, "B-102") == 3


def test_state_in_s3_one_object_per_shard_replaced_only_if_unchanged(aws):
    """stateStore s3: the same shards as S3 objects, each written with If-Match on its ETag."""
    from vigil.air_quality.state_store import StateConflict

    resources, cfg = aws
    service = DetectorService(
        cfg,
        state_table=resources.state_table,
        anomaly_table=resources.anomaly_table,
        topic_arn=resources.topic_arn,
        state_bucket=resources.bucket,
    )
    history = service_batch(records(START, HISTORY_HOURS, locations=("B-101", "B-102")), cfg)
    service.learn_and_store(history)
    s3 = client("s3")
    b101, b102 = (
        service.state.partition(shard_of(p, cfg.state_shards)) for p in ("B-101", "B-102")
    )
    before = s3.head_object(Bucket=resources.bucket, Key=b102)["ETag"]
    only_b101 = [r for r in _live() if r["LOCATION_ID"] == "B-101"]
    result = service.process_records(as_lines(only_b101), source="t", bucket=resources.bucket)
    assert result.received == len(only_b101) == result.processed
    assert s3.head_object(Bucket=resources.bucket, Key=b101)["Metadata"]["version"] == "2"
    assert s3.head_object(Bucket=resources.bucket, Key=b102)["ETag"] == before  # untouched

    stale = service.state.load([shard_of("B-101", cfg.state_shards)])
    k = shard_of("B-101", cfg.state_shards)
    rival = stale[k].data + b"\0"  # another state (a rival with the same bytes changes nothing)
    service.state.save({k: (rival, stale[k])})  # the rival commits first
    with pytest.raises(StateConflict):
        service.state.save({k: (stale[k].data, stale[k])})  # the loser read the same ETag
