"""Air-quality operations: alarms on the detector Lambda's errors and its dead-letter queue, to
the operations topic and dashboard."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.air_quality.anomaly_detector import AnomalyDetector
from cdk.shared.alarms import ABOVE, PERIOD, Operations


class AirQualityOperations(Construct):
    """Exposes ``topic``, ``dashboard`` and ``alarms`` (by construct id)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        email: str | None,
        detector: AnomalyDetector,
    ):
        super().__init__(scope, construct_id)
        ops = Operations(self, "Operations", key=key, system="air-quality", email=email)
        self.topic, self.dashboard = ops.topic, ops.dashboard
        dlq = detector.dead_letter_queue
        self.alarms = {
            "DetectorErrors": ops.alarm(
                "DetectorErrors",
                metric=detector.function.metric_errors(period=PERIOD),
                threshold=1,
                description="Air-quality detector Lambda errors",
            ),
            "DetectorDeadLetters": ops.alarm(
                "DetectorDeadLetters",
                # Each message is a batch of readings the detector gave up on after its retries.
                metric=dlq.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=PERIOD
                ),
                threshold=0,
                comparison=ABOVE,
                description="Air-quality detector dead-letter queue holds messages",
            ),
        }
