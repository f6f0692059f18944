"""IoT Core → Firehose → S3: devices publish readings; a topic rule delivers them to the bucket.

* Thing type + policy: a device connects only with its own thing name as client id (and only while
  its certificate is attached to that thing) and publishes only to its own telemetry topic.
* Topic rule: ``vigil.air_quality.topic_rule.RULE_SQL`` (the same SQL the local bridge applies)
  with a Firehose action (newline-separated records) and an S3 error action.
* Firehose (L2 ``DeliveryStream`` + ``S3Bucket`` destination): time-partitioned prefix
  ``readings/year=/month=/day=/hour=/``, error prefix ``errors/firehose/<error type>/...``,
  configurable buffering (default 60 s), GZIP, server-side encryption with the system's key.

With one state shard (a city's few hundred series) the location is not a partition: one object
per buffer interval holds every place and triggers one invocation. With ``state_shards`` > 1 the
stream uses dynamic partitioning: a jq metadata-extraction query computes each record's shard
from its dimension values (``vigil.air_quality.sharding``, the same hash the detector applies)
and Firehose writes ``readings/shard=<k>/year=/month=/day=/hour=/``, one object per shard per
buffer, so each invocation reads and writes one shard's state and shards are scored in parallel.
The price: 64 MiB minimum buffer, no zero buffering, delivery up to 1.5 x the buffer interval,
500 active partitions per stream (5,000 on request), and a per-GB partitioning charge.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.nag import AIR_IOT_RULE_ROLE, acknowledge
from cdk.shared.iam import use_key, write_objects
from cdk.shared.logs import encrypted_log_group
from vigil.air_quality.contract import (
    READINGS_PREFIX,
    RULE_SQL,
    RULE_SQL_VERSION,
    SHARD_PARTITION_KEY,
    TOPIC_PREFIX,
)

TIME_PREFIX = (
    "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
)
DATA_PREFIX = READINGS_PREFIX + TIME_PREFIX
SHARDED_DATA_PREFIX = (
    f"{READINGS_PREFIX}{SHARD_PARTITION_KEY}=!{{partitionKeyFromQuery:{SHARD_PARTITION_KEY}}}/"
    + TIME_PREFIX
)
FIREHOSE_ERROR_PREFIX = (
    "errors/firehose/!{firehose:error-output-type}/year=!{timestamp:yyyy}/"
    "month=!{timestamp:MM}/day=!{timestamp:dd}/"
)
FIREHOSE_ERROR_ROOT = "errors/firehose/"
IOT_ERROR_PREFIX = "errors/iot-rule/"
THING_TYPE_NAME = "vigil-air-quality-sensor"


class IotIngest(Construct):
    """Exposes ``bucket``, ``delivery_stream``, ``topic_rule``, ``thing_policy``, ``thing_type``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        buffer_seconds: int,
        buffer_mib: int,
        shard_expression: str | None,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ):
        super().__init__(scope, construct_id)
        self.bucket = bucket
        self.log_group = encrypted_log_group(
            self,
            "DeliveryLogs",
            key=key,
            retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        # Firehose's L2 grants action groups (s3:DeleteObject*, s3:Abort*, kms:ReEncrypt*, ...) on
        # the whole bucket to the roles it is given: it gets them immutable, and the roles get
        # the exact actions on the two prefixes Firehose writes.
        delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
            description="Firehose: writes readings and delivery errors into the readings bucket",
        )
        for prefix in (READINGS_PREFIX, FIREHOSE_ERROR_ROOT):
            write_objects(delivery_role, bucket, key, prefix)
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        stream_role = iam.Role(
            self,
            "StreamRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
            description="Firehose: encrypts the delivery stream with the system's key",
        )
        use_key(stream_role, key, write=True)
        # shard_expression: the jq that yields a record's state shard (None: one shard, no
        # partitioning); see the module docstring
        partitioning = (
            dict(
                dynamic_partitioning=firehose.DynamicPartitioningProps(enabled=True),
                processors=[
                    firehose.MetadataExtractionProcessor.jq16(
                        {SHARD_PARTITION_KEY: shard_expression}
                    )
                ],
                data_output_prefix=SHARDED_DATA_PREFIX,
            )
            if shard_expression
            else dict(data_output_prefix=DATA_PREFIX)
        )
        destination = firehose.S3Bucket(
            bucket,
            role=delivery_role.without_policy_updates(),
            **partitioning,
            error_output_prefix=FIREHOSE_ERROR_PREFIX,
            buffering_interval=Duration.seconds(buffer_seconds),
            buffering_size=Size.mebibytes(buffer_mib),
            compression=firehose.Compression.GZIP,
            encryption_key=key,
            logging_config=firehose.EnableLogging(self.log_group),
        )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "DeliveryStream",
            destination=destination,
            encryption=firehose.StreamEncryption.customer_managed_key(key),
            role=stream_role.without_policy_updates(),
        )
        # The L2 orders the stream after its own grants; here after the roles' policies.
        self.delivery_stream.node.add_dependency(delivery_role, stream_role)
        # The L2 adds a CIDR-block mapping for Redshift/Splunk destinations; unused here.
        Stack.of(self).node.try_remove_child("@aws-cdk--aws-kinesisfirehose.CidrBlocks")

        self.thing_type = iot.CfnThingType(
            self,
            "ThingType",
            thing_type_name=THING_TYPE_NAME,
            thing_type_properties=iot.CfnThingType.ThingTypePropertiesProperty(
                thing_type_description="Vigil air-quality sensor (CO, SO2, NO2 per location)",
                searchable_attributes=["LOCATION_ID"],
            ),
        )
        thing = "${iot:Connection.Thing.ThingName}"
        prefix = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        self.thing_policy = iot.CfnPolicy(
            self,
            "ThingPolicy",
            policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ConnectAsItself",
                        "Effect": "Allow",
                        "Action": "iot:Connect",
                        "Resource": f"{prefix}:client/{thing}",
                        "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                    },
                    {
                        "Sid": "PublishOwnTelemetry",
                        "Effect": "Allow",
                        "Action": "iot:Publish",
                        "Resource": f"{prefix}:topic/{TOPIC_PREFIX}/{thing}/telemetry",
                    },
                ],
            },
        )

        rule_role = iam.Role(
            self,
            "RuleRole",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
            description="IoT topic rule: put readings to Firehose, errors to S3",
        )
        self.delivery_stream.grant_put_records(rule_role)
        rule_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(IOT_ERROR_PREFIX + "*")],
            )
        )
        rule_role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
            )
        )
        acknowledge(rule_role, *AIR_IOT_RULE_ROLE)
        self.topic_rule = iot.CfnTopicRule(
            self,
            "TopicRule",
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=RULE_SQL,
                aws_iot_sql_version=RULE_SQL_VERSION,
                rule_disabled=False,
                description="Air-quality readings to Firehose (Vigil)",
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        firehose=iot.CfnTopicRule.FirehoseActionProperty(
                            delivery_stream_name=self.delivery_stream.delivery_stream_name,
                            role_arn=rule_role.role_arn,
                            separator="\n",
                        )
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    s3=iot.CfnTopicRule.S3ActionProperty(
                        bucket_name=bucket.bucket_name,
                        key=IOT_ERROR_PREFIX + "${topic(3)}/${timestamp()}-${newuuid()}.json",
                        role_arn=rule_role.role_arn,
                    )
                ),
            ),
        )
        # Create the rule after the role's policy (its GetAtt already orders it after the role).
        self.topic_rule.node.add_dependency(rule_role.node.find_child("DefaultPolicy"))
