"""The detector's engine state in DynamoDB, one partition per shard of places.

A detector's places (dimension values) are split into ``state_shards`` shards
(``vigil.air_quality.sharding.shard_of``); each shard is one engine (``Detector``) serialised on
its own. An invocation reads and writes only the shards its records touch, so its DynamoDB traffic
follows the data it received, not the size of the fleet.

Layout in the state table (``pk``, ``sk``), per shard ``k`` of ``n``:

* ``detector#<name>#<n>#<k>`` / ``head``: the shard's state version, chunk count and size;
* ``detector#<name>#<n>#<k>`` / ``chunk#<version>#<writer>#<i>``: the serialised state in chunks
  of at most ``CHUNK_BYTES`` (DynamoDB items hold 400 KB). ``<writer>`` is random per save: two
  invocations that both read version v write different chunks for v + 1, so the loser of the
  commit cannot overwrite the winner's chunks.

Chunks of a new version are written first; then every touched shard's head moves in one
``TransactWriteItems`` (at most ``TRANSACTION_ITEMS`` per transaction), each conditional on the
version that was read: a concurrent writer of any of those shards cancels the whole commit
(``StateConflict``) instead of overwriting, and the retry starts from the fresh state. The
superseded chunks are deleted afterwards. The shard count is part of the key: a detector
redeployed with another count starts clean and learns again from history (places would move
between shards).

``S3ShardStore`` keeps the same shards as one S3 object each (``<prefix><name>/<n>/<k>.npz``),
written with S3's conditional writes (``If-Match`` the ETag read, ``If-None-Match: *`` for a
new shard): the same per-shard protection at a fraction of the cost, since a PUT costs the same
at any size while DynamoDB charges every KB written and deleted (docs/air-quality.md, "Fleet
scale"). S3 has no multi-object transaction: the shards of one object commit one by one, which
only matters for objects that span shards (Firehose's dynamic partitioning writes one shard per
object).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from vigil.aws import client

CHUNK_BYTES = 350_000
BATCH_GET_ITEMS = 100  # BatchGetItem's limit per call
BATCH_WRITE_ITEMS = 25  # BatchWriteItem's limit per call
TRANSACTION_ITEMS = 100  # TransactWriteItems' limit per call


class StateConflict(RuntimeError):
    """Another invocation stored a newer state first; the event is retried with fresh state."""


@dataclass
class ShardState:
    """One shard's stored state as read: its bytes (None: never stored), version, chunk count."""

    data: bytes | None
    version: int = 0
    chunks: int = 0
    writer: str = ""  # DynamoDB: the token naming the chunks; S3: the object's ETag

    def chunk_names(self) -> list[str]:
        return [chunk_name(self.version, self.writer, i) for i in range(self.chunks)]


def chunk_name(version: int, writer: str, index: int) -> str:
    return f"chunk#{version}#{writer}#{index:04d}"


@dataclass
class StateTraffic:
    """What the store read from and wrote to DynamoDB (cumulative; the benchmark reads it)."""

    bytes_read: int = 0
    bytes_written: int = 0
    items_read: int = 0
    items_written: int = 0
    items_deleted: int = 0


class ShardedStateStore:
    def __init__(self, table: str, detector: str, shards: int):
        self.table = table
        self.detector = detector
        self.shards = shards
        self.ddb = client("dynamodb")
        self.traffic = StateTraffic()

    def partition(self, shard: int) -> str:
        return f"detector#{self.detector}#{self.shards}#{shard}"

    def _key(self, shard: int, sk: str) -> dict:
        return {"pk": {"S": self.partition(shard)}, "sk": {"S": sk}}

    def _batch_get(self, keys: list[dict]) -> list[dict]:
        items: list[dict] = []
        for start in range(0, len(keys), BATCH_GET_ITEMS):
            pending = {
                self.table: {"Keys": keys[start : start + BATCH_GET_ITEMS], "ConsistentRead": True}
            }
            while pending:
                response = self.ddb.batch_get_item(RequestItems=pending)
                items.extend(response.get("Responses", {}).get(self.table, []))
                pending = response.get("UnprocessedKeys") or {}
        self.traffic.items_read += len(items)
        return items

    def load(self, shards: list[int]) -> dict[int, ShardState]:
        """Each shard's stored state (consistent reads; a shard never stored has ``data`` None)."""
        by_partition = {self.partition(k): k for k in shards}
        heads = self._batch_get([self._key(k, "head") for k in shards])
        states = {k: ShardState(None) for k in shards}
        chunk_keys = []
        for head in heads:
            k = by_partition[head["pk"]["S"]]
            states[k] = ShardState(
                b"", int(head["version"]["N"]), int(head["chunks"]["N"]), head["writer"]["S"]
            )
            chunk_keys += [self._key(k, name) for name in states[k].chunk_names()]
        parts: dict[tuple[int, str], bytes] = {}
        for item in self._batch_get(chunk_keys):
            parts[(by_partition[item["pk"]["S"]], item["sk"]["S"])] = item["data"]["B"]
        for k, state in states.items():
            if state.data is None:
                continue
            names = state.chunk_names()
            missing = [n for n in names if (k, n) not in parts]
            if missing:  # the head moved between the two reads: start again from fresh state
                raise StateConflict(f"shard {k}: chunks {missing[:3]} of its head are gone")
            state.data = b"".join(parts[(k, n)] for n in names)
            self.traffic.bytes_read += len(state.data)
        return states

    def _batch_write(self, requests: list[dict]) -> None:
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            pending = {self.table: requests[start : start + BATCH_WRITE_ITEMS]}
            while pending:
                response = self.ddb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}

    def save(self, updates: dict[int, tuple[bytes, ShardState]]) -> dict[int, int]:
        """Store each shard's new bytes over the state it was read as; returns the new versions.

        Shards commit in transactions of ``TRANSACTION_ITEMS``: one object's shards (at most that
        many; Firehose writes one shard per object) commit together or not at all.
        """
        writer = uuid.uuid4().hex[:12]
        now = datetime.now(UTC).isoformat()
        shards = list(updates)
        written: dict[int, list[str]] = {}
        heads = []
        for k in shards:
            data, previous = updates[k]
            version = previous.version + 1
            chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
            written[k] = [chunk_name(version, writer, i) for i in range(len(chunks))]
            self._batch_write(
                [
                    {"PutRequest": {"Item": {**self._key(k, name), "data": {"B": chunk}}}}
                    for name, chunk in zip(written[k], chunks, strict=True)
                ]
            )
            self.traffic.bytes_written += len(data)
            self.traffic.items_written += len(chunks)
            condition = (
                {"ConditionExpression": "attribute_not_exists(pk)"}
                if previous.version == 0
                else {
                    "ConditionExpression": "version = :previous",
                    "ExpressionAttributeValues": {":previous": {"N": str(previous.version)}},
                }
            )
            head = {
                **self._key(k, "head"),
                "version": {"N": str(version)},
                "chunks": {"N": str(len(chunks))},
                "writer": {"S": writer},
                "bytes": {"N": str(len(data))},
                "updated": {"S": now},
            }
            heads.append({"Put": {"TableName": self.table, "Item": head, **condition}})
        for start in range(0, len(shards), TRANSACTION_ITEMS):
            try:
                self.ddb.transact_write_items(
                    TransactItems=heads[start : start + TRANSACTION_ITEMS]
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in (
                    "TransactionCanceledException",
                    "ConditionalCheckFailedException",
                ):
                    raise
                # the uncommitted shards' new chunks are nobody's: their heads name others
                self._delete([(k, name) for k in shards[start:] for name in written[k]])
                raise StateConflict("a shard's state changed during this invocation") from exc
            self.traffic.items_written += len(heads[start : start + TRANSACTION_ITEMS])
        self._delete([(k, name) for k in shards for name in updates[k][1].chunk_names()])
        return {k: updates[k][1].version + 1 for k in shards}

    def _delete(self, chunks: list[tuple[int, str]]) -> None:
        self._batch_write([{"DeleteRequest": {"Key": self._key(k, name)}} for k, name in chunks])
        self.traffic.items_deleted += len(chunks)


class S3ShardStore:
    """The shards as S3 objects, each replaced only if it is still the version that was read."""

    def __init__(self, bucket: str, prefix: str, detector: str, shards: int):
        self.bucket = bucket
        self.prefix = prefix
        self.detector = detector
        self.shards = shards
        self.s3 = client("s3")
        self.traffic = StateTraffic()

    def partition(self, shard: int) -> str:
        return f"{self.prefix}{self.detector}/{self.shards}/{shard}.npz"

    def load(self, shards: list[int]) -> dict[int, ShardState]:
        states = {}
        for k in shards:
            try:
                response = self.s3.get_object(Bucket=self.bucket, Key=self.partition(k))
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                    states[k] = ShardState(None)
                    continue
                raise
            data = response["Body"].read()
            version = int(response.get("Metadata", {}).get("version", "1"))
            states[k] = ShardState(data, version, 1, response["ETag"])
            self.traffic.bytes_read += len(data)
            self.traffic.items_read += 1
        return states

    def save(self, updates: dict[int, tuple[bytes, ShardState]]) -> dict[int, int]:
        versions = {}
        for k, (data, previous) in updates.items():
            condition = {"IfMatch": previous.writer} if previous.writer else {"IfNoneMatch": "*"}
            version = previous.version + 1
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=self.partition(k),
                    Body=data,
                    Metadata={"version": str(version)},
                    **condition,
                )
            except ClientError as exc:
                # 412: another writer replaced it; 409: another conditional write is in flight
                if exc.response["Error"]["Code"] in (
                    "PreconditionFailed",
                    "ConditionalRequestConflict",
                ):
                    raise StateConflict(
                        f"shard {k}'s state changed during this invocation"
                    ) from exc
                raise
            self.traffic.bytes_written += len(data)
            self.traffic.items_written += 1
            versions[k] = version
        return versions
