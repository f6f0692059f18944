"""What the air-quality CDK constructs and the detector Lambda must agree on, defined once.

The detector's configuration model, the IoT topic rule, S3 prefixes, the anomaly table's index
and the detector Lambda's settings (``to_environment()`` in CDK, ``from_environment()`` in the
handler). Standard library and pydantic only: ``python app.py`` imports this, and synth must not
need numpy, pandas, boto3 or Powertools.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import field_validator

from vigil.air_quality.config import DetectorConfig, Measure, ModelParams
from vigil.air_quality.sharding import SHARD_PARTITION_KEY, shard_jq_expression
from vigil.air_quality.topic_rule import RULE_SQL, RULE_SQL_VERSION, TOPIC_PREFIX
from vigil.environment import EnvironmentSettings

__all__ = [
    "BY_DIMENSION_INDEX",
    "DETECTOR_ERROR_PREFIX",
    "DETECTOR_STATE_PREFIX",
    "READINGS_PREFIX",
    "REJECT_REASONS",
    "RULE_SQL",
    "RULE_SQL_VERSION",
    "SHARD_PARTITION_KEY",
    "TOPIC_PREFIX",
    "DetectorConfig",
    "DetectorSettings",
    "Measure",
    "ModelParams",
    "TicketSettings",
    "shard_jq_expression",
]

READINGS_PREFIX = "readings/"  # Firehose writes here; a new object triggers the detector
DETECTOR_ERROR_PREFIX = "errors/detector/"  # rejected records, per object
DETECTOR_STATE_PREFIX = "state/detector/"  # the shards' state when it is kept in S3
BY_DIMENSION_INDEX = "byDimension"  # the anomaly table's index: one location's anomalies by time

# Why a record was rejected, as a short code from a fixed list: the ``reason`` dimension of the
# RecordsRejected metric (a bounded set, so its cost does not grow with the fleet) and the keys of
# the data-quality figures per interval. The error prefix keeps each record's full explanation.
# Listed from the most basic problem: a record with several gets the first of them.
NOT_JSON = "not_json"  # not JSON, nested too deeply, or not an object
MISSING_FIELD = "missing_field"  # the timestamp, a dimension or a measure absent or null
BAD_TIMESTAMP = "bad_timestamp"  # does not match the configured format
BAD_DIMENSION = "bad_dimension"  # empty, or an object/array
WRONG_DEVICE = "wrong_device"  # the publishing thing may not report for this place
BAD_MEASURE = "bad_measure"  # not a number, NaN or infinite
LATE = "late"  # its interval was already closed
REJECT_REASONS = (
    NOT_JSON,
    MISSING_FIELD,
    BAD_TIMESTAMP,
    BAD_DIMENSION,
    WRONG_DEVICE,
    BAD_MEASURE,
    LATE,
)


class DetectorSettings(EnvironmentSettings):
    """The detector Lambda's settings: its configuration, its tables and its alert topic."""

    detector_config: DetectorConfig
    state_table: str
    anomaly_table: str
    alert_topic_arn: str | None = None
    error_prefix: str = DETECTOR_ERROR_PREFIX
    state_bucket: str | None = None  # set: the shards' state in S3, else in the state table

    @field_validator("detector_config", mode="before")
    @classmethod
    def _from_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("alert_topic_arn", "state_bucket", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None


class TicketSettings(EnvironmentSettings):
    """The sample alert action's settings: the table its maintenance tickets live in."""

    ticket_table: str
