"""What operators ask the detector: its status per series, its anomaly episodes, data quality,
and feedback.

Read by the CLI (``python -m vigil.air_quality status|episodes|quality|feedback``). Status comes
from the stored shard states (nothing is recomputed); episodes, data quality and feedback are
items of the anomaly table (``episode_table``, which the console's read API uses directly).
"""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.air_quality.engine import Detector, minute_to_iso
from vigil.air_quality.episode_table import (  # noqa: F401 - EpisodeNotFound: what callers catch
    EpisodeNotFound,
    data_quality_from_table,
    episodes_from_table,
    latest_quality_interval,
    store_feedback,
    summarize_status,
)
from vigil.air_quality.episodes import series_status
from vigil.air_quality.service import DetectorService


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
    return summarize_status(
        config.name, series, episodes, minute_to_iso(watermark) if watermark is not None else None
    )


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
    service: DetectorService, episode_id: str, verdict: str, *, note: str = ""
) -> dict:
    """Mark an episode as a real anomaly or not: stored on the episode and queued
    (``episode_table.store_feedback``, what the console does too), then learnt by its place's
    shard at once (``DetectorService.learn_pending_feedback``; the detector's next run would)."""
    episode = store_feedback(
        service.ddb, service.anomaly_table, service.config.name, episode_id, verdict, note
    )
    service.learn_pending_feedback()
    return episode


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
