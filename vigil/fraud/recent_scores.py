"""The bounded store of recently scored transactions the console reads: one DynamoDB item each.

The scoring path writes one item per answered transaction (``record_score``) when its settings
name a table (``RECENT_SCORES_TABLE``); the item expires ``RECENT_SCORES_TTL_S`` after it was
written (DynamoDB TTL on ``expires_at``), so the table stays bounded without a sweeper. Items share
one partition per UTC hour (``hour``) with the scoring time as sort key, so "the newest first" is a
keyed query of the current and previous hours, never a scan, and an hour's writes spread over
time rather than one hot key forever. The console's read API (``vigil/console/read_api.py``)
reads the same items back through :func:`item_to_record`.

A failed write never changes the scoring answer: it is logged and counted by the caller.
Standard library plus the shared boto3 client only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from vigil.fraud import schema

TABLE_ENV = "RECENT_SCORES_TABLE"
DEFAULT_TTL_S = 24 * 3600
PARTITION_KEY = "hour"
SORT_KEY = "scored_at"
ID_INDEX = "byTransaction"  # one transaction's item by its id (the console's detail view)
ID_ATTRIBUTE = "transaction_id"
TTL_ATTRIBUTE = "expires_at"
# The columns the console shows and the entities whose graph state it explains
SUMMARY_COLUMNS = (schema.AMOUNT_COLUMN, "ProductCD", "card1", "card4")
ENTITY_COLUMNS = ("card1", "addr1", "P_emaildomain", "R_emaildomain", "DeviceInfo")


def hour_key(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H")


def score_item(
    transaction: Mapping[str, Any],
    answer: Mapping[str, Any],
    latency_ms: float,
    *,
    now: datetime | None = None,
    ttl_s: int = DEFAULT_TTL_S,
) -> dict[str, dict]:
    """The DynamoDB item (low-level attribute values) for one answered transaction."""
    now = now or datetime.now(UTC)
    stamp = now.astimezone(UTC).isoformat(timespec="microseconds")
    record = {
        "id": str(answer.get("id", transaction.get(schema.ID_COLUMN))),
        "flag": answer.get("flag"),
        "pred_prob": answer.get("pred_prob"),
        "fallback": answer.get("fallback"),
        "explanation": answer.get("explanation"),
        "latency_ms": round(float(latency_ms), 2),
        "transaction": {
            c: transaction[c] for c in SUMMARY_COLUMNS if transaction.get(c) is not None
        },
        "entities": {c: transaction[c] for c in ENTITY_COLUMNS if transaction.get(c) is not None},
    }
    return {
        PARTITION_KEY: {"S": hour_key(now)},
        # the id breaks ties between two transactions scored in the same microsecond
        SORT_KEY: {"S": f"{stamp}#{record['id']}"},
        ID_ATTRIBUTE: {"S": record["id"]},
        "flag": {"S": str(record["flag"])},
        "record": {"S": json.dumps(record, separators=(",", ":"), default=_json_default)},
        TTL_ATTRIBUTE: {"N": str(int(now.timestamp()) + int(ttl_s))},
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def item_to_record(item: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """What the read API answers for one stored item: the record plus its scoring time."""
    record = json.loads(item["record"]["S"])
    record["scored_at"] = item[SORT_KEY]["S"].rsplit("#", 1)[0]
    return record


def record_score(
    table: str,
    transaction: Mapping[str, Any],
    answer: Mapping[str, Any],
    latency_ms: float,
    *,
    ttl_s: int = DEFAULT_TTL_S,
) -> None:
    """Write one answered transaction; raises what boto3 raises (the caller logs, never fails)."""
    from vigil.aws import client

    dynamodb = client("dynamodb", connect_timeout=0.5, read_timeout=1.0, max_attempts=2)
    dynamodb.put_item(
        TableName=table, Item=score_item(transaction, answer, latency_ms, ttl_s=ttl_s)
    )


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
