"""The detector's configuration: one validated model, read from JSON or YAML.

The concepts are the ones Lookout for Metrics users knew: an interval, up to five measures each
with an aggregation, up to five dimensions, a timestamp column and its format, an alert severity
threshold and historical data to learn from before going live. Vigil adds the streaming knobs
(allowed lateness, sensor sentinels, alert cool-down) and the model's learning rates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MINUTES_PER_DAY = 1440


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measure(_Strict):
    name: str = Field(min_length=1, description="Numeric column (field) of each record.")
    aggregation: Literal["AVG", "SUM"] = "AVG"


class ModelParams(_Strict):
    """Learning rates and detector statistics of the per-series model (defaults fit 5 min - 1 h)."""

    alpha: float = Field(0.9, gt=0, lt=1, description="level smoothing")
    beta: float = Field(0.005, ge=0, lt=1, description="trend smoothing")
    phi: float = Field(0.95, gt=0, le=1, description="trend damping per interval")
    gamma_daily: float = Field(0.08, ge=0, lt=1, description="daily profile smoothing")
    gamma_weekly: float = Field(0.04, ge=0, lt=1, description="weekly profile smoothing")
    rho_scale: float = Field(0.03, gt=0, lt=1, description="residual-scale smoothing")
    huber: float = Field(2.5, gt=0, description="residuals are clipped to +-huber*scale in updates")
    shift_lambda: float = Field(0.15, gt=0, le=1, description="EWMA of z for shifts and drifts")
    shift_gain: float = Field(0.55, ge=0, description="weight of the shift statistic")
    variance_lambda: float = Field(0.25, gt=0, le=1, description="EWMA of z^2 for variance bursts")
    variance_gain: float = Field(1.6, ge=0, description="weight of the variance statistic")
    spike_gain: float = Field(
        1.0, ge=0, description="weight of the spike-confirmation (interpolation) statistic"
    )
    univariate_gain: float = Field(
        0.75, ge=0, description="weight of the per-series statistics (the stuck run excepted)"
    )
    cross_gain: float = Field(
        1.0, ge=0, description="weight of the statistics conditional on the location's measures"
    )
    cross_spike_gain: float = Field(
        1.0, ge=0, description="weight of the spike confirmation against the location's others"
    )
    cross_rho: float = Field(
        0.02, gt=0, lt=1, description="smoothing of the residuals' covariance across measures"
    )
    cross_ridge: float = Field(
        0.05, ge=0, description="the covariance's diagonal is inflated by this fraction"
    )
    cross_clip: float = Field(4.0, gt=0, description="residuals are clipped to +-this to learn")
    damp_severity: float = Field(
        70.0, ge=0, le=100, description="intervals this severe barely update the model"
    )
    relevel_run: int = Field(
        3, ge=1, description="severe intervals in a row on one side that the level then follows"
    )
    stuck_run: int = Field(4, ge=1, description="repeats of the same value that mean stuck")
    stuck_z: float = Field(7.0, ge=0, description="z-equivalent of a stuck run of stuck_run")
    z_floor: float = Field(
        2.0, ge=0, description="lowest peaks threshold of the statistic (severity 0 below it)"
    )
    z_ceiling: float = Field(
        8.0, gt=0, description="severity 100 under the prior tail, before a series shows its own"
    )
    variance_cap: float = Field(9.0, gt=0, description="z^2 is capped at this in the EWMA")
    tail_share: float = Field(
        0.05, gt=0, lt=1, description="share of intervals above the peaks threshold"
    )
    tail_rate: float = Field(
        0.1, gt=0, lt=1, description="learning rate of the peaks threshold (log scale)"
    )
    severity_100_probability: float = Field(
        1e-4, gt=0, lt=1, description="tail probability of severity 100 (tail_share: 0)"
    )
    novelty_window: int | None = Field(
        None,
        ge=0,
        le=32,
        description="values in the latest pattern compared with the series' recent history "
        "(the nearest earlier run of as many values); 0: off; None: 3 for a detector of one "
        "measure, off for several, whose series the location's other measures explain (see "
        "docs/air-quality-detector.md)",
    )
    novelty_history: int = Field(
        2016,
        ge=0,
        le=20_000,
        description="recent values each series keeps for the novelty statistic (2016: a week "
        "of 5-minute intervals; 4 bytes of state each)",
    )
    transform: Literal["auto", "log", "sqrt", "none"] = Field(
        "auto", description="auto: sqrt for non-negative series (variance grows with level)"
    )


AUTO_NOVELTY_WINDOW = 3


class DetectorConfig(_Strict):
    name: str = Field("air-quality", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    interval_minutes: int = Field(5, ge=1, le=MINUTES_PER_DAY)
    measures: list[Measure] = Field(min_length=1, max_length=5)
    dimensions: list[str] = Field(default_factory=list, max_length=5)
    timestamp_column: str | list[str] = Field(
        "TIMESTAMP", description="column, or columns joined with a space (Date + Time)"
    )
    timestamp_format: str = Field(
        "%Y-%m-%d %H:%M", description="strftime format, 'iso8601', 'epoch_s' or 'epoch_ms'"
    )
    severity_threshold: float = Field(
        45.0, ge=0, le=100, description="alert at or above (the UCI benchmark tunes 45)"
    )
    lateness_minutes: int = Field(1, ge=0, le=7 * MINUTES_PER_DAY)
    sentinels: list[float] = Field(default_factory=lambda: [-200.0])
    warmup_intervals: int = Field(
        0, ge=0, description="intervals a series must have seen before it may alert"
    )
    history: str | None = Field(
        None, description="file or s3://bucket/prefix of records to learn from before going live"
    )
    cooldown_minutes: int = Field(
        60, ge=0, description="quiet time per place after an episode's alert (stored, not sent)"
    )
    state_shards: int = Field(
        1,
        ge=1,
        le=10_000,
        description="shards the continuous detector's state is split into by dimension values "
        "(one engine and DynamoDB partition each; about series / 300, see docs/air-quality.md)",
    )
    alert_memory_minutes: int = Field(
        720,
        ge=1,
        description="half-life of the severity a new alert of a series must exceed (an "
        "anomaly is raised when it begins or gets worse, not every interval it lasts)",
    )
    alert_worsening: float = Field(
        1.1,
        ge=1.0,
        le=10.0,
        description="while a series' recent alert is remembered, a new one needs this many times "
        "its rarity (in decades beyond the usual): a burst that creeps a little higher interval "
        "after interval is one alert, one that gets clearly worse is another (1: any rarer)",
    )
    episode_gap_intervals: int = Field(
        1,
        ge=0,
        le=288,
        description="quiet intervals an anomaly episode of a place may have and stay one episode "
        "(one alert when it opens, however many intervals it lasts)",
    )
    alert_on_episode_close: bool = Field(
        False, description="also send a note when an anomaly episode closes"
    )
    co_movement_z: float = Field(
        2.5,
        gt=0,
        description="a place's other measure whose standardized residual reaches this, on the "
        "same side, in an anomaly's interval moved with it: the episode is an event, not a fault",
    )
    fault_departure_share: float = Field(
        0.7,
        gt=0,
        description="an anomalous measure whose residual conditional on the place's other "
        "measures keeps at least this share of its own residual departs from what the others "
        "predict: with no other measure moving with it, a likely sensor fault; below it, the "
        "others explain the move: a likely real event",
    )
    device_thing_template: str | None = Field(
        None,
        description="the thing name of the device that may report for a record's dimension "
        "values, e.g. 'sensor-{LOCATION_ID}': a record whose THING_NAME (set by the topic rule "
        "from the device's topic, which its IoT policy pins to its own thing name) differs is "
        "rejected; None: not checked",
    )
    silent_intervals: int = Field(
        3,
        ge=0,
        le=10_000,
        description="intervals without data after which a series that normally reports raises "
        "a silent-series alert (0: never)",
    )
    silent_min_observations: int = Field(
        12,
        ge=1,
        description="scored intervals a series must have before its silence is alerted "
        "(a series that never reported regularly is not missed)",
    )
    model: ModelParams = Field(default_factory=ModelParams)

    @field_validator("interval_minutes")
    @classmethod
    def _divides_a_day(cls, value: int) -> int:
        if MINUTES_PER_DAY % value:
            raise ValueError(
                f"interval_minutes={value} must divide a day (1440 minutes), e.g. 1, 5, 10, 60, 1440"
            )
        return value

    @model_validator(mode="after")
    def _thing_template_names_dimensions(self) -> DetectorConfig:
        if self.device_thing_template is not None:
            import string

            used = {
                name
                for _, name, _, _ in string.Formatter().parse(self.device_thing_template)
                if name
            }
            if not used or used - set(self.dimensions):
                raise ValueError(
                    f"device_thing_template {self.device_thing_template!r} must name dimensions "
                    f"only (of {self.dimensions}), in braces"
                )
        return self

    @model_validator(mode="after")
    def _columns_are_distinct(self) -> DetectorConfig:
        names = [m.name for m in self.measures]
        stamp = (
            [self.timestamp_column]
            if isinstance(self.timestamp_column, str)
            else list(self.timestamp_column)
        )
        every = names + list(self.dimensions) + stamp
        duplicated = sorted({n for n in every if every.count(n) > 1})
        if duplicated:
            raise ValueError(f"columns used twice (measure, dimension or timestamp): {duplicated}")
        return self

    @property
    def measure_names(self) -> list[str]:
        return [m.name for m in self.measures]

    @property
    def novelty_window(self) -> int:
        """``model.novelty_window`` resolved: None is 3 with one measure, 0 (off) with several."""
        window = self.model.novelty_window
        if window is None:
            return AUTO_NOVELTY_WINDOW if len(self.measures) == 1 else 0
        return window

    @property
    def timestamp_columns(self) -> list[str]:
        if isinstance(self.timestamp_column, str):
            return [self.timestamp_column]
        return list(self.timestamp_column)

    @property
    def slot_minutes(self) -> int:
        """Resolution of the daily/weekly profiles: the interval, but at least 15 minutes."""
        slot = self.interval_minutes * -(-15 // self.interval_minutes)
        return slot if MINUTES_PER_DAY % slot == 0 else self.interval_minutes


def load_config(path: str | Path) -> DetectorConfig:
    """Read a detector config from a .json, .yaml or .yml file."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    return DetectorConfig.model_validate(data)


DEFAULT_AIR_QUALITY_CONFIG = DetectorConfig(
    measures=[Measure(name="CO"), Measure(name="SO2"), Measure(name="NO2")],
    dimensions=["LOCATION_ID"],
)
