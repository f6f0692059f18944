"""The Air-quality anomaly detection stack: wires this system's constructs together; no resource logic here."""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from cdk.air_quality.alerts import Alerts
from cdk.air_quality.anomaly_detector import AnomalyDetector
from cdk.air_quality.console_parameters import ConsoleParameters
from cdk.air_quality.iot_ingest import IotIngest
from cdk.air_quality.maintenance_tickets import MaintenanceTickets
from cdk.air_quality.operations import AirQualityOperations
from cdk.air_quality.settings import AirQualitySettings
from cdk.config import SharedSettings
from cdk.shared.security import SecurityBaseline
from vigil.air_quality.contract import shard_jq_expression

PANDAS_LAYER_ACCOUNT = "336392948345"  # AWS SDK for pandas public layers


class AirQualityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedSettings,
        settings: AirQualitySettings,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.baseline = SecurityBaseline(
            self,
            "Baseline",
            removal=shared.removal_policy,
            description="Vigil Air-quality anomaly detection: encrypts this system's data, logs and messages",
        )
        key = self.baseline.key
        bucket = self.baseline.data_bucket("Readings", scope=self)
        detector_config = settings.detector_config(bucket.bucket_name)
        self.ingest = IotIngest(
            self,
            "Ingest",
            bucket=bucket,
            key=key,
            buffer_seconds=settings.buffer_seconds,
            buffer_mib=settings.firehose_buffer_mib,
            shard_expression=(
                shard_jq_expression(detector_config.dimensions, detector_config.state_shards)
                if detector_config.state_shards > 1
                else None
            ),
            log_retention_days=shared.log_retention_days,
            removal_policy=self.baseline.removal_policy,
        )
        self.alerts = Alerts(
            self,
            "Alerts",
            key=key,
            emails=settings.alert_emails,
            phone_numbers=settings.alert_phone_numbers,
            action_function_arn=settings.action_function_arn,
            subscriptions=settings.alert_subscriptions,
        )
        self.detector = AnomalyDetector(
            self,
            "Detector",
            bucket=bucket,
            key=key,
            topic=self.alerts.topic,
            config=detector_config,
            reserved_concurrency=settings.detector_reserved_concurrency,
            state_in_bucket=settings.state_store == "s3",
            removal_policy=self.baseline.removal_policy,
            log_retention_days=shared.log_retention_days,
            memory_mib=settings.detector_memory_mib,
            scientific_layer_arn=settings.pandas_layer_arn
            or (
                f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{PANDAS_LAYER_ACCOUNT}:layer:"
                f"AWSSDKPandas-Python311:{settings.pandas_layer_version}"
            ),
        )
        self.operations = AirQualityOperations(
            self,
            "Operations",
            key=key,
            email=shared.operations_email,
            detector=self.detector,
        )
        CfnOutput(self, "OperationsTopicArn", value=self.operations.topic.topic_arn)
        CfnOutput(self, "ReadingsBucket", value=bucket.bucket_name)
        if settings.maintenance_tickets:
            self.tickets = MaintenanceTickets(
                self,
                "MaintenanceTickets",
                key=key,
                topic=self.alerts.topic,
                anomaly_table=self.detector.anomaly_table,
                log_retention_days=shared.log_retention_days,
                removal_policy=self.baseline.removal_policy,
            )
        CfnOutput(self, "AlertTopic", value=self.alerts.topic.topic_arn)
        CfnOutput(self, "AnomalyTable", value=self.detector.anomaly_table.table_name)
        ConsoleParameters(
            self,
            "ConsoleParameters",
            stack_prefix=shared.stack_prefix,
            anomaly_table=self.detector.anomaly_table,
            state_table=self.detector.state_table,
            detector_name=detector_config.name,
            key=key,
        )
        CfnOutput(self, "ThingPolicy", value=self.ingest.thing_policy.ref)
