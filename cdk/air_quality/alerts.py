"""Alerts: an SNS topic encrypted with the system's key, subscriptions from context, action hook."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct


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
