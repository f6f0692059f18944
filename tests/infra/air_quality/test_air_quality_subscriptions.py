"""Alert subscriptions and the action hook come from context."""

from __future__ import annotations

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from cdk.air_quality.settings import AirQualitySettings
from cdk.air_quality.stack import AirQualityStack
from cdk.config import SharedSettings

pytestmark = pytest.mark.infra


def test_email_sms_and_action_subscriptions_from_settings():
    app = App()
    stack = AirQualityStack(
        app,
        "Air",
        shared=SharedSettings(),
        settings=AirQualitySettings(
            alert_emails=["ops@example.com"],
            alert_phone_numbers=["+15555550100"],
            action_function_arn="arn:aws:lambda:us-east-1:123456789012:function:remediate",
            buffer_seconds=120,
        ),
    )
    template = Template.from_stack(stack)
    protocols = sorted(
        r["Properties"]["Protocol"]
        for r in template.find_resources("AWS::SNS::Subscription").values()
    )
    assert protocols == ["email", "lambda", "sms"]
    template.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "ExtendedS3DestinationConfiguration": {
                "BufferingHints": {"IntervalInSeconds": 120, "SizeInMBs": 5}
            }
        },
    )
