"""Context keys of the Air-quality anomaly detection stack: `vigil:air-quality:<key>` in cdk.json or `-c`."""

from __future__ import annotations

from cdk.config import ContextModel


class AirQualitySettings(ContextModel):
    """Every field is a context key (camelCase alias); document new ones in the README table."""
