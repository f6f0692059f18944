"""The Fraud detection (RGCN on Neptune) stack: wires this system's constructs together; no resource logic here."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from cdk.config import SharedSettings
from cdk.fraud.settings import FraudSettings
from cdk.shared.security import SecurityBaseline


class FraudStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedSettings,
        settings: FraudSettings,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.baseline = SecurityBaseline(
            self,
            "Baseline",
            removal=shared.removal_policy,
            description="Vigil Fraud detection (RGCN on Neptune): encrypts this system's data, logs and messages",
        )
        # --- network, graph database, data, Glue ETL, training pipeline (issue 5) ---

        # --- real-time scoring API (issue 4) ---
