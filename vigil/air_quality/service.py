"""The continuous detector: one new S3 object in, state/anomalies/alerts/error records out.

``DetectorService.process_object`` is what the Lambda handler calls (and the local trigger, the
demo and the tests): read the object Firehose wrote, validate its records, feed the engine, store
the engine's state and every anomaly in DynamoDB, publish one SNS message per anomaly group (after
the per-series cool-down) and write every rejected record to the error prefix. Accounting always
holds: ``received == processed + rejected``. The state is saved last: whatever fails before it
(an SNS publish, an S3 or DynamoDB write) leaves the readings uncommitted, so the retry of the
object scores them again; error objects are named after the S3 object's version, so a retry
replaces its own instead of adding a second.

DynamoDB layout
* state table (``pk``, ``sk``): ``detector#<name>``/``head`` holds the state version and chunk
  count; ``detector#<name>``/``chunk#<version>#<i>`` the serialised engine state in chunks of at
  most 350 KB (written before the head moves, conditionally on the version: a concurrent writer
  fails instead of overwriting); ``alert#<name>``/``<series>`` the last alert per series (the
  cool-down, set with a conditional update so retries never page twice); ``object#<name>``/
  ``<key>#<etag>`` marks an S3 object as processed (S3 may deliver an event more than once).
* anomalies table: ``detector`` + ``sk`` (``<interval start>#<series>``) answers "anomalies of
  this detector between t1 and t2"; the ``byDimension`` index (``dimensions`` +
  ``interval_start``) answers "anomalies at LOCATION_ID=B-101 between t1 and t2".
"""

from __future__ import annotations

import gzip
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from botocore.exceptions import ClientError

from vigil.air_quality.alerts import alert_message, alert_subject
from vigil.air_quality.config import DetectorConfig
from vigil.air_quality.contract import (  # noqa: F401 - the index name, defined with CDK's
    BY_DIMENSION_INDEX,
    DETECTOR_ERROR_PREFIX,
    DetectorSettings,
)
from vigil.air_quality.engine import AnomalyGroup, Detector
from vigil.air_quality.records import Batch, Reject, parse_json_lines
from vigil.aws import client

CHUNK_BYTES = 350_000


class StateConflict(RuntimeError):
    """Another invocation stored a newer state first; the event is retried with fresh state."""


@dataclass
class ProcessResult:
    source: str
    received: int = 0
    processed: int = 0
    rejected: int = 0
    duplicates: int = 0
    sentinels: int = 0
    closed_intervals: int = 0
    anomalies: int = 0
    alerts_published: int = 0
    alerts_suppressed: int = 0
    error_key: str | None = None
    skipped: bool = False
    groups: list[AnomalyGroup] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "received",
                "processed",
                "rejected",
                "duplicates",
                "sentinels",
                "closed_intervals",
                "anomalies",
                "alerts_published",
                "alerts_suppressed",
            )
        }


def dimension_key(dimensions: dict[str, str]) -> str:
    return "|".join(f"{k}={v}" for k, v in dimensions.items()) or "-"


def _decimal(value: float) -> Decimal:
    return Decimal(str(round(float(value), 6)))


class StateStore:
    def __init__(self, table: str, detector: str):
        self.table = table
        self.pk = f"detector#{detector}"
        self.ddb = client("dynamodb")

    def load(self) -> tuple[bytes | None, int]:
        head = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": self.pk}, "sk": {"S": "head"}},
            ConsistentRead=True,
        ).get("Item")
        if not head:
            return None, 0
        version, chunks = int(head["version"]["N"]), int(head["chunks"]["N"])
        parts = []
        for i in range(chunks):
            item = self.ddb.get_item(
                TableName=self.table,
                Key={"pk": {"S": self.pk}, "sk": {"S": f"chunk#{version}#{i:04d}"}},
                ConsistentRead=True,
            )["Item"]
            parts.append(item["data"]["B"])
        return b"".join(parts), version

    def save(self, data: bytes, previous_version: int) -> int:
        version = previous_version + 1
        chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
        for i, chunk in enumerate(chunks):
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": self.pk},
                    "sk": {"S": f"chunk#{version}#{i:04d}"},
                    "data": {"B": chunk},
                },
            )
        condition = "attribute_not_exists(pk)" if previous_version == 0 else "version = :previous"
        values = {":previous": {"N": str(previous_version)}} if previous_version else {}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": self.pk},
                    "sk": {"S": "head"},
                    "version": {"N": str(version)},
                    "chunks": {"N": str(len(chunks))},
                    "bytes": {"N": str(len(data))},
                    "updated": {"S": datetime.now(UTC).isoformat()},
                },
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StateConflict("detector state changed during this invocation") from exc
            raise
        if previous_version:
            self._delete_version(previous_version)
        return version

    def _delete_version(self, version: int) -> None:
        items = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": self.pk},
                ":prefix": {"S": f"chunk#{version}#"},
            },
            ProjectionExpression="pk, sk",
        )["Items"]
        for item in items:
            self.ddb.delete_item(TableName=self.table, Key=item)


class DetectorService:
    def __init__(
        self,
        config: DetectorConfig,
        *,
        state_table: str,
        anomaly_table: str,
        topic_arn: str | None,
        error_prefix: str = DETECTOR_ERROR_PREFIX,
    ):
        self.config = config
        self.state = StateStore(state_table, config.name)
        self.state_table = state_table
        self.anomaly_table = anomaly_table
        self.topic_arn = topic_arn
        self.error_prefix = error_prefix.rstrip("/") + "/"
        self.ddb = client("dynamodb")
        self.s3 = client("s3")
        self.sns = client("sns")

    # --- state ----------------------------------------------------------------------------
    def load_detector(self) -> tuple[Detector, int]:
        data, version = self.state.load()
        if data is not None:
            return Detector.from_bytes(data, self.config), version
        detector = Detector(self.config)
        if self.config.history:
            history = self.read_history(self.config.history)
            if len(history):
                detector.learn(history)
        return detector, 0

    def save_detector(self, detector: Detector, version: int) -> int:
        return self.state.save(detector.to_bytes(), version)

    def read_history(self, location: str) -> Batch:
        """Every JSON-lines object under s3://bucket/prefix, concatenated."""
        if not location.startswith("s3://"):
            from vigil.air_quality.backtest import read_table
            from vigil.air_quality.records import validate_frame

            return validate_frame(read_table(location), self.config)
        bucket, _, prefix = location[5:].partition("/")
        chunks = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                chunks.append(self._read(bucket, obj["Key"])[0])
        return parse_json_lines(b"\n".join(chunks), self.config)

    # --- one object -----------------------------------------------------------------------
    def _read(self, bucket: str, key: str) -> tuple[bytes, str, datetime | None]:
        """The object's body, ETag and last-modified time (what names its error object)."""
        response = self.s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
        if key.endswith(".gz") or body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        return body, response.get("ETag", "").strip('"'), response.get("LastModified")

    def _claim(self, key: str, etag: str) -> bool:
        try:
            self.ddb.put_item(
                TableName=self.state_table,
                Item={
                    "pk": {"S": f"object#{self.config.name}"},
                    "sk": {"S": f"{key}#{etag}"},
                    "at": {"S": datetime.now(UTC).isoformat()},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def _unclaim(self, key: str, etag: str) -> None:
        self.ddb.delete_item(
            TableName=self.state_table,
            Key={"pk": {"S": f"object#{self.config.name}"}, "sk": {"S": f"{key}#{etag}"}},
        )

    def process_object(self, bucket: str, key: str) -> ProcessResult:
        key = urllib.parse.unquote_plus(key)
        result = ProcessResult(source=f"s3://{bucket}/{key}")
        body, etag, modified = self._read(bucket, key)
        if not self._claim(key, etag):
            result.skipped = True
            return result
        try:
            written = (modified, etag) if etag else None
            self._process(bucket, key, body, result, object_version=written)
        except Exception:
            self._unclaim(key, etag)  # let the retry process it again
            raise
        return result

    def process_records(self, body: bytes, *, source: str, bucket: str) -> ProcessResult:
        """Process raw JSON lines that did not come from one S3 object (tests, replays)."""
        result = ProcessResult(source=source)
        self._process(bucket, source, body, result)
        return result

    def _process(
        self,
        bucket: str,
        key: str,
        body: bytes,
        result: ProcessResult,
        *,
        object_version: tuple[datetime | None, str] | None = None,
    ) -> None:
        batch = parse_json_lines(body, self.config)
        detector, version = self.load_detector()
        outcome = detector.ingest(batch)
        rejects: list[Reject] = batch.rejects + outcome.late
        result.received = batch.received
        result.rejected = len(rejects)
        result.processed = outcome.accepted + outcome.duplicates
        result.duplicates = outcome.duplicates
        result.sentinels = outcome.sentinels
        result.closed_intervals = len(outcome.closed)
        if result.received != result.processed + result.rejected:
            raise AssertionError(
                f"accounting broken: received {result.received} != processed "
                f"{result.processed} + rejected {result.rejected}"
            )
        # Every side effect happens before the state is saved, which commits the readings:
        # a failure before it (SNS, S3, DynamoDB) leaves the state as it was, so the retry of
        # this object sees the same readings as new instead of rejecting them as late. The
        # anomaly writes are idempotent and a sent alert holds its cool-down, so a retry after
        # a failed save neither duplicates anomalies nor pages twice.
        if rejects:
            result.error_key = self._write_errors(bucket, key, rejects, object_version)
        groups = detector.groups(outcome.closed)
        result.anomalies = sum(len(g.anomalies) for g in groups)
        self._store_anomalies(groups)
        for group in groups:
            published = self._alert(group)
            result.alerts_published += len(published.anomalies) if published else 0
            result.alerts_suppressed += len(group.anomalies) - (
                len(published.anomalies) if published else 0
            )
            if published:
                result.groups.append(published)
        self.save_detector(detector, version)

    def _write_errors(
        self,
        bucket: str,
        key: str,
        rejects: list[Reject],
        object_version: tuple[datetime | None, str] | None = None,
    ) -> str:
        """Write the rejects; one S3 object version always gets the same error key, so the
        retry of a failed invocation replaces its error object instead of adding a second."""
        name = key.rsplit("/", 1)[-1]
        if object_version is not None:
            modified, etag = object_version
            stamp, suffix = modified or datetime.now(UTC), etag
        else:
            stamp, suffix = datetime.now(UTC), str(int(time.time() * 1000))
        error_key = f"{self.error_prefix}{stamp:%Y/%m/%d/%H}/{name}-{suffix}.jsonl"
        lines = [
            json.dumps({"source": f"s3://{bucket}/{key}", "reason": r.reason, "record": r.record})
            for r in rejects
        ]
        self.s3.put_object(Bucket=bucket, Key=error_key, Body=("\n".join(lines) + "\n").encode())
        return error_key

    def _store_anomalies(self, groups: list[AnomalyGroup]) -> None:
        for group in groups:
            group_id = f"{group.interval_start}#{self.config.name}"
            for a in group.anomalies:
                self.ddb.put_item(
                    TableName=self.anomaly_table,
                    Item={
                        "detector": {"S": self.config.name},
                        "sk": {"S": f"{a.interval_start}#{a.series}"},
                        "interval_start": {"S": a.interval_start},
                        "dimensions": {"S": dimension_key(a.dimensions)},
                        "measure": {"S": a.measure},
                        "series": {"S": a.series},
                        "observed": {"N": str(_decimal(a.observed))},
                        "expected": {"N": str(_decimal(a.expected))},
                        "z": {"N": str(_decimal(a.z))},
                        "severity": {"N": str(_decimal(a.severity))},
                        "reason": {"S": a.reason},
                        "group": {"S": group_id},
                        "contributions": {"S": json.dumps(group.contributions)},
                    },
                )

    def _cooldown_key(self, series: str) -> dict:
        return {"pk": {"S": f"alert#{self.config.name}"}, "sk": {"S": series}}

    def _passes_cooldown(self, series: str, interval_start: str) -> dict | None:
        """Take the series' cool-down; None if it is held, else what it held before (may be {})."""
        minute = int(datetime.fromisoformat(interval_start).replace(tzinfo=UTC).timestamp() // 60)
        try:
            response = self.ddb.update_item(
                TableName=self.state_table,
                Key=self._cooldown_key(series),
                UpdateExpression="SET last_alert = :minute, last_interval = :start",
                ConditionExpression="attribute_not_exists(last_alert) OR last_alert < :cutoff",
                ExpressionAttributeValues={
                    ":minute": {"N": str(minute)},
                    ":start": {"S": interval_start},
                    ":cutoff": {"N": str(minute - self.config.cooldown_minutes)},
                },
                ReturnValues="UPDATED_OLD",
            )
            return response.get("Attributes", {})
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise

    def _release_cooldown(self, series: str, interval_start: str, previous: dict) -> None:
        """Give back a cool-down whose alert was not sent, so the retry can send it."""
        minute = int(datetime.fromisoformat(interval_start).replace(tzinfo=UTC).timestamp() // 60)
        values = {":minute": {"N": str(minute)}}
        if previous.get("last_alert"):
            update = "SET last_alert = :old_alert, last_interval = :old_start"
            values[":old_alert"] = previous["last_alert"]
            values[":old_start"] = previous.get("last_interval", {"S": ""})
        else:
            update = "REMOVE last_alert, last_interval"
        try:
            self.ddb.update_item(
                TableName=self.state_table,
                Key=self._cooldown_key(series),
                UpdateExpression=update,
                ConditionExpression="last_alert = :minute",  # only the one this call took
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _alert(self, group: AnomalyGroup) -> AnomalyGroup | None:
        if not self.topic_arn:
            return None
        taken = [(a, self._passes_cooldown(a.series, a.interval_start)) for a in group.anomalies]
        held = [(a, previous) for a, previous in taken if previous is not None]
        passing = [a for a, _ in held]
        if not passing:
            return None
        kept = AnomalyGroup(
            interval_start=group.interval_start,
            interval_end=group.interval_end,
            severity=max(a.severity for a in passing),
            anomalies=passing,
            contributions=group.contributions,
        )
        try:
            self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=alert_subject(kept, self.config.name),
                Message=alert_message(kept, self.config.name),
                MessageAttributes={
                    "severity": {"DataType": "Number", "StringValue": f"{kept.severity:.1f}"},
                    "detector": {"DataType": "String", "StringValue": self.config.name},
                },
            )
        except Exception:
            for a, previous in held:
                self._release_cooldown(a.series, a.interval_start, previous)
            raise
        return kept


def service_from_environment(environ) -> DetectorService:
    """Build the service from the Lambda's environment (read per cold start, not at import)."""
    settings = DetectorSettings.from_environment(environ)
    return DetectorService(
        settings.detector_config,
        state_table=settings.state_table,
        anomaly_table=settings.anomaly_table,
        topic_arn=settings.alert_topic_arn,
        error_prefix=settings.error_prefix,
    )
