"""Toxicity operations: an alarm on the moderation API's 5xx rate, to the operations topic and
dashboard. The topic exists without the endpoint too, so its ARN does not depend on serving."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.shared.alarms import ABOVE, PERIOD, Operations
from cdk.toxicity.moderation_api import ModerationApi

# Share of moderation requests answered with a 5xx over five minutes that pages someone.
SERVER_ERROR_RATE = 0.05


class ToxicityOperations(Construct):
    """Exposes ``topic``, ``dashboard``, ``alarms`` (by construct id) and ``watch_moderation``."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str | None):
        super().__init__(scope, construct_id)
        self._ops = Operations(self, "Operations", key=key, system="toxicity", email=email)
        self.topic, self.dashboard = self._ops.topic, self._ops.dashboard
        self.alarms = {}

    def watch_moderation(self, moderation: ModerationApi) -> None:
        self.alarms["ModerationApi5xx"] = self._ops.alarm(
            "ModerationApi5xx",
            # 5XXError is 0 or 1 per request, so its average is the 5xx rate.
            metric=moderation.api.metric_server_error(statistic="Average", period=PERIOD),
            threshold=SERVER_ERROR_RATE,
            comparison=ABOVE,
            description="Toxicity moderation API 5xx rate above 5%",
        )
