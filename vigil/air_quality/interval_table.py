"""Every series' recent intervals in the anomaly table: observed, expected, band, anomaly or not.

What the console's series chart reads (``GET /air/series?measure=&place=``). The detector writes
one item per place and closed interval, holding every measure of that place, beside its anomalies:
partition ``<detector>#intervals#<place>`` (the place is the dimension key, ``LOCATION_ID=B-101``),
sort key the interval's start (``2026-12-03T14:05``). Items expire ``HISTORY_DAYS`` after they were
written (DynamoDB TTL on ``expires_at``), so the record stays bounded without a sweeper. The
attribute names differ from an anomaly's (no ``dimensions``/``interval_start``), so these items
never enter the ``byDimension`` index.

Cost: one write of about 0.3 KB (one write unit) per place and closed interval, whatever the
number of anomalies: 1,000 places at 5-minute intervals are 288,000 writes a day (about
US$0.36 a day on demand in us-east-1). A retry of an invocation rewrites the same items.

Standard library only: the console's read-API Lambda (no numpy layer) reads it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

HISTORY_DAYS = 7
BAND_SIGMAS = 2.0  # the band drawn around the expected value, in forecast scales
TTL_ATTRIBUTE = "expires_at"
MAX_BATCH = 25  # BatchWriteItem's limit


def intervals_partition(detector: str, place: str) -> str:
    return f"{detector}#intervals#{place}"


def _number(value: float) -> float | None:
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def interval_items(
    detector: str, rows: Iterable[Mapping[str, Any]], *, now: float | None = None
) -> list[dict]:
    """The items (low-level attribute values) for scored rows, one per place and interval.

    Each row: ``place``, ``interval_start``, ``measure``, ``observed``, ``expected``, ``low``,
    ``high``, ``severity``, ``anomaly`` (bool).
    """
    expires = int(now if now is not None else time.time()) + HISTORY_DAYS * 86_400
    by_key: dict[tuple[str, str], dict[str, dict]] = {}
    for row in rows:
        measures = by_key.setdefault((row["place"], row["interval_start"]), {})
        measures[row["measure"]] = {
            "observed": _number(row["observed"]),
            "expected": _number(row["expected"]),
            "low": _number(row["low"]),
            "high": _number(row["high"]),
            "severity": _number(row["severity"]),
            "anomaly": bool(row["anomaly"]),
        }
    return [
        {
            "detector": {"S": intervals_partition(detector, place)},
            "sk": {"S": start},
            "measures": {"S": json.dumps(measures, separators=(",", ":"), sort_keys=True)},
            TTL_ATTRIBUTE: {"N": str(expires)},
        }
        for (place, start), measures in by_key.items()
    ]


def write_items(ddb, table: str, items: list[dict], *, attempts: int = 5) -> None:
    """BatchWriteItem in chunks, retrying what DynamoDB left unprocessed; raises when some
    items are still unwritten (the caller's retry rewrites them all)."""
    for first in range(0, len(items), MAX_BATCH):
        pending = [{"PutRequest": {"Item": i}} for i in items[first : first + MAX_BATCH]]
        for attempt in range(attempts):
            left = ddb.batch_write_item(RequestItems={table: pending}).get("UnprocessedItems", {})
            pending = left.get(table, [])
            if not pending:
                break
            time.sleep(0.05 * 2**attempt)
        if pending:
            raise RuntimeError(f"{len(pending)} interval items left unwritten in {table}")


def series_from_table(
    ddb,
    table: str,
    detector: str,
    *,
    measure: str,
    place: str,
    since: str | None = None,
    until: str | None = None,
    limit: int = 200,
    start_after: str | None = None,
) -> tuple[list[dict], str | None]:
    """One series' intervals in [since, until] (ISO minutes), oldest first, and the sort key to
    continue after (None at the end). An interval where the place had no value for the measure
    is left out."""
    values = {
        ":p": {"S": intervals_partition(detector, place)},
        ":a": {"S": since or "0000"},
        ":b": {"S": (until or "9999") + "~"},
    }
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "detector = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": values,
        "ScanIndexForward": True,
        "Limit": limit,
    }
    if start_after is not None:
        query["ExclusiveStartKey"] = {"detector": values[":p"], "sk": {"S": start_after}}
    page = ddb.query(**query)
    points = []
    for item in page.get("Items", []):
        point = json.loads(item["measures"]["S"]).get(measure)
        if point is not None:
            points.append({"interval_start": item["sk"]["S"], **point})
    last = page.get("LastEvaluatedKey")
    return points, (last["sk"]["S"] if last else None)
