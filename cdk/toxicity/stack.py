"""The Toxicity classification stack: wires this system's constructs together; no resource logic here."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from cdk.config import SharedSettings
from cdk.shared.security import SecurityBaseline
from cdk.toxicity.settings import ToxicitySettings


class ToxicityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedSettings,
        settings: ToxicitySettings,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.baseline = SecurityBaseline(
            self,
            "Baseline",
            removal=shared.removal_policy,
            description="Vigil Toxicity classification: encrypts this system's data, logs and messages",
        )
