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
from datetime import UTC, datetime


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


# --- detector and series status, stored with each shard's state -------------------------------
def status_partition(detector: str) -> str:
    return f"{detector}#status"


def status_item(
    detector: str,
    shard: int,
    *,
    series: list[dict],
    open_episodes: list[dict],
    watermark: str | None,
    interval_minutes: int,
    updated: str,
) -> dict:
    """The shard's status as an item of the anomaly table (what the console reads without the
    engine): its series' rows (``episodes.series_status``), open episodes and watermark."""
    item = {
        "detector": {"S": status_partition(detector)},
        "sk": {"S": f"{shard:05d}"},
        "series": {"S": json.dumps(series, separators=(",", ":"))},
        "open_episodes": {"S": json.dumps(open_episodes, separators=(",", ":"))},
        "interval_minutes": {"N": str(interval_minutes)},
        "updated": {"S": updated},
    }
    if watermark is not None:
        item["watermark"] = {"S": watermark}
    return item


def summarize_status(
    detector: str, series: list[dict], open_episodes: list[dict], watermark: str | None
) -> dict:
    """Per detector: learning (nothing can alert yet), active, or silent (every series is), the
    counts per series status, its last data, watermark and open episodes, and the series."""
    counts = {state: 0 for state in ("learning", "active", "silent")}
    for row in series:
        counts[row["status"]] += 1
    if not series or counts["active"] + counts["silent"] == 0:
        state = "learning"  # nothing learnt yet, or every series still needs data
    elif counts["silent"] == len(series):
        state = "silent"
    else:
        state = "active"
    last = max((row["last_data"] for row in series if row["last_data"]), default=None)
    return {
        "detector": detector,
        "status": state,
        "series_count": len(series),
        "by_status": counts,
        "last_data": last,
        "watermark": watermark,
        "open_episodes": sorted(open_episodes, key=lambda e: e["start"]),
        "series": sorted(series, key=lambda row: row["series"]),
    }


def _iso_minute(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp.rstrip("Z"))
    return int(moment.replace(tzinfo=UTC).timestamp() // 60)


def status_from_table(ddb, anomaly_table: str, detector: str, now: datetime) -> dict:
    """The detector's status from the shards' stored status items, judged at ``now`` (whole
    intervals since each series' last data)."""
    items = _query_all(
        ddb,
        TableName=anomaly_table,
        KeyConditionExpression="detector = :d",
        ExpressionAttributeValues={":d": {"S": status_partition(detector)}},
    )
    minute = int(now.replace(tzinfo=now.tzinfo or UTC).timestamp() // 60)
    series: list[dict] = []
    episodes: list[dict] = []
    watermark = None
    updated = None
    for item in items:
        interval = int(item["interval_minutes"]["N"])
        for row in json.loads(item["series"]["S"]):
            if row["last_data"]:
                last = _iso_minute(row["last_data"]) // interval
                row["intervals_since_data"] = minute // interval - 1 - last
            series.append(row)
        episodes += json.loads(item["open_episodes"]["S"])
        if "watermark" in item:
            watermark = max(watermark or item["watermark"]["S"], item["watermark"]["S"])
        updated = max(updated or item["updated"]["S"], item["updated"]["S"])
    return {**summarize_status(detector, series, episodes, watermark), "updated": updated}


# --- feedback: stored on the episode, learnt by the detector -----------------------------------
FEEDBACK_VERDICTS = ("anomaly", "not_anomaly")
MAX_NOTE_CHARS = 500


class EpisodeNotFound(LookupError):
    pass


def feedback_partition(detector: str) -> str:
    return f"{detector}#feedback"


def store_feedback(
    ddb, anomaly_table: str, detector: str, episode_id: str, verdict: str, note: str = ""
) -> dict:
    """Store an operator's verdict on an episode and queue it for the detector, which learns it
    at its next run (``DetectorService.apply_pending_feedback``); returns the episode. A missing
    episode raises ``EpisodeNotFound``; an unknown verdict or a long note ``ValueError``."""
    if verdict not in FEEDBACK_VERDICTS:
        raise ValueError(f"feedback must be one of {FEEDBACK_VERDICTS}, not {verdict!r}")
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"a feedback note has at most {MAX_NOTE_CHARS} characters")
    at = datetime.now(UTC).isoformat()
    try:
        item = ddb.update_item(
            TableName=anomaly_table,
            Key={"detector": {"S": episode_partition(detector)}, "sk": {"S": episode_id}},
            UpdateExpression="SET feedback = :v, feedback_note = :n, feedback_at = :t",
            ConditionExpression="attribute_exists(sk)",
            ExpressionAttributeValues={":v": {"S": verdict}, ":n": {"S": note}, ":t": {"S": at}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ddb.exceptions.ConditionalCheckFailedException as exc:
        raise EpisodeNotFound(f"no episode {episode_id!r} of {detector}") from exc
    ddb.put_item(
        TableName=anomaly_table,
        Item={
            "detector": {"S": feedback_partition(detector)},
            "sk": {"S": episode_id},
            "verdict": {"S": verdict},
            "episode": item["episode"],
            "at": {"S": at},
        },
    )
    episode = json.loads(item["episode"]["S"])
    return {**episode, "status": item["status"]["S"], "feedback": verdict}


def pending_feedback(ddb, anomaly_table: str, detector: str) -> list[dict]:
    """Verdicts the detector has not learnt yet: ``{"id", "verdict", "episode"}``, oldest first."""
    items = _query_all(
        ddb,
        TableName=anomaly_table,
        KeyConditionExpression="detector = :d",
        ExpressionAttributeValues={":d": {"S": feedback_partition(detector)}},
    )
    out = [
        {
            "id": i["sk"]["S"],
            "verdict": i["verdict"]["S"],
            "episode": json.loads(i["episode"]["S"]),
            "at": i["at"]["S"],
        }
        for i in items
    ]
    return sorted(out, key=lambda f: f["at"])
