"""Alert messages a person understands, and the per-series cool-down that de-duplicates them."""

from __future__ import annotations

import json

from vigil.air_quality.engine import AnomalyGroup


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
