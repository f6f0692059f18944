"""Where episodes, data-quality rows, series status and tickets live in the anomaly table, and
reading them.

Standard library only: the console's read-API Lambda (no numpy layer) reads them with it.
Partitions beside the detector's anomalies (``detector`` = its name): ``<name>#episodes`` (sort key
``<start>#<place>``), ``<name>#quality`` (completeness, ``<interval start>#<shard>``),
``<name>#intake`` (records per interval and object, ``<interval start>#<object digest>``),
``<name>#tickets``.
"""

from __future__ import annotations

import json


def episode_partition(detector: str) -> str:
    return f"{detector}#episodes"


def quality_partition(detector: str) -> str:
    return f"{detector}#quality"


def intake_partition(detector: str) -> str:
    return f"{detector}#intake"


def ticket_partition(detector: str) -> str:
    return f"{detector}#tickets"


def _query_all(ddb, **kwargs) -> list[dict]:
    items: list[dict] = []
    while True:
        page = ddb.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


INTAKE_COUNTS = ("received", "accepted", "duplicate", "rejected")


def data_quality_from_table(
    ddb, anomaly_table: str, detector: str, *, since: str, until: str
) -> list[dict]:
    """Per interval whose start lies in [since, until] (ISO minutes), oldest first: series
    reporting, series expected (those that normally report) and completeness over every shard,
    and the records received, accepted, duplicate and rejected (by reason: ``late`` and the
    validation codes) over every object. A shard whose places all went quiet closes no interval;
    it counts with the most series it expected in the range and none reporting. An interval that
    has records but is not closed yet has no completeness (None)."""

    def items(partition: str) -> list[dict]:
        return _query_all(
            ddb,
            TableName=anomaly_table,
            KeyConditionExpression="detector = :d AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":d": {"S": partition},
                ":a": {"S": since},
                ":b": {"S": until + "~"},
            },
        )

    shards: dict[str, dict[str, tuple[int, int]]] = {}
    usual: dict[str, int] = {}
    for item in items(quality_partition(detector)):
        start, shard = item["sk"]["S"].rsplit("#", 1)
        reporting, expected = int(item["reporting"]["N"]), int(item["expected"]["N"])
        shards.setdefault(start, {})[shard] = (reporting, expected)
        usual[shard] = max(usual.get(shard, 0), expected)
    intake: dict[str, dict] = {}
    for item in items(intake_partition(detector)):
        start = item["sk"]["S"].rsplit("#", 1)[0]
        row = intake.setdefault(
            start, {**dict.fromkeys(INTAKE_COUNTS, 0), "rejected_by_reason": {}}
        )
        for name in INTAKE_COUNTS:
            row[name] += int(item[name]["N"])
        reasons = row["rejected_by_reason"]
        for code, n in item.get("rejected_by_reason", {}).get("M", {}).items():
            reasons[code] = reasons.get(code, 0) + int(n["N"])
    out = []
    for start in sorted(set(shards) | set(intake)):
        row: dict = {"interval_start": start}
        if start in shards:
            present = shards[start]
            reporting = sum(r for r, _ in present.values())
            expected = sum(present[k][1] if k in present else n for k, n in usual.items())
            row.update(
                reporting=reporting,
                expected=expected,
                completeness=round(reporting / expected, 4) if expected else None,
            )
        else:
            row.update(reporting=None, expected=None, completeness=None)
        counts = intake.get(start, {**dict.fromkeys(INTAKE_COUNTS, 0), "rejected_by_reason": {}})
        counts["rejected_by_reason"] = dict(sorted(counts["rejected_by_reason"].items()))
        row.update(counts)
        out.append(row)
    return out


def latest_quality_interval(ddb, anomaly_table: str, detector: str) -> str | None:
    """The newest interval with a completeness row (the last one a shard closed)."""
    page = ddb.query(
        TableName=anomaly_table,
        KeyConditionExpression="detector = :d",
        ExpressionAttributeValues={":d": {"S": quality_partition(detector)}},
        ScanIndexForward=False,
        Limit=1,
    )
    return page["Items"][0]["sk"]["S"].rsplit("#", 1)[0] if page["Items"] else None


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
