"""The label API's contract: the request body, the path's transaction id, the Lambda's settings.

``POST /transactions/{id}/label`` with ``{"label": "fraud" | "legit", "source": "chargeback",
"override": false}``. Pydantic and the standard library only: the CDK construct builds the API
Gateway request model and the Lambda's environment from these, and synth must not import boto3.
The behaviour (graph, S3 label log, answers) is ``vigil.fraud.label_feedback``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vigil.environment import EnvironmentSettings
from vigil.fraud.label_log import LABEL_LOG_PREFIX, LABEL_VALUES

MAX_LABEL_BODY_BYTES = 4 * 1024
SOURCE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
TRANSACTION_ID_PATTERN = re.compile(r"^[0-9]{1,16}$")
MAX_TRANSACTION_ID = 2**53  # the scoring API's bound (exact in every JSON number)


class LabelRequest(BaseModel):
    """A label for one transaction: ``label`` and who says so (``source``: ``chargeback``,
    ``analyst``, …; lower-case letters, digits, ``_`` and ``-``, at most 32); ``override`` lets
    it replace a different label the transaction already has (else 409)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    label: Literal["fraud", "legit"]
    source: Annotated[str, Field(pattern=SOURCE_PATTERN)]
    override: bool = False


def label_request_json_schema() -> dict[str, Any]:
    """The body as a JSON Schema (draft 4) for API Gateway's request validator; the Lambda's
    ``LabelRequest`` rejects the same shapes."""
    return {
        "type": "object",
        "required": ["label", "source"],
        "additionalProperties": False,
        "properties": {
            "label": {"type": "string", "enum": sorted(LABEL_VALUES)},
            "source": {"type": "string", "pattern": SOURCE_PATTERN, "maxLength": 32},
            "override": {"type": "boolean"},
        },
    }


def parse_transaction_id(raw: Any) -> str | None:
    """The path's ``{id}`` as the graph spells it (``"00123"`` → ``"123"``), None if invalid."""
    if not isinstance(raw, str) or not TRANSACTION_ID_PATTERN.fullmatch(raw):
        return None
    value = int(raw)
    return str(value) if value < MAX_TRANSACTION_ID else None


class LabelSettings(EnvironmentSettings):
    """Settings of the label Lambda: the CDK construct writes them, the Lambda reads them."""

    graph_endpoint: str
    label_bucket: str
    label_log_prefix: str = LABEL_LOG_PREFIX
    graph_timeout_ms: int = 1_000
    s3_timeout_ms: int = 2_000
    latency_budget_ms: int = 5_000
    max_attempts: int = 3
    backoff_base_ms: int = 20
    backoff_cap_ms: int = 500
    rounds: int = 4  # read → log → graph rounds, when concurrent writers move the version
