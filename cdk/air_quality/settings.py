"""Context keys of the Air-quality anomaly detection stack: `vigil:air-quality:<key>` in cdk.json or `-c`."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cdk.config import ContextModel
from vigil.air_quality.contract import DetectorConfig, Measure, ModelParams
from vigil.air_quality.subscriptions import AlertSubscription


def _default(field: str):
    """The detector's own default: one definition, in the model the Lambda reads."""
    return DetectorConfig.model_fields[field].default


class AirQualitySettings(ContextModel):
    """Every field is a context key (camelCase alias); list new ones in docs/configuration.md."""

    interval_minutes: int = Field(
        _default("interval_minutes"),
        description="Detector interval in minutes (1 to 1440, must divide a day).",
    )
    measures: list[str] = Field(
        default_factory=lambda: ["CO:AVG", "SO2:AVG", "NO2:AVG"],
        description="Up to 5 measures as NAME:AGGREGATION (AVG or SUM).",
    )
    dimensions: list[str] = Field(
        default_factory=lambda: ["LOCATION_ID"], description="Up to 5 dimension fields."
    )
    severity_threshold: float = Field(
        _default("severity_threshold"),
        ge=0,
        le=100,
        description="Alert when an interval's severity (0-100) reaches this.",
    )
    lateness_minutes: int = Field(
        _default("lateness_minutes"),
        ge=0,
        description="How late a record may arrive for its interval before it is rejected.",
    )
    cooldown_minutes: int = Field(
        _default("cooldown_minutes"),
        ge=0,
        description="Quiet time per place after an episode's alert (a new episode within it is "
        "stored, not sent).",
    )
    buffer_seconds: int = Field(
        60,
        ge=0,
        le=900,
        description="Firehose buffering interval (0 to 900 s; at least 60 with stateShards > 1: "
        "dynamic partitioning has no zero buffering).",
    )
    buffer_mib: int | None = Field(
        None,
        ge=1,
        le=128,
        description="Firehose buffering size in MiB (default 5; 64 with stateShards > 1, the least "
        "dynamic partitioning accepts).",
    )
    state_shards: int = Field(
        _default("state_shards"),
        ge=1,
        le=500,
        description="Shards of places the detector's state is split into; above 1, Firehose writes "
        "each shard's readings under its own prefix (dynamic partitioning) and shards are scored in "
        "parallel. About series / 300; at most Firehose's 500 active partitions.",
    )
    state_store: Literal["dynamodb", "s3"] = Field(
        "dynamodb",
        description="Where the detector keeps each shard's state: DynamoDB items (chunks of 350 KB, "
        "committed in one transaction per object) or one S3 object per shard (conditional writes; "
        "far cheaper for large fleets, see docs/air-quality.md).",
    )
    detector_concurrency: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Reserved concurrency of the detector Lambda (default: stateShards, at most "
        "50): how many shards' objects are scored at once.",
    )
    episode_gap_intervals: int = Field(
        _default("episode_gap_intervals"),
        ge=0,
        le=288,
        description="Quiet intervals an anomaly episode of a place may contain and stay one "
        "episode (one alert when it opens).",
    )
    alert_on_episode_close: bool = Field(
        _default("alert_on_episode_close"), description="Also send a note when an episode closes."
    )
    silent_intervals: int = Field(
        _default("silent_intervals"),
        ge=0,
        description="Whole intervals without data after which a series that normally reports "
        "raises a silent-series alert (0: off, and no schedule).",
    )
    silent_min_observations: int = Field(
        _default("silent_min_observations"),
        ge=1,
        description="Scored intervals a series needs before its silence is alerted.",
    )
    co_movement_z: float = Field(
        _default("co_movement_z"),
        gt=0,
        description="Standardized residual at which another measure of the place counts as "
        "moving with an anomaly (kind event rather than sensor_fault).",
    )
    fault_departure_share: float = Field(
        _default("fault_departure_share"),
        gt=0,
        description="Share of an anomalous measure's residual left once the place's other "
        "measures are accounted for (the cross-measure statistic) at which it departs from "
        "them (kind sensor_fault unless another measure moved with it); below it, event.",
    )
    novelty_window: int | None = Field(
        ModelParams.model_fields["novelty_window"].default,
        ge=0,
        le=32,
        description="Values in the latest pattern the novelty statistic compares with each "
        "series' recent history (0: off; unset: 3 for one measure, off for several; 8.5 KB of "
        "state per series when on).",
    )
    device_thing_template: str | None = Field(
        None,
        description="Thing name of the device that may report for a record's dimensions, e.g. "
        "sensor-{LOCATION_ID}: other records are rejected with their reason (default: not checked).",
    )
    maintenance_tickets: bool = Field(
        False,
        description="Deploy the sample alert action: a Lambda subscribed to sensor_fault and "
        "silent alerts that keeps maintenance tickets in the anomaly table.",
    )
    alert_subscriptions: list[AlertSubscription] = Field(
        default_factory=list,
        description="Subscribers with their own filters (JSON list: name, protocol email|sms|"
        "lambda|sqs, endpoint, minSeverity, kinds, transitions, measures, dimensions); each "
        "becomes an SNS subscription with a filter policy (vigil/air_quality/subscriptions.py).",
    )
    alert_emails: list[str] = Field(
        default_factory=list, description="E-mail addresses subscribed to the alert topic."
    )
    alert_phone_numbers: list[str] = Field(
        default_factory=list, description="E.164 phone numbers subscribed for SMS alerts."
    )
    action_function_arn: str | None = Field(
        None, description="Optional Lambda ARN subscribed to alerts for automation (action hook)."
    )
    history_prefix: str = Field(
        "history/",
        description="Prefix in the readings bucket the detector learns from before going live.",
    )
    detector_memory_mib: int = Field(1024, ge=128, le=10240, description="Detector Lambda memory.")
    pandas_layer_version: int = Field(
        31,
        ge=1,
        description="Version of the public AWS SDK for pandas layer (AWSSDKPandas-Python311: numpy, "
        "pandas, pyarrow) in the deploy region; versions differ per region.",
    )
    pandas_layer_arn: str | None = Field(
        None,
        description="Full ARN of a layer with numpy, pandas and pyarrow (overrides the version).",
    )

    @field_validator("alert_subscriptions", mode="before")
    @classmethod
    def _subscriptions_from_json(cls, value: Any) -> Any:
        # `-c vigil:air-quality:alertSubscriptions='[{...}]'` arrives as one string
        return json.loads(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _subscriptions_match_the_detector(self) -> AirQualitySettings:
        measures = [item.partition(":")[0] for item in self.measures]
        names = [s.name for s in self.alert_subscriptions]
        if len(set(names)) != len(names):
            raise ValueError(f"alertSubscriptions names must be unique: {names}")
        for subscription in self.alert_subscriptions:
            subscription.check_against(measures, self.dimensions)
        return self

    @model_validator(mode="after")
    def _partitioning_limits(self) -> AirQualitySettings:
        if self.state_shards > 1:
            if self.buffer_seconds < 60:
                raise ValueError("bufferSeconds must be at least 60 when stateShards > 1")
            if self.buffer_mib is not None and self.buffer_mib < 64:
                raise ValueError("bufferMib must be at least 64 when stateShards > 1")
        return self

    @property
    def firehose_buffer_mib(self) -> int:
        return self.buffer_mib or (64 if self.state_shards > 1 else 5)

    @property
    def detector_reserved_concurrency(self) -> int:
        return self.detector_concurrency or min(self.state_shards, 50)

    def detector_config(self, bucket_name: str = "") -> DetectorConfig:
        """The one detector configuration model, validated at synth time."""
        measures = []
        for item in self.measures:
            name, _, aggregation = item.partition(":")
            measures.append(Measure(name=name, aggregation=(aggregation or "AVG").upper()))
        return DetectorConfig(
            interval_minutes=self.interval_minutes,
            measures=measures,
            dimensions=self.dimensions,
            severity_threshold=self.severity_threshold,
            lateness_minutes=self.lateness_minutes,
            cooldown_minutes=self.cooldown_minutes,
            state_shards=self.state_shards,
            episode_gap_intervals=self.episode_gap_intervals,
            alert_on_episode_close=self.alert_on_episode_close,
            silent_intervals=self.silent_intervals,
            silent_min_observations=self.silent_min_observations,
            co_movement_z=self.co_movement_z,
            fault_departure_share=self.fault_departure_share,
            device_thing_template=self.device_thing_template,
            model=ModelParams(novelty_window=self.novelty_window),
            history=f"s3://{bucket_name}/{self.history_prefix}" if bucket_name else None,
        )
