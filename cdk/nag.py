"""cdk-nag: the AwsSolutions pack and every acknowledgement Vigil makes, each with its reason.

All acknowledgements live here so a reviewer reads one file to see every accepted deviation.
They are granular: a rule id with its finding (``AwsSolutions-IAM5[Resource::*]``) on the narrowest
construct that needs it, never a blanket rule on a whole stack, and always with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


@dataclass(frozen=True)
class Ack:
    rule: str  # e.g. "AwsSolutions-IAM5[Resource::*]"
    reason: str


def attach_checks(app: App) -> None:
    """Run the AwsSolutions pack over every stack at synth; a finding fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, *acks: Ack) -> None:
    for ack in acks:
        Validations.of(scope).acknowledge(Acknowledgment(id=ack.rule, reason=ack.reason))


# --- Reasons shared by several systems -------------------------------------------------------
LAMBDA_RUNTIME = Ack(
    "AwsSolutions-L1",
    "Lambdas run python3.11 on purpose: the same interpreter the project's tests, local demo and "
    "SageMaker images use; upgrading is one change in cdk/shared/function.py with the tests.",
)
XRAY_WILDCARD = Ack(
    "AwsSolutions-IAM5[Resource::*]",
    "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; the "
    "statement CDK adds for active tracing must use '*'.",
)
ACCESS_LOG_BUCKET = Ack(
    "AwsSolutions-S1",
    "This is the access-log bucket itself: logging its own access into itself would loop; "
    "every data bucket logs here.",
)


# --- Fraud (issues 3-5): add fraud acknowledgements below this line ---------------------------


# --- Air quality: add air-quality acknowledgements below this line ------------------------------


# --- Toxicity: add toxicity acknowledgements below this line ------------------------------------
