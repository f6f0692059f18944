"""What operators ask the detector: its status per series, its anomaly episodes, and feedback.

Read by the CLI (``python -m vigil.air_quality status|episodes|feedback``) and the console's read
API. Status comes from the stored shard states (nothing is recomputed); episodes are items of the
anomaly table under the partition ``<detector>#episodes``, sorted by their start.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from vigil.air_quality.engine import Detector, minute_to_iso
from vigil.air_quality.episode_table import (
    data_quality_from_table,
    episode_partition,
    episodes_from_table,
    latest_quality_interval,
)
from vigil.air_quality.episodes import FEEDBACK_VERDICTS, apply_feedback, series_status
from vigil.air_quality.records import DIM_SEPARATOR
from vigil.air_quality.service import DetectorService, StateConflict
from vigil.air_quality.sharding import shard_of


class EpisodeNotFound(LookupError):
    pass


def _minute(moment: datetime) -> int:
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() // 60)


def detector_status(service: DetectorService, now: datetime | None = None) -> dict:
    """Per series learning (and how many intervals it still needs), active or silent, with its
    last data time; per detector the same in counts, and its open episodes."""
    now = now or datetime.now(UTC)
    config = service.config
    stored = service.state.load(list(range(config.state_shards)))
    series: list[dict] = []
    episodes: list[dict] = []
    watermark = None
    for part in stored.values():
        if part.data is None:
            continue
        detector = Detector.from_bytes(part.data, config)
        series += series_status(detector, _minute(now))
        episodes += list(detector.annotations.get("episodes", {}).values())
        if detector.watermark is not None:
            watermark = max(watermark or detector.watermark, detector.watermark)
    counts = {state: 0 for state in ("learning", "active", "silent")}
    for row in series:
        counts[row["status"]] += 1
    if not series:
        state = "learning"  # nothing learnt yet: it needs history or data
    elif counts["active"] + counts["silent"] == 0:
        state = "learning"
    elif counts["silent"] == len(series):
        state = "silent"
    else:
        state = "active"
    last = max((row["last_data"] for row in series if row["last_data"]), default=None)
    return {
        "detector": config.name,
        "status": state,
        "series_count": len(series),
        "by_status": counts,
        "last_data": last,
        "watermark": minute_to_iso(watermark) if watermark is not None else None,
        "open_episodes": sorted(episodes, key=lambda e: e["start"]),
        "series": sorted(series, key=lambda row: row["series"]),
    }


def list_episodes(
    service: DetectorService,
    *,
    since: str | None = None,
    until: str | None = None,
    kind: str | None = None,
    limit: int = 200,
) -> list[dict]:
    """The detector's episodes whose start lies in [since, until] (ISO minutes), oldest first."""
    return episodes_from_table(
        service.ddb,
        service.anomaly_table,
        service.config.name,
        since=since,
        until=until,
        kind=kind,
        limit=limit,
    )


def record_feedback(
    service: DetectorService, episode_id: str, verdict: str, *, note: str = "", attempts: int = 3
) -> dict:
    """Mark an episode as a real anomaly or not: stored on the episode, and learnt by its
    place's shard (``episodes.apply_feedback``), committed like any other state change."""
    if verdict not in FEEDBACK_VERDICTS:
        raise ValueError(f"feedback must be one of {FEEDBACK_VERDICTS}, not {verdict!r}")
    if len(note) > 500:
        raise ValueError("a feedback note has at most 500 characters")
    key = {"detector": {"S": episode_partition(service.config.name)}, "sk": {"S": episode_id}}
    try:
        item = service.ddb.update_item(
            TableName=service.anomaly_table,
            Key=key,
            UpdateExpression="SET feedback = :v, feedback_note = :n, feedback_at = :t",
            ConditionExpression="attribute_exists(sk)",
            ExpressionAttributeValues={
                ":v": {"S": verdict},
                ":n": {"S": note},
                ":t": {"S": datetime.now(UTC).isoformat()},
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise EpisodeNotFound(f"no episode {episode_id!r} of {service.config.name}") from exc
        raise
    episode = json.loads(item["episode"]["S"])
    dimension_key = DIM_SEPARATOR.join(
        episode["dimensions"].get(name, "") for name in service.config.dimensions
    )
    shard = shard_of(dimension_key, service.config.state_shards)
    for attempt in range(attempts):
        stored = service.state.load([shard])[shard]
        if stored.data is None:
            break
        detector = Detector.from_bytes(stored.data, service.config)
        apply_feedback(detector, episode, verdict)
        try:
            service.save_detectors({shard: (detector, stored)})
            break
        except StateConflict:
            if attempt == attempts - 1:
                raise
    return {**episode, "feedback": verdict}


def data_quality(service: DetectorService, *, since: str, until: str) -> list[dict]:
    """Per interval in [since, until]: completeness and the records received, accepted,
    duplicate and rejected by reason (``episode_table.data_quality_from_table``)."""
    return data_quality_from_table(
        service.ddb, service.anomaly_table, service.config.name, since=since, until=until
    )


def latest_data_quality(service: DetectorService) -> dict | None:
    """The data-quality figures of the newest interval a shard closed (None before any)."""
    start = latest_quality_interval(service.ddb, service.anomaly_table, service.config.name)
    if start is None:
        return None
    rows = data_quality(service, since=start, until=start)
    return rows[-1] if rows else None
