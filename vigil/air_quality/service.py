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
  Beside them, ``<name>#intervals#<place>`` keeps every closed interval of each place's series
  (observed, expected, band; ``vigil.air_quality.interval_table``, expiring after a week) for
  the console's series chart.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from botocore.exceptions import ClientError

from vigil.air_quality.alerts import transition_message, transition_subject
from vigil.air_quality.config import DetectorConfig
from vigil.air_quality.contract import (  # noqa: F401 - the index name, defined with CDK's
    BY_DIMENSION_INDEX,
    DETECTOR_ERROR_PREFIX,
    DETECTOR_STATE_PREFIX,
    DetectorSettings,
)
from vigil.air_quality.data_quality import IntakeCounter, ingest_counted
from vigil.air_quality.engine import (
    ANOMALY,
    AnomalyGroup,
    ClosedInterval,
    Detector,
    merge_groups,
    minute_to_iso,
)
from vigil.air_quality.episode_table import (
    episode_partition,
    feedback_partition,
    intake_partition,
    pending_feedback,
    quality_partition,
    status_item,
)
from vigil.air_quality.episodes import (
    CLOSED,
    OPENED,
    RECOVERED,
    WENT_SILENT,
    Transition,
    apply_feedback,
    check_recoveries,
    check_silence,
    expire_episodes,
    series_status,
    track_episodes,
)
from vigil.air_quality.interval_table import BAND_SIGMAS, interval_items, write_items
from vigil.air_quality.records import Batch, Reject, parse_json_lines, rows_by_shard
from vigil.air_quality.sharding import DIM_SEPARATOR, shard_of
from vigil.air_quality.state_store import (
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
    late: int = 0
    silent: int = 0
    recovered: int = 0
    episodes_opened: int = 0
    episodes_closed: int = 0
    error_key: str | None = None
    skipped: bool = False
    groups: list[AnomalyGroup] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    completeness: list[dict] = field(default_factory=list)  # per closed interval and shard
    intake: list[dict] = field(default_factory=list)  # per interval of the records' times
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "received",
                "processed",
                "rejected",
                "duplicates",
                "late",
                "sentinels",
                "closed_intervals",
                "anomalies",
                "alerts_published",
                "alerts_suppressed",
                "silent",
                "recovered",
                "episodes_opened",
                "episodes_closed",
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
        """Commit the shards' state, then store their status (what the console reads)."""
        versions = self.state.save(
            {k: (detector.to_bytes(), read) for k, (detector, read) in engines.items()}
        )
        self._store_status(engines)
        return versions

    def _store_status(self, engines: dict[int, tuple[Detector, ShardState]]) -> None:
        updated = datetime.now(UTC).isoformat(timespec="seconds")
        for k, (detector, _) in engines.items():
            self.ddb.put_item(
                TableName=self.anomaly_table,
                Item=status_item(
                    self.config.name,
                    k,
                    series=series_status(detector, None),
                    open_episodes=list(detector.annotations.get("episodes", {}).values()),
                    watermark=(
                        minute_to_iso(detector.watermark)
                        if detector.watermark is not None
                        else None
                    ),
                    interval_minutes=detector.interval,
                    updated=updated,
                ),
            )

    # --- feedback ---------------------------------------------------------------------------
    def shard_of_episode(self, episode: dict) -> int:
        key = DIM_SEPARATOR.join(
            episode["dimensions"].get(name, "") for name in self.config.dimensions
        )
        return shard_of(key, self.config.state_shards)

    def _learn_feedback(self, engines: dict[int, tuple[Detector, ShardState]]) -> list[dict]:
        """Apply the operators' queued verdicts (``episode_table.store_feedback``) to the shards
        in ``engines``; returns the ones applied, to forget once the state is saved."""
        applied = []
        for verdict in pending_feedback(self.ddb, self.anomaly_table, self.config.name):
            shard = self.shard_of_episode(verdict["episode"])
            if shard in engines:
                apply_feedback(engines[shard][0], verdict["episode"], verdict["verdict"])
                applied.append(verdict)
        return applied

    def _forget_feedback(self, applied: list[dict]) -> None:
        """Remove learnt verdicts from the queue (unless a newer verdict replaced one)."""
        for verdict in applied:
            try:
                self.ddb.delete_item(
                    TableName=self.anomaly_table,
                    Key={
                        "detector": {"S": feedback_partition(self.config.name)},
                        "sk": {"S": verdict["id"]},
                    },
                    ConditionExpression="#at = :at",
                    ExpressionAttributeNames={"#at": "at"},
                    ExpressionAttributeValues={":at": {"S": verdict["at"]}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def learn_pending_feedback(self, attempts: int = 3) -> int:
        """Learn every queued verdict now (the CLI, right after storing one); returns how many."""
        for attempt in range(attempts):
            pending = pending_feedback(self.ddb, self.anomaly_table, self.config.name)
            shards = sorted({self.shard_of_episode(v["episode"]) for v in pending})
            stored = self.state.load(shards)
            engines = {
                k: (Detector.from_bytes(part.data, self.config), part)
                for k, part in stored.items()
                if part.data is not None
            }
            applied = self._learn_feedback(engines)
            try:
                self.save_detectors(engines)
            except StateConflict:
                if attempt == attempts - 1:
                    raise
                continue
            self._forget_feedback(applied)
            # a verdict for a shard with no state yet has nothing to teach
            self._forget_feedback([v for v in pending if v not in applied])
            return len(applied)
        return 0

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
            self._process(
                bucket, key, body, result, object_version=written, object_id=f"{key}#{etag}"
            )
        except Exception:
            self._unclaim(key, etag)  # let the retry process it again
            raise
        return result

    def process_records(self, body: bytes, *, source: str, bucket: str) -> ProcessResult:
        """Process raw JSON lines that did not come from one S3 object (tests, replays)."""
        result = ProcessResult(source=source)
        self._process(bucket, source, body, result, object_id=f"{source}#{time.time_ns()}")
        return result

    def _process(
        self,
        bucket: str,
        key: str,
        body: bytes,
        result: ProcessResult,
        *,
        object_version: tuple[datetime | None, str] | None = None,
        object_id: str,
    ) -> None:
        batch = parse_json_lines(body, self.config)
        rows = self.shard_rows(batch)
        engines = self.load_detectors(sorted(rows))
        learnt = self._learn_feedback(engines)
        rejects: list[Reject] = list(batch.rejects)
        closed_groups: list[AnomalyGroup] = []
        transitions: list[Transition] = []
        quality: list[dict] = []
        intervals: list[dict] = []
        intake = IntakeCounter(self.config.interval_minutes)
        late = 0
        result.received = batch.received
        result.sentinels = batch.sentinels
        for k, (detector, _) in engines.items():
            part = batch.take(rows[k])
            outcome, accepted_iv = ingest_counted(detector, part)
            intake.add_valid(part.minutes, accepted_iv)
            rejects += outcome.late
            result.processed += outcome.accepted + outcome.duplicates
            result.duplicates += outcome.duplicates
            result.closed_intervals += len(outcome.closed)
            late += len(outcome.late)
            quality += self._completeness(k, detector, outcome.closed)
            intervals += self._interval_rows(detector, outcome.closed)
            shard_groups = detector.groups(outcome.closed)
            closed_groups += shard_groups
            transitions += track_episodes(detector, shard_groups, outcome.closed)
            transitions += check_recoveries(detector)
            transitions += check_silence(detector, detector.watermark)
        result.rejected = len(rejects)
        intake.add_rejects(rejects)
        for r in rejects:
            result.rejected_by_reason[r.code] = result.rejected_by_reason.get(r.code, 0) + 1
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
        self._store_quality(quality)
        write_items(self.ddb, self.anomaly_table, interval_items(self.config.name, intervals))
        result.intake = intake.rows()
        self._store_intake(result.intake, object_id)
        result.late = late
        result.completeness = quality
        self._announce(transitions, result)
        result.alerts_suppressed = result.anomalies - sum(len(g.anomalies) for g in result.groups)
        self.save_detectors(engines)
        self._forget_feedback(learnt)

    # --- data quality -----------------------------------------------------------------------
    def _completeness(self, shard: int, detector: Detector, closed: list) -> list[dict]:
        """Per closed interval of the shard: series reporting / series that normally report."""
        expected = int((detector.nobs >= self.config.silent_min_observations).sum())
        return [
            {
                "interval_start": minute_to_iso(c.start),
                "shard": shard,
                "reporting": int(c.sid.size),
                "expected": max(expected, int(c.sid.size)),
            }
            for c in closed
        ]

    @staticmethod
    def _interval_rows(detector: Detector, closed: list[ClosedInterval]) -> list[dict]:
        """Each scored series of each closed interval with its band, for the series chart."""
        rows = []
        for c in closed:
            low, high = detector.band(c, BAND_SIGMAS)
            start = minute_to_iso(c.start)
            for r, sid in enumerate(c.sid.tolist()):
                measure, dims = detector.series_info(sid)
                rows.append(
                    {
                        "place": dimension_key(dims),
                        "interval_start": start,
                        "measure": measure,
                        "observed": c.observed[r],
                        "expected": c.expected[r],
                        "low": low[r],
                        "high": high[r],
                        "severity": c.severity[r],
                        "anomaly": c.status[r] == ANOMALY,
                    }
                )
        return rows

    def _store_quality(self, rows: list[dict]) -> None:
        """One item per (interval, shard) under ``<detector>#quality``: a retry rewrites the
        same item, and shards scored in parallel never overwrite each other."""
        for row in rows:
            self.ddb.put_item(
                TableName=self.anomaly_table,
                Item={
                    "detector": {"S": quality_partition(self.config.name)},
                    "sk": {"S": f"{row['interval_start']}#{row['shard']:05d}"},
                    "reporting": {"N": str(row["reporting"])},
                    "expected": {"N": str(row["expected"])},
                },
            )

    def _store_intake(self, rows: list[dict], object_id: str) -> None:
        """One item per (interval, object) under ``<detector>#intake``: a retry of the object
        rewrites its own items (it sees the same state, so the same counts); readers sum them."""
        digest = hashlib.sha256(object_id.encode()).hexdigest()[:16]
        for row in rows:
            self.ddb.put_item(
                TableName=self.anomaly_table,
                Item={
                    "detector": {"S": intake_partition(self.config.name)},
                    "sk": {"S": f"{row['interval_start']}#{digest}"},
                    **{
                        name: {"N": str(row[name])}
                        for name in ("received", "accepted", "duplicate", "rejected")
                    },
                    "rejected_by_reason": {
                        "M": {code: {"N": str(n)} for code, n in row["rejected_by_reason"].items()}
                    },
                },
            )

    # --- episodes, silence, status ---------------------------------------------------------
    def _announce(self, transitions: list[Transition], result: ProcessResult) -> None:
        """Store every episode that changed, then send the alerts (one per opened episode,
        silent series and recovery; closing notes when configured)."""
        for t in transitions:
            if t.what not in (WENT_SILENT, RECOVERED):
                self._store_episode(t.detail, open_=t.what != CLOSED)
            result.episodes_opened += t.what == OPENED
            result.episodes_closed += t.what == CLOSED
            result.silent += t.what == WENT_SILENT
            result.recovered += t.what == RECOVERED
            if t.alert and self._publish(t):
                result.alerts_published += 1
                if t.group is not None:
                    result.groups.append(t.group)
        result.transitions += transitions

    def check_schedule(self, now: datetime | None = None) -> ProcessResult:
        """What the scheduled trigger runs: close quiet episodes and find silent series in every
        shard, by the clock, even where no new object arrived."""
        now = now or datetime.now(UTC)
        result = ProcessResult(source=f"schedule@{now:%Y-%m-%dT%H:%M}")
        minute = int(now.replace(tzinfo=now.tzinfo or UTC).timestamp() // 60)
        stored = self.state.load(list(range(self.config.state_shards)))
        engines = {
            k: (Detector.from_bytes(part.data, self.config), part)
            for k, part in stored.items()
            if part.data is not None
        }
        transitions: list[Transition] = []
        learnt = self._learn_feedback(engines)
        changed = {k: engines[k] for k in {self.shard_of_episode(v["episode"]) for v in learnt}}
        for k, (detector, read) in engines.items():
            found = expire_episodes(detector) + check_silence(detector, minute)
            if found:
                transitions += found
                changed[k] = (detector, read)
        if not changed:
            return result
        self._announce(transitions, result)
        self.save_detectors(changed)
        self._forget_feedback(learnt)
        return result

    def _store_episode(self, episode: dict, *, open_: bool) -> None:
        """Episodes live beside the anomalies: partition ``<detector>#episodes``, sorted by
        start, so "the episodes since t" is one query."""
        self.ddb.put_item(
            TableName=self.anomaly_table,
            Item={
                "detector": {"S": episode_partition(self.config.name)},
                "sk": {"S": episode["id"]},
                "status": {"S": "open" if open_ else "closed"},
                "kind": {"S": episode["kind"]},
                "peak_severity": {"N": str(_decimal(episode["peak_severity"]))},
                "episode": {"S": json.dumps(episode, separators=(",", ":"))},
            },
        )

    def _take_alert(self, transition_id: str) -> bool:
        """Mark an alert as sent before sending it (a retry after a failed save never pages
        twice); False when it already was."""
        try:
            self.ddb.put_item(
                TableName=self.state_table,
                Item={
                    "pk": {"S": f"alert#{self.config.name}"},
                    "sk": {"S": transition_id},
                    "at": {"S": datetime.now(UTC).isoformat()},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def _publish(self, t: Transition) -> bool:
        if not self.topic_arn or not self._take_alert(t.id):
            return False
        attributes = {
            "severity": {"DataType": "Number", "StringValue": f"{t.severity:.1f}"},
            "detector": {"DataType": "String", "StringValue": self.config.name},
            "kind": {"DataType": "String", "StringValue": t.kind},
            "transition": {"DataType": "String", "StringValue": t.what},
            "measure": {"DataType": "String.Array", "StringValue": json.dumps(t.measures)},
        }
        for name, value in t.dimensions.items():
            attributes[name] = {"DataType": "String", "StringValue": value}
        try:
            self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=transition_subject(t, self.config.name),
                Message=transition_message(t, self.config.name),
                MessageAttributes=attributes,
            )
        except Exception:
            self.ddb.delete_item(
                TableName=self.state_table,
                Key={"pk": {"S": f"alert#{self.config.name}"}, "sk": {"S": t.id}},
            )
            raise
        return True

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
            json.dumps(
                {
                    "source": f"s3://{bucket}/{key}",
                    "reason": r.reason,
                    "code": r.code,
                    "record": r.record,
                }
            )
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
