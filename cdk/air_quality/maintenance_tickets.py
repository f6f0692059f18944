"""The sample alert action, deployed: a Lambda subscribed to sensor faults and silent series.

Opt-in (context ``maintenanceTickets``): it shows an automation acting on the alerts' ``kind``
attribute through an SNS filter policy; tickets are items of the anomaly table under
``<detector>#tickets`` (``vigil/air_quality/maintenance.py``).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from cdk.shared.function import PythonFunction
from cdk.shared.iam import use_key
from vigil.air_quality.contract import TicketSettings
from vigil.air_quality.subscriptions import SENSOR_FAULT, SILENT, AlertSubscription

TICKET_KINDS = [SENSOR_FAULT, SILENT]


class MaintenanceTickets(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        topic: sns.ITopic,
        anomaly_table: dynamodb.ITable,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ):
        super().__init__(scope, construct_id)
        self.handler = PythonFunction(
            self,
            "Tickets",
            handler_module="lambdas.air_quality.maintenance_ticket.handler",
            description="Vigil air quality: maintenance tickets for sensor faults and silent series",
            key=key,
            service_name="air-quality-tickets",
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            environment=TicketSettings(ticket_table=anomaly_table.table_name).to_environment(),
            reserved_concurrent_executions=2,
        )
        role = self.handler.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[anomaly_table.table_arn],
            )
        )
        use_key(role, key, write=True)
        policy = AlertSubscription(
            name="Tickets", protocol="lambda", endpoint="arn:local", kinds=TICKET_KINDS
        ).filter_policy()
        topic.add_subscription(
            subs.LambdaSubscription(
                self.handler.function,
                filter_policy={
                    name: sns.SubscriptionFilter(conditions=conditions)
                    for name, conditions in policy.items()
                },
            )
        )
