"""The continuous detector: new Firehose objects trigger a Lambda that keeps state in DynamoDB.

Trigger: S3 ``ObjectCreated`` notifications on ``readings/`` (not a schedule). A record's worst case
to alert is then Firehose's buffer (60 s by default) + S3 event delivery + one invocation; a
1-minute schedule would add up to another 60 s and run when nothing arrived.

Parallelism: the state is split into shards of places (``vigil.air_quality.state_store``) and,
with more than one shard, Firehose writes one object per shard (``iot_ingest.py``), so one
invocation per object scores one shard and objects of different shards run side by side, up to
the reserved concurrency. Two objects of the same shard that overlap commit one after the other:
each shard's state write is conditional on the version it read, the loser fails with
``StateConflict`` and its retry (S3 events are asynchronous invocations: two retries) starts
from the winner's state; its readings are then scored as new, not lost. Failed invocations land
in an encrypted SQS dead-letter queue after the retries, so no object is lost. Kinesis Data
Streams (shard as partition key, strict order per shard) and Managed Flink are the alternatives
weighed in docs/air-quality.md.
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
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
from cdk.shared.iam import read_objects, use_key, write_objects
from vigil.air_quality.contract import (
    BY_DIMENSION_INDEX,
    DETECTOR_ERROR_PREFIX,
    DETECTOR_STATE_PREFIX,
    READINGS_PREFIX,
    DetectorConfig,
    DetectorSettings,
)
from vigil.air_quality.interval_table import TTL_ATTRIBUTE as INTERVALS_TTL_ATTRIBUTE

# What the detector does with its tables (vigil/air_quality/service.py): item reads, writes and
# queries of its state; anomalies, episodes, data quality and status are written, and the
# operators' queued verdicts (one partition) queried and removed once learnt.
STATE_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DescribeTable",
)
ANOMALY_TABLE_ACTIONS = (
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DescribeTable",
)


@jsii.implements(lambda_.IDestination)
class _QueueWithoutGrants:
    """An async-invoke failure destination that, unlike ``SqsDestination``, grants nothing: the
    role gets sqs:SendMessage and the key's exact actions explicitly."""

    def __init__(self, queue: sqs.IQueue):
        self._queue = queue

    def bind(self, _scope, _fn, _options=None) -> lambda_.DestinationConfig:
        return lambda_.DestinationConfig(destination=self._queue.queue_arn)


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
        reserved_concurrency: int,
        state_in_bucket: bool,
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
            # the series chart's recent intervals expire; anomalies and episodes never do
            time_to_live_attribute=INTERVALS_TTL_ATTRIBUTE,
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
                state_bucket=bucket.bucket_name if state_in_bucket else None,
            ).to_environment(),
            timeout=Duration.seconds(120),
            memory_size=memory_mib,
            reserved_concurrent_executions=reserved_concurrency,
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
            on_failure=_QueueWithoutGrants(self.dead_letter_queue),
        )
        # The L2 grants (tables, bucket, topic, queue) would each add action groups on the key
        # (kms:ReEncrypt*, kms:GenerateDataKey*) and on the bucket (s3:GetObject*, s3:List*,
        # s3:Abort*): exact actions instead, and the key once.
        role = self.handler.role
        self.state_table.grant(self.function, *STATE_TABLE_ACTIONS)
        self.anomaly_table.grant(self.function, *ANOMALY_TABLE_ACTIONS)
        read_objects(role, bucket, key, READINGS_PREFIX)
        if config.history and "/" in config.history[5:]:
            read_objects(role, bucket, key, config.history.split("/", 3)[3])
        write_objects(role, bucket, key, DETECTOR_ERROR_PREFIX)
        if state_in_bucket:  # one object per shard, replaced conditionally (never deleted)
            read_objects(role, bucket, key, DETECTOR_STATE_PREFIX)
            write_objects(role, bucket, key, DETECTOR_STATE_PREFIX)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn]
            )
        )
        use_key(role, key, write=True)
        acknowledge(self.handler.role, *AIR_DETECTOR_ROLE)
        if config.silent_intervals:
            # what finds silent series and closes quiet episodes when no object arrives: the
            # same function, every interval (EventBridge's "Scheduled Event", its time the clock)
            self.schedule = events.Rule(
                self,
                "Schedule",
                description="Vigil air quality: silent series and quiet episodes, every interval",
                schedule=events.Schedule.rate(Duration.minutes(config.interval_minutes)),
                targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
            )
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=READINGS_PREFIX),
        )
        for child in Stack.of(self).node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(child, AIR_BUCKET_NOTIFICATIONS)
