"""Operations: one SNS topic per system for its CloudWatch alarms, and a dashboard of the same
metrics, so an operator is paged for exactly what the dashboard shows."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from cdk.shared.function import METRICS_NAMESPACE

PERIOD = Duration.minutes(5)
AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
ABOVE = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD


def powertools_metric(
    service_name: str, metric_name: str, *, statistic: str = "Sum"
) -> cloudwatch.Metric:
    """A custom metric a Vigil Lambda emits through Powertools (``service`` is its dimension)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": service_name},
        statistic=statistic,
        period=PERIOD,
    )


class Operations(Construct):
    """Exposes ``topic`` (KMS-encrypted, TLS-only), ``dashboard`` and ``alarm()``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        system: str,
        email: str | None,
    ):
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"Vigil {system} operations alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if email:
            self.topic.add_subscription(subs.EmailSubscription(email))
        # CloudWatch publishes alarm notifications into the topic, which the stack's key encrypts:
        # without these two actions in the key policy the notifications are dropped silently.
        stack = Stack.of(self)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown=f"# Vigil {system}: what pages operations", width=24)
        )

    def alarm(
        self,
        construct_id: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = AT_LEAST,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        """An alarm that notifies the topic when it fires and when it recovers, shown on the
        dashboard with its threshold. No data is not a breach: idle systems emit no errors."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        action = actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.dashboard.add_widgets(
            cloudwatch.AlarmWidget(alarm=alarm, title=description, width=24, height=6)
        )
        return alarm
