"""Alert messages a person understands: anomaly episodes, silent series and their recovery."""

from __future__ import annotations

import json

from vigil.air_quality.engine import AnomalyGroup
from vigil.air_quality.episodes import (
    CLOSED,
    EVENT,
    OPENED,
    RECOVERED,
    SENSOR_FAULT,
    WENT_SILENT,
    Transition,
)

KIND_WORDS = {SENSOR_FAULT: "likely sensor fault", EVENT: "likely real event"}


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def alert_subject(group: AnomalyGroup, detector: str) -> str:
    top = group.anomalies[0]
    where = ", ".join(top.dimensions.values()) or "all data"
    more = f" (+{len(group.anomalies) - 1} more)" if len(group.anomalies) > 1 else ""
    subject = f"[{detector}] {top.measure} anomaly at {where}, severity {top.severity:.0f}{more}"
    return subject[:100]  # SNS subject limit


def alert_message(group: AnomalyGroup, detector: str) -> str:
    """Plain text for e-mail/SMS: what, where, when, how severe, expected vs observed, why."""
    lines = [
        f"Vigil detector '{detector}' found {len(group.anomalies)} anomal"
        f"{'y' if len(group.anomalies) == 1 else 'ies'} in the interval "
        f"{group.interval_start} - {group.interval_end} (highest severity "
        f"{group.severity:.0f}/100).",
        "",
    ]
    for a in group.anomalies:
        where = ", ".join(f"{k} {v}" for k, v in a.dimensions.items()) or "all data"
        direction = "above" if a.observed >= a.expected else "below"
        lines.append(
            f"- {a.measure} at {where}: observed {_fmt(a.observed)}, expected about "
            f"{_fmt(a.expected)} ({direction} expectation, {abs(a.z):.1f} standard deviations); "
            f"severity {a.severity:.0f}; looks like: {a.reason}."
        )
    if group.contributions:
        lines.append("")
        lines.append("Contribution to this anomaly by dimension value:")
        for dim, values in group.contributions.items():
            parts = ", ".join(
                f"{v} {pct:.0f}%" for v, pct in sorted(values.items(), key=lambda kv: -kv[1])
            )
            lines.append(f"- {dim}: {parts}")
    lines.append("")
    lines.append("Machine-readable details follow.")
    lines.append(json.dumps(group.to_dict(), separators=(",", ":")))
    return "\n".join(lines)


def _where(dimensions: dict[str, str]) -> str:
    return ", ".join(dimensions.values()) or "all data"


def transition_subject(t: Transition, detector: str) -> str:
    if t.what == OPENED and t.group is not None:
        subject = alert_subject(t.group, detector)
        if t.kind in KIND_WORDS:
            subject = f"{subject} - {KIND_WORDS[t.kind]}"
        return subject[:100]
    measure = ", ".join(t.measures)
    if t.what == WENT_SILENT:
        return f"[{detector}] silent: {measure} at {_where(t.dimensions)} sends no data"[:100]
    if t.what == RECOVERED:
        return f"[{detector}] recovered: {measure} at {_where(t.dimensions)} reports again"[:100]
    return f"[{detector}] episode closed at {_where(t.dimensions)} ({measure})"[:100]


def transition_message(t: Transition, detector: str) -> str:
    """The text of an episode's or a silent series' alert; its details as JSON on the last line
    (what an automation reads)."""
    d = t.detail
    if t.what == OPENED and t.group is not None:
        head = [
            f"An anomaly episode opened at {_where(t.dimensions)} at {d['start']} "
            f"({KIND_WORDS.get(t.kind, 'anomaly')}: "
            + (
                "one measure departs from the place's others"
                if t.kind == SENSOR_FAULT
                else "the place's measures moved together"
                if t.kind == EVENT
                else "one measure is configured"
            )
            + "). Later intervals of the same episode do not page again.",
            "",
        ]
        text = alert_message(t.group, detector).rsplit("\n", 1)[0]
        details = json.dumps({**t.group.to_dict(), "episode": d}, separators=(",", ":"))
        return "\n".join(head) + text + "\n" + details
    if t.what == WENT_SILENT:
        text = (
            f"{d['series']} has sent no data since {d['last_data']} "
            f"({d['silent_intervals']} whole intervals). It normally reports; check the "
            "sensor, its power and its connection."
        )
    elif t.what == RECOVERED:
        text = f"{d['series']} reports again (silent since {d['last_data']})."
    elif t.what == CLOSED:
        text = (
            f"The anomaly episode at {_where(t.dimensions)} ({d['start']} - {d['end']}, peak "
            f"severity {d['peak_severity']:.0f}, {', '.join(d['series'])}) has closed."
        )
    else:
        text = f"{t.what}: {d}"
    return f"Vigil detector '{detector}': {text}\n\n" + json.dumps(d, separators=(",", ":"))
