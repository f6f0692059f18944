"""The one definition of a Vigil log group: encrypted with the system's key, kept for a retention
CloudWatch allows, removed or retained with the stack's data."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

# CloudWatch's allowed retentions (jsii's RetentionDays values are member names, not numbers).
_RETENTIONS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


def retention(days: int) -> logs.RetentionDays:
    """The nearest retention CloudWatch allows that keeps logs at least ``days``."""
    for value in sorted(_RETENTIONS):
        if value >= days:
            return getattr(logs.RetentionDays, _RETENTIONS[value])
    return logs.RetentionDays.TEN_YEARS


def encrypted_log_group(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    retention_days: int,
    removal_policy: RemovalPolicy,
) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        encryption_key=key,
        retention=retention(retention_days),
        removal_policy=removal_policy,
    )
