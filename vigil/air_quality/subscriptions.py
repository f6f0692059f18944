"""What an alert says about itself, and subscriptions that choose alerts by it.

Every alert the detector publishes carries SNS message attributes: ``severity`` (Number, 0-100;
0 for silent/recovered), ``kind`` (``sensor_fault``, ``event``, ``anomaly`` for one-measure
detectors, ``silent``), ``transition`` (``opened``, ``closed``, ``silent``, ``recovered``),
``measure`` (String.Array of the measures involved), ``detector`` and one attribute per
dimension (``LOCATION_ID``: its value). A subscription (context key ``alertSubscriptions``) turns
its filters into an SNS filter policy on them, so each team receives only its alerts:
maintenance ``kind: [sensor_fault, silent]``, public health ``kind: [event], minSeverity: 60``.

Standard library and pydantic only: CDK synth imports this.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

SENSOR_FAULT, EVENT, ANOMALY_KIND, SILENT = "sensor_fault", "event", "anomaly", "silent"
KINDS = (SENSOR_FAULT, EVENT, ANOMALY_KIND, SILENT)
OPENED, CLOSED, WENT_SILENT, RECOVERED = "opened", "closed", "silent", "recovered"
TRANSITIONS = (OPENED, CLOSED, WENT_SILENT, RECOVERED)
RESERVED_ATTRIBUTES = ("severity", "kind", "transition", "measure", "detector")


class AlertSubscription(BaseModel):
    """One subscriber and the alerts it wants (every filter left out: every alert)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )

    name: str = Field(
        pattern=r"^[A-Za-z0-9]{1,40}$", description="construct id of the subscription"
    )
    protocol: Literal["email", "sms", "lambda", "sqs"]
    endpoint: str = Field(min_length=1, description="address, E.164 number or ARN")
    min_severity: float | None = Field(None, ge=0, le=100)
    kinds: list[Literal["sensor_fault", "event", "anomaly", "silent"]] = Field(default_factory=list)
    transitions: list[Literal["opened", "closed", "silent", "recovered"]] = Field(
        default_factory=list
    )
    measures: list[str] = Field(default_factory=list)
    dimensions: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _filters_are_usable(self) -> AlertSubscription:
        for name, values in self.dimensions.items():
            if name in RESERVED_ATTRIBUTES:
                raise ValueError(f"dimension filter {name!r} clashes with an alert attribute")
            if not values:
                raise ValueError(f"dimension filter {name!r} lists no values")
        if self.protocol in ("lambda", "sqs") and not self.endpoint.startswith("arn:"):
            raise ValueError(f"a {self.protocol} subscription's endpoint must be an ARN")
        return self

    def check_against(self, measures: list[str], dimensions: list[str]) -> None:
        """Refuse filters on measures or dimensions the detector does not have (a typo would
        silently deliver nothing)."""
        unknown = sorted(set(self.measures) - set(measures))
        if unknown:
            raise ValueError(f"subscription {self.name}: unknown measures {unknown} ({measures})")
        unknown = sorted(set(self.dimensions) - set(dimensions))
        if unknown:
            raise ValueError(
                f"subscription {self.name}: unknown dimensions {unknown} ({dimensions})"
            )

    def filter_policy(self) -> dict[str, list]:
        """The SNS filter policy (message attributes), as SNS and moto read it."""
        policy: dict[str, list] = {}
        if self.min_severity is not None:
            policy["severity"] = [{"numeric": [">=", self.min_severity]}]
        if self.kinds:
            policy["kind"] = list(self.kinds)
        if self.transitions:
            policy["transition"] = list(self.transitions)
        if self.measures:
            policy["measure"] = list(self.measures)
        for name, values in self.dimensions.items():
            policy[name] = list(values)
        return policy
