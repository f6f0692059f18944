"""Where episodes, data-quality rows and tickets live in the anomaly table, and reading episodes.

Standard library only: the console's read-API Lambda (no numpy layer) reads episodes with it.
Partitions beside the detector's anomalies (``detector`` = its name): ``<name>#episodes`` (sort key
``<start>#<place>``), ``<name>#quality`` (``<interval start>#<shard>``), ``<name>#tickets``.
"""

from __future__ import annotations

import json


def episode_partition(detector: str) -> str:
    return f"{detector}#episodes"


def quality_partition(detector: str) -> str:
    return f"{detector}#quality"


def ticket_partition(detector: str) -> str:
    return f"{detector}#tickets"


def episodes_from_table(
    ddb,
    anomaly_table: str,
    detector: str,
    *,
    since: str | None = None,
    until: str | None = None,
    kind: str | None = None,
    limit: int = 200,
) -> list[dict]:
    """The detector's episodes whose start lies in [since, until] (ISO minutes), oldest first."""
    condition = "detector = :d"
    values = {":d": {"S": episode_partition(detector)}}
    if since or until:
        condition += " AND sk BETWEEN :a AND :b"
        values[":a"] = {"S": since or "0000"}
        values[":b"] = {"S": (until or "9999") + "~"}
    kwargs = {
        "TableName": anomaly_table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    out: list[dict] = []
    while len(out) < limit:
        page = ddb.query(**kwargs)
        for item in page["Items"]:
            episode = json.loads(item["episode"]["S"])
            episode["status"] = item["status"]["S"]
            if "feedback" in item:
                episode["feedback"] = item["feedback"]["S"]
            if kind is None or episode["kind"] == kind:
                out.append(episode)
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return out[:limit]
