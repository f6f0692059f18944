"""The continuous detector: new Firehose objects trigger a Lambda that keeps state in DynamoDB.

Trigger: S3 ``ObjectCreated`` notifications on ``readings/`` (not a schedule). A record's worst case
to alert is then Firehose's buffer (60 s by default) + S3 event delivery + one invocation; a
1-minute schedule would add up to another 60 s and run when nothing arrived. Reserved concurrency 1
serialises state updates (the state write is also conditional on its version); failed invocations
are retried twice and then land in an encrypted SQS dead-letter queue, so no object is lost.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.nag import (
    AIR_BUCKET_NOTIFICATIONS,
    AIR_DETECTOR_DLQ,
    AIR_DETECTOR_ROLE,
    acknowledge,
)
from cdk.shared.function import PythonFunction
from vigil.air_quality.contract import (
    BY_DIMENSION_INDEX,
    DETECTOR_ERROR_PREFIX,
    READINGS_PREFIX,
    DetectorConfig,
    DetectorSettings,
)


class AnomalyDetector(Construct):
    """Exposes ``function``, ``state_table``, ``anomaly_table``, ``dead_letter_queue``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        config: DetectorConfig,
        removal_policy: RemovalPolicy,
        log_retention_days: int,
        memory_mib: int,
        scientific_layer_arn: str,
    ):
        super().__init__(scope, construct_id)
        table_props = dict(
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal_policy,
        )
        self.state_table = dynamodb.Table(
            self,
            "State",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            **table_props,
        )
        self.anomaly_table = dynamodb.Table(
            self,
            "Anomalies",
            partition_key=dynamodb.Attribute(name="detector", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            **table_props,
        )
        self.anomaly_table.add_global_secondary_index(
            index_name=BY_DIMENSION_INDEX,
            partition_key=dynamodb.Attribute(name="dimensions", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="interval_start", type=dynamodb.AttributeType.STRING),
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        acknowledge(self.dead_letter_queue, AIR_DETECTOR_DLQ)
        self.handler = PythonFunction(
            self,
            "Detector",
            handler_module="lambdas.air_quality.detector.handler",
            description="Vigil air quality: score closed intervals of new readings, alert on anomalies",
            key=key,
            service_name="air-quality-detector",
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            environment=DetectorSettings(
                detector_config=config,
                state_table=self.state_table.table_name,
                anomaly_table=self.anomaly_table.table_name,
                alert_topic_arn=topic.topic_arn,
                error_prefix=DETECTOR_ERROR_PREFIX,
            ).to_environment(),
            timeout=Duration.seconds(120),
            memory_size=memory_mib,
            reserved_concurrent_executions=1,
        )
        self.function = self.handler.function
        # numpy, pandas and pyarrow: the public AWS SDK for pandas layer (no bundling needed).
        self.function.add_layers(
            lambda_.LayerVersion.from_layer_version_arn(
                self, "ScientificPython", scientific_layer_arn
            )
        )
        self.function.configure_async_invoke(
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        self.state_table.grant_read_write_data(self.function)
        self.anomaly_table.grant_write_data(self.function)
        bucket.grant_read(self.function, READINGS_PREFIX + "*")
        if config.history and "/" in config.history[5:]:
            bucket.grant_read(self.function, config.history.split("/", 3)[3] + "*")
        bucket.grant_put(self.function, DETECTOR_ERROR_PREFIX + "*")
        topic.grant_publish(self.function)
        acknowledge(self.handler.role, *AIR_DETECTOR_ROLE)
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=READINGS_PREFIX),
        )
        for child in Stack.of(self).node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(child, AIR_BUCKET_NOTIFICATIONS)
