"""What the console's CDK construct and its read-API Lambda agree on, defined once.

Standard library and pydantic only: ``python app.py`` imports this at synth.
"""

from __future__ import annotations

from vigil.environment import EnvironmentSettings

MAX_PAGE = 200
DEFAULT_PAGE = 50
RECENT_HOURS = 24  # how far back "recent transactions" looks (the store's TTL bounds it too)
# Every route of the read API (GET only); the CDK construct builds one API Gateway resource each
ROUTES = (
    "/fraud/transactions",
    "/fraud/transactions/{id}",
    "/air/anomalies",
    "/air/series",
    "/air/status",
    "/air/episodes",
    "/air/quality",
)
# The one write: an operator's verdict on an anomaly episode (POST, JSON body)
WRITE_ROUTES = ("/air/feedback",)


class ConsoleSettings(EnvironmentSettings):
    """The read-API Lambda's settings: the tables it reads, the air-quality detector's name and
    the fraud graph's endpoint."""

    recent_scores_table: str | None = None
    anomaly_table: str | None = None
    state_table: str | None = None
    detector_name: str | None = None
    # The fraud graph (Neptune's endpoint, or the local stand-in's) for a transaction's entities'
    # degree and known fraud count; without it the detail shows the scored record only.
    graph_endpoint: str | None = None
    graph_entity_columns: str | None = None  # comma-separated; default: the schema's
    hub_degree_threshold: int = 10_000  # the scoring path's: entities above it are not scanned


# Where each system stack publishes what the console stack reads (SSM parameters, resolved at
# deploy time), so the stacks stay independent: no cross-stack exports.
def parameter_name(stack_prefix: str, system: str, item: str) -> str:
    """``/<stack prefix>/console/<system>/<item>``, e.g. ``/Vigil/console/fraud/recent-scores-table``."""
    return f"/{stack_prefix}/console/{system}/{item}"


FRAUD_PARAMETERS = ("recent-scores-table", "key-arn")
AIR_QUALITY_PARAMETERS = ("anomaly-table", "state-table", "detector-name", "key-arn")
