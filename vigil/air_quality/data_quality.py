"""Data quality per interval: what arrived for each interval and what became of it.

An object from Firehose may hold readings of several intervals (late data, a device catching up),
so its records are counted in the interval of their own timestamp: received, accepted (scored),
duplicate (a place and time already counted; at-least-once delivery), and rejected by reason
(``REJECT_REASONS``: bad records, and ``late`` ones whose interval was already closed). A record
whose time cannot be read counts in the latest interval the object's readable records reach (the
object's own time; the processing time when none is readable). Always
``received == accepted + duplicate + sum(rejected)`` per interval.

Completeness (series reporting / series expected) is counted per closed interval and shard by the
service; both are stored in the anomaly table (``episode_table``) and summed per interval by
``episode_table.data_quality_from_table`` for the CLI and the console.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from vigil.air_quality.contract import LATE
from vigil.air_quality.engine import Detector, IngestResult, minute_to_iso
from vigil.air_quality.records import Batch, Reject


def ingest_counted(detector: Detector, part: Batch) -> tuple[IngestResult, np.ndarray]:
    """``detector.ingest(part)``, plus the interval of every record it accepted; its late
    rejects get their code and their minute (the interval they count in)."""
    last_closed = detector.last_closed
    before = detector.seen_iv.size
    outcome = detector.ingest(part, close=False)
    accepted_iv = detector.seen_iv[before:].copy()  # one entry per accepted record, in order
    outcome.closed = detector.close_ready()  # what ingest(part) closes, after the same update
    late_rows = (
        np.flatnonzero(part.minutes // detector.interval <= last_closed).tolist()
        if outcome.late and last_closed is not None
        else []
    )
    for i, reject in enumerate(outcome.late):  # the engine lists them in row order
        reject.code = LATE
        if i < len(late_rows):
            reject.minute = int(part.minutes[late_rows[i]])
    return outcome, accepted_iv


class IntakeCounter:
    """Counts per interval of one object's records (see the module docstring)."""

    def __init__(self, interval_minutes: int):
        self.interval = interval_minutes
        self.received: dict[int, int] = {}
        self.accepted: dict[int, int] = {}
        self.rejected: dict[int, dict[str, int]] = {}

    @staticmethod
    def _add(into: dict[int, int], intervals: np.ndarray) -> None:
        found, counts = np.unique(np.asarray(intervals, dtype=np.int64), return_counts=True)
        for iv, n in zip(found.tolist(), counts.tolist(), strict=True):
            into[iv] = into.get(iv, 0) + n

    def add_valid(self, minutes: np.ndarray, accepted_iv: np.ndarray) -> None:
        """Records that passed validation (``minutes``) and the intervals of those accepted."""
        self._add(self.received, np.asarray(minutes, dtype=np.int64) // self.interval)
        self._add(self.accepted, accepted_iv)

    def add_rejects(self, rejects: list[Reject], now: datetime | None = None) -> None:
        """Rejected records by reason; late ones were counted as received by ``add_valid``."""
        dated = [r.minute // self.interval for r in rejects if r.minute is not None]
        known = [*self.received, *dated]
        if known:
            fallback = max(known)
        else:
            moment = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
            fallback = int((moment - datetime(1970, 1, 1)).total_seconds() // 60) // self.interval
        for r in rejects:
            iv = r.minute // self.interval if r.minute is not None else fallback
            reasons = self.rejected.setdefault(iv, {})
            reasons[r.code or "other"] = reasons.get(r.code or "other", 0) + 1
            if r.code != LATE:
                self.received[iv] = self.received.get(iv, 0) + 1

    def rows(self) -> list[dict]:
        """Per interval: interval_start, received, accepted, duplicate, rejected (total),
        rejected_by_reason."""
        out = []
        for iv in sorted(self.received):
            received, accepted = self.received[iv], self.accepted.get(iv, 0)
            reasons = dict(sorted(self.rejected.get(iv, {}).items()))
            rejected = sum(reasons.values())
            out.append(
                {
                    "interval_start": minute_to_iso(iv * self.interval),
                    "received": received,
                    "accepted": accepted,
                    "duplicate": received - accepted - rejected,
                    "rejected": rejected,
                    "rejected_by_reason": reasons,
                }
            )
        return out
