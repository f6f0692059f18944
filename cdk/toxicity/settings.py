"""Context keys of the Toxicity classification stack: `vigil:toxicity:<key>` in cdk.json or `-c`."""

from __future__ import annotations

from cdk.config import ContextModel


class ToxicitySettings(ContextModel):
    """Every field is a context key (camelCase alias); document new ones in the README table."""
