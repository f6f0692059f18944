"""Alerts: an SNS topic encrypted with the system's key, subscriptions from context, action hook."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from vigil.air_quality.subscriptions import AlertSubscription


class Alerts(Construct):
    """Exposes ``topic``. E-mail and SMS subscribers, and an optional Lambda for automation."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        emails: list[str],
        phone_numbers: list[str],
        action_function_arn: str | None,
        subscriptions: list[AlertSubscription] = (),
    ):
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Vigil air-quality alerts",
            master_key=key,
            enforce_ssl=True,
        )
        for email in emails:
            self.topic.add_subscription(subs.EmailSubscription(email))
        for number in phone_numbers:
            self.topic.add_subscription(subs.SmsSubscription(number))
        if action_function_arn:
            action = lambda_.Function.from_function_arn(self, "Action", action_function_arn)
            self.topic.add_subscription(subs.LambdaSubscription(action))
        for subscription in subscriptions:
            self._subscribe(subscription)

    def _subscribe(self, subscription: AlertSubscription) -> None:
        """One subscriber with the SNS filter policy its filters define."""
        policy = {
            name: sns.SubscriptionFilter(conditions=conditions)
            for name, conditions in subscription.filter_policy().items()
        }
        if subscription.protocol == "email":
            target = subs.EmailSubscription(subscription.endpoint, filter_policy=policy)
        elif subscription.protocol == "sms":
            target = subs.SmsSubscription(subscription.endpoint, filter_policy=policy)
        elif subscription.protocol == "lambda":
            function = lambda_.Function.from_function_arn(
                self, f"{subscription.name}Function", subscription.endpoint
            )
            target = subs.LambdaSubscription(function, filter_policy=policy)
        else:
            queue = sqs.Queue.from_queue_arn(
                self, f"{subscription.name}Queue", subscription.endpoint
            )
            target = subs.SqsSubscription(queue, filter_policy=policy)
        self.topic.add_subscription(target)
