"""The recent-scores table the console reads: the scoring Lambda writes one item per answer.

Keys and index come from ``vigil.fraud.recent_scores`` (the writer and the console's reader use
the same module); items expire by DynamoDB TTL, so the table stays bounded. The table's name and
the stack key's ARN are published as SSM parameters for the console stack
(``vigil.console.contract.parameter_name``), which reads them at deploy time.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk.shared.function import PythonFunction
from vigil.console.contract import parameter_name
from vigil.fraud import recent_scores
from vigil.fraud.contract import ScoringSettings


class RecentScores(Construct):
    """Exposes ``table``; ``writer`` (the scoring function) gets PutItem and the table's name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        writer: PythonFunction,
        stack_prefix: str,
    ):
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=recent_scores.PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=recent_scores.SORT_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=recent_scores.TTL_ATTRIBUTE,
            removal_policy=removal_policy,
        )
        self.table.add_global_secondary_index(
            index_name=recent_scores.ID_INDEX,
            partition_key=dynamodb.Attribute(
                name=recent_scores.ID_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
        )
        # the table itself only: the index is written by DynamoDB, never by the writer
        writer.role.add_to_policy(
            iam.PolicyStatement(
                sid="RecordRecentScores",
                actions=["dynamodb:PutItem"],
                resources=[self.table.table_arn],
            )
        )
        writer.function.add_environment(
            ScoringSettings.variable("recent_scores_table"), self.table.table_name
        )
        for item, value in (
            ("recent-scores-table", self.table.table_name),
            ("key-arn", key.key_arn),
        ):
            ssm.StringParameter(
                self,
                f"Parameter-{item}",
                parameter_name=parameter_name(stack_prefix, "fraud", item),
                string_value=value,
                description=f"Vigil console: the fraud system's {item}",
            )
