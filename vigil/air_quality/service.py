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
* state table (``pk``, ``sk``): the engine state, one partition per shard of places
  (``vigil.air_quality.state_store``: an invocation reads and writes only the shards its records
  touch, each conditionally on the version it read; or one S3 object per shard under
  ``state/detector/`` when ``state_bucket`` is set); ``alert#<name>``/``<series>`` the last alert
  per series (the cool-down, set with a conditional update so retries never page twice);
  ``object#<name>``/``<key>#<etag>`` marks an S3 object as processed (S3 may deliver an event more
  than once).
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

import numpy as np
from botocore.exceptions import ClientError

from vigil.air_quality.alerts import alert_message, alert_subject
from vigil.air_quality.config import DetectorConfig
from vigil.air_quality.contract import (  # noqa: F401 - the index name, defined with CDK's
    BY_DIMENSION_INDEX,
    DETECTOR_ERROR_PREFIX,
    DETECTOR_STATE_PREFIX,
    DetectorSettings,
)
from vigil.air_quality.engine import AnomalyGroup, Detector, merge_groups
from vigil.air_quality.records import Batch, Reject, parse_json_lines, rows_by_shard
from vigil.air_quality.state_store import (  # noqa: F401 - StateConflict: what callers catch
    S3ShardStore,
    ShardedStateStore,
    ShardState,
    StateConflict,
)
from vigil.aws import client


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


class DetectorService:
    def __init__(
        self,
        config: DetectorConfig,
        *,
        state_table: str,
        anomaly_table: str,
        topic_arn: str | None,
        error_prefix: str = DETECTOR_ERROR_PREFIX,
        state_bucket: str | None = None,
    ):
        self.config = config
        self.state: ShardedStateStore | S3ShardStore = (
            S3ShardStore(state_bucket, DETECTOR_STATE_PREFIX, config.name, config.state_shards)
            if state_bucket
            else ShardedStateStore(state_table, config.name, config.state_shards)
        )
        self.state_table = state_table
        self.anomaly_table = anomaly_table
        self.topic_arn = topic_arn
        self.error_prefix = error_prefix.rstrip("/") + "/"
        self.ddb = client("dynamodb")
        self.s3 = client("s3")
        self.sns = client("sns")

    # --- state ----------------------------------------------------------------------------
    def shard_rows(self, batch: Batch) -> dict[int, np.ndarray]:
        """The rows of ``batch`` per shard of their dimension values."""
        return rows_by_shard(batch.dim_keys, self.config.state_shards)

    def load_detectors(
        self, shards: list[int], history: dict[int, Batch] | None = None
    ) -> dict[int, tuple[Detector, ShardState]]:
        """Each shard's engine: its stored state, or a new one learnt from its part of history."""
        stored = self.state.load(shards)
        out = {}
        for k in shards:
            if stored[k].data is not None:
                out[k] = (Detector.from_bytes(stored[k].data, self.config), stored[k])
                continue
            if history is None:
                history = self.history_by_shard()
            detector = Detector(self.config)
            if k in history:
                detector.learn(history[k])
            out[k] = (detector, stored[k])
        return out

    def history_by_shard(self) -> dict[int, Batch]:
        """The configured history split by shard ({} when there is none)."""
        if not self.config.history:
            return {}
        history = self.read_history(self.config.history)
        return {k: history.take(rows) for k, rows in self.shard_rows(history).items()}

    def learn_and_store(self, history: Batch) -> dict[int, Detector]:
        """Learn every shard that has history and store it (what a first deployment does)."""
        parts = {k: history.take(rows) for k, rows in self.shard_rows(history).items()}
        engines = self.load_detectors(sorted(parts), history=parts)
        self.save_detectors(engines)
        return {k: detector for k, (detector, _) in engines.items()}

    def save_detectors(self, engines: dict[int, tuple[Detector, ShardState]]) -> dict[int, int]:
        return self.state.save(
            {k: (detector.to_bytes(), read) for k, (detector, read) in engines.items()}
        )

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
        rows = self.shard_rows(batch)
        engines = self.load_detectors(sorted(rows))
        rejects: list[Reject] = list(batch.rejects)
        closed_groups: list[AnomalyGroup] = []
        result.received = batch.received
        result.sentinels = batch.sentinels
        for k, (detector, _) in engines.items():
            outcome = detector.ingest(batch.take(rows[k]))
            rejects += outcome.late
            result.processed += outcome.accepted + outcome.duplicates
            result.duplicates += outcome.duplicates
            result.closed_intervals += len(outcome.closed)
            closed_groups += detector.groups(outcome.closed)
        result.rejected = len(rejects)
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
        groups = merge_groups(closed_groups)
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
        self.save_detectors(engines)

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
        state_bucket=settings.state_bucket,
    )
