"""Context keys of the Fraud detection (RGCN on Neptune) stack: `vigil:fraud:<key>` in cdk.json or `-c`."""

from __future__ import annotations

from cdk.config import ContextModel


class FraudSettings(ContextModel):
    """Every field is a context key (camelCase alias); document new ones in the README table."""
