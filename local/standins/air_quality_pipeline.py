"""The air-quality path offline: MQTT broker → topic-rule bridge → Firehose (moto) → S3 → detector.

* ``provision(...)`` creates on moto server what the CDK stack creates in the cloud: the readings
  bucket, the Firehose delivery stream to it, the state and anomaly tables (with the byDimension
  index), the alert topic and an SQS queue subscribed to it (to read alerts back).
* ``TopicRuleBridge`` subscribes to the local broker on the rule's topic filter, applies the rule
  SQL (``vigil.air_quality.topic_rule``) and calls Firehose ``PutRecordBatch`` (newline-separated,
  as the IoT Firehose action with ``separator="\\n"``), buffering ``buffer_seconds``.
* ``learnt_detector(...)`` is ``provision`` plus what a first learn leaves behind: the detector's
  environment set and its state, learnt from a history frame, stored in DynamoDB;
  ``running_air_quality(...)`` runs that on a fresh moto server beside a local MQTT broker (the one
  local setup of the demo, the integration test and the benchmark).
* ``ScheduleTimer`` stands in for the EventBridge rule that invokes the detector every interval
  (silent series, quiet episodes): the real handler with a ``Scheduled Event``.
* ``S3Trigger`` stands in for the bucket's ObjectCreated notification: it lists ``readings/`` and
  invokes the real Lambda handler with an S3 event for each new object, one at a time (in the
  cloud, objects of different shards run in parallel; see ``cdk/air_quality/anomaly_detector.py``).

moto's Firehose writes each PutRecordBatch straight to S3 (no buffering, no dynamic partitioning,
and its own ``<prefix>YYYY/MM/DD/HH/`` layout), which is why the bridge buffers and the trigger
lists the whole prefix. Its objects hold every shard's records; the detector splits them by shard
itself (the same code that handles the cloud's one-shard objects).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from vigil.air_quality.config import DetectorConfig
from vigil.air_quality.interval_table import TTL_ATTRIBUTE as INTERVALS_TTL_ATTRIBUTE
from vigil.air_quality.records import validate_frame
from vigil.air_quality.service import BY_DIMENSION_INDEX, DetectorService
from vigil.air_quality.topic_rule import RULE_SQL, TopicRule
from vigil.aws import client, reset_clients

READINGS_PREFIX = "readings/"


@dataclass
class LocalResources:
    bucket: str
    stream: str
    state_table: str
    anomaly_table: str
    topic_arn: str
    queue_url: str

    def environment(self, config: DetectorConfig) -> dict[str, str]:
        """What the CDK stack sets on the detector Lambda."""
        return {
            "DETECTOR_CONFIG": config.model_dump_json(),
            "STATE_TABLE": self.state_table,
            "ANOMALY_TABLE": self.anomaly_table,
            "ALERT_TOPIC_ARN": self.topic_arn,
            "ERROR_PREFIX": "errors/detector/",
            "POWERTOOLS_SERVICE_NAME": "air-quality-detector",
            "POWERTOOLS_METRICS_NAMESPACE": "Vigil",
        }


def provision(prefix: str = "vigil-air") -> LocalResources:
    s3, firehose, ddb = client("s3"), client("firehose"), client("dynamodb")
    sns, sqs, iam = client("sns"), client("sqs"), client("iam")
    bucket = f"{prefix}-readings"
    s3.create_bucket(Bucket=bucket)
    role = iam.create_role(
        RoleName=f"{prefix}-firehose",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    stream = f"{prefix}-readings"
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": role,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": READINGS_PREFIX,
            "ErrorOutputPrefix": "errors/firehose/",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 5},
        },
    )
    state_table, anomaly_table = f"{prefix}-state", f"{prefix}-anomalies"
    ddb.create_table(
        TableName=state_table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName=anomaly_table,
        KeySchema=[
            {"AttributeName": "detector", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "detector", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "dimensions", "AttributeType": "S"},
            {"AttributeName": "interval_start", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": BY_DIMENSION_INDEX,
                "KeySchema": [
                    {"AttributeName": "dimensions", "KeyType": "HASH"},
                    {"AttributeName": "interval_start", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=anomaly_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": INTERVALS_TTL_ATTRIBUTE},
    )
    topic_arn = sns.create_topic(Name=f"{prefix}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{prefix}-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return LocalResources(bucket, stream, state_table, anomaly_table, topic_arn, queue_url)


@dataclass
class LocalDetector:
    resources: LocalResources
    service: DetectorService
    shards: dict[int, Any]  # shard → its learnt engine

    @property
    def series(self) -> int:
        return sum(len(detector.series) for detector in self.shards.values())

    broker_port: int | None = None  # set by running_air_quality


def learnt_detector(
    config: DetectorConfig,
    history: pd.DataFrame,
    prefix: str,
    *,
    setenv: Callable[[str, str], None] = os.environ.__setitem__,
) -> LocalDetector:
    """Provision on the current AWS endpoint, set the detector's environment with ``setenv`` and
    store its state learnt from ``history`` (what the stack's first learn leaves in DynamoDB)."""
    resources = provision(prefix)
    for name, value in resources.environment(config).items():
        setenv(name, value)
    service = DetectorService(
        config,
        state_table=resources.state_table,
        anomaly_table=resources.anomaly_table,
        topic_arn=resources.topic_arn,
    )
    shards = service.learn_and_store(validate_frame(history, config))
    return LocalDetector(resources=resources, service=service, shards=shards)


@contextlib.contextmanager
def running_air_quality(
    config: DetectorConfig, history: pd.DataFrame, prefix: str
) -> Iterator[LocalDetector]:
    """A fresh moto server and MQTT broker with :func:`learnt_detector` on them; the process
    environment and boto3 clients are restored on exit."""
    from local.standins.moto_server import running_moto_server
    from local.standins.mqtt_broker import running_mqtt_broker

    saved = dict(os.environ)
    try:
        with running_moto_server() as moto, running_mqtt_broker() as broker:
            os.environ.update(moto.environment())
            reset_clients()
            local = learnt_detector(config, history, prefix)
            local.broker_port = broker.port
            yield local
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_clients()


def read_alerts(queue_url: str, *, wait_s: float = 1.0) -> list[dict]:
    """SNS notifications delivered to the SQS subscription: [{subject, message, attributes,
    received_at}]."""
    sqs = client("sqs")
    out = []
    deadline = time.monotonic() + wait_s
    while True:
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages = response.get("Messages", [])
        for message in messages:
            body = json.loads(message["Body"])
            out.append(
                {
                    "subject": body.get("Subject"),
                    "message": body.get("Message"),
                    "attributes": {
                        name: value.get("Value")
                        for name, value in body.get("MessageAttributes", {}).items()
                    },
                    "received_at": time.time(),
                }
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if not messages:
            if time.monotonic() >= deadline:
                return out
            time.sleep(0.1)


class TopicRuleBridge:
    """Local stand-in for the IoT topic rule's Firehose action."""

    def __init__(
        self,
        broker_port: int,
        stream: str,
        *,
        sql: str = RULE_SQL,
        buffer_seconds: float = 1.0,
        host: str = "127.0.0.1",
    ):
        import paho.mqtt.client as mqtt

        self.rule = TopicRule(sql)
        self.stream = stream
        self.buffer_seconds = buffer_seconds
        self.firehose = client("firehose")
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.forwarded = 0
        self.received = 0
        self._mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="vigil-topic-rule")
        self._subscribed = threading.Event()
        self._mqtt.on_message = self._on_message
        self._mqtt.on_connect = lambda c, *_: c.subscribe(self.rule.topic_filter, qos=1)
        self._mqtt.on_subscribe = lambda *_: self._subscribed.set()
        self._mqtt.connect(host, broker_port)
        self._thread = threading.Thread(target=self._flush_loop, daemon=True)

    def _on_message(self, _client, _userdata, message) -> None:
        record = self.rule.apply(message.topic, message.payload)
        with self._lock:
            self.received += 1
            if record is not None:
                self._pending.append(record + b"\n")

    def start(self, timeout: float = 10.0) -> TopicRuleBridge:
        """Start, and return once the broker acknowledged the subscription (as a deployed rule
        is active before devices publish; earlier messages would not be routed)."""
        self._mqtt.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"topic rule bridge not subscribed within {timeout}s")
        self._thread.start()
        return self

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        for i in range(0, len(pending), 500):  # PutRecordBatch takes at most 500 records
            chunk = pending[i : i + 500]
            response = self.firehose.put_record_batch(
                DeliveryStreamName=self.stream, Records=[{"Data": data} for data in chunk]
            )
            if response.get("FailedPutCount"):
                raise RuntimeError(f"Firehose rejected {response['FailedPutCount']} records")
            self.forwarded += len(chunk)
        return len(pending)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.buffer_seconds):
            self.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
        self._mqtt.loop_stop()
        self._mqtt.disconnect()


@dataclass
class S3Trigger:
    """Local stand-in for the bucket → Lambda ObjectCreated notification on ``readings/``."""

    bucket: str
    handler: object
    context: object
    poll_seconds: float = 0.25
    seen: set[str] = field(default_factory=set)
    results: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last_activity: float = field(default_factory=time.monotonic)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.s3 = client("s3")

    def start(self) -> S3Trigger:
        self._thread.start()
        return self

    def poll_once(self) -> int:
        with self._lock:
            return self._poll()

    def _poll(self) -> int:
        keys = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=READINGS_PREFIX):
            for obj in page.get("Contents", []):
                if obj["Key"] not in self.seen:
                    keys.append((obj["LastModified"], obj["Key"], obj["Size"]))
        for _, key, size in sorted(keys):
            self.seen.add(key)
            try:
                self.results.append(self.handler(s3_event(self.bucket, key, size), self.context))
            except Exception as exc:  # the cloud retries, then dead-letters; count it here
                self.errors.append(f"{key}: {exc!r}")
            self.last_activity = time.monotonic()
        return len(keys)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def scheduled_event(at: datetime) -> dict:
    """The event an EventBridge schedule rule sends its Lambda target at ``at``."""
    return {
        "version": "0",
        "id": f"local-{time.time_ns()}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/vigil-air-quality-schedule"],
        "detail": {},
    }


def deliver_to_lambda(queue_url: str, handler, context) -> list:
    """Local stand-in for an SNS → Lambda subscription: the notifications that passed the
    subscription's filter policy (an SQS queue subscribed with it) become the event SNS sends a
    Lambda, one record each, and go to the real handler."""
    sqs, out = client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            body = json.loads(message["Body"])
            sns = {
                "Type": body["Type"],
                "MessageId": body["MessageId"],
                "TopicArn": body["TopicArn"],
                "Subject": body.get("Subject"),
                "Message": body["Message"],
                "Timestamp": body["Timestamp"],
                "SignatureVersion": body.get("SignatureVersion", "1"),
                "Signature": body.get("Signature", "LOCAL"),
                "SigningCertUrl": body.get("SigningCertURL", "https://127.0.0.1/cert.pem"),
                "UnsubscribeUrl": body.get("UnsubscribeURL", "https://127.0.0.1/unsubscribe"),
                "MessageAttributes": body.get("MessageAttributes", {}),
            }
            event = {
                "Records": [
                    {
                        "EventSource": "aws:sns",
                        "EventVersion": "1.0",
                        "EventSubscriptionArn": f"{body['TopicArn']}:local",
                        "Sns": sns,
                    }
                ]
            }
            out += handler(event, context)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return out


@dataclass
class ScheduleTimer:
    """Local stand-in for the EventBridge rule that invokes the detector every interval: calls
    the real handler with a ``Scheduled Event`` every ``period_seconds``. ``clock`` says what
    time the event carries (the wall clock in the cloud; a replay passes its data time)."""

    handler: object
    context: object
    period_seconds: float = 60.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    results: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def tick(self) -> dict | None:
        try:
            result = self.handler(scheduled_event(self.clock()), self.context)
        except Exception as exc:  # the rule retries, then gives up; count it here
            self.errors.append(repr(exc))
            return None
        self.results.append(result)
        return result

    def start(self) -> ScheduleTimer:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.period_seconds):
            self.tick()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def s3_event(bucket: str, key: str, size: int = 0) -> dict:
    """An S3 ObjectCreated:Put notification for one object, as S3 sends it to Lambda."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": now,
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:FIREHOSE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": "LOCAL",
                    "x-amz-id-2": "LOCAL",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "vigil-detector",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "LOCAL"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": key,
                        "size": size,
                        "eTag": "0" * 32,
                        "sequencer": f"{time.time_ns():016X}",
                    },
                },
            }
        ]
    }


@contextlib.contextmanager
def running_path(
    broker_port: int, resources: LocalResources, handler, context, *, buffer_seconds: float = 1.0
) -> Iterator[tuple[TopicRuleBridge, S3Trigger]]:
    bridge = TopicRuleBridge(broker_port, resources.stream, buffer_seconds=buffer_seconds).start()
    trigger = S3Trigger(resources.bucket, handler, context).start()
    try:
        yield bridge, trigger
    finally:
        bridge.stop()
        trigger.poll_once()
        trigger.stop()


def wait_until_idle(bridge: TopicRuleBridge, trigger: S3Trigger, expected: int, timeout=120.0):
    """Wait until the bridge forwarded ``expected`` records and the trigger has caught up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bridge.forwarded >= expected:
            bridge.flush()
            trigger.poll_once()
            return True
        time.sleep(0.2)
    return False
