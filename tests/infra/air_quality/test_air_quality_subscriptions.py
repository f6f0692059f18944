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


def test_subscriptions_with_their_own_filters_and_the_schedule():
    app = App()
    settings = AirQualitySettings.model_validate(
        {
            "bufferSeconds": 120,
            "alertSubscriptions": (
                '[{"name": "Maintenance", "protocol": "email", "endpoint": "fix@example.com",'
                ' "kinds": ["sensor_fault", "silent"]},'
                ' {"name": "Health", "protocol": "sms", "endpoint": "+15555550101",'
                ' "kinds": ["event"], "minSeverity": 60, "measures": ["NO2"],'
                ' "dimensions": {"LOCATION_ID": ["B-101", "B-102"]}}]'
            ),
        }
    )
    template = Template.from_stack(
        AirQualityStack(app, "Air", shared=SharedSettings(), settings=settings)
    )
    policies = {
        r["Properties"]["Protocol"]: r["Properties"].get("FilterPolicy")
        for r in template.find_resources("AWS::SNS::Subscription").values()
    }
    assert policies["email"] == {"kind": ["sensor_fault", "silent"]}
    assert policies["sms"] == {
        "severity": [{"numeric": [">=", 60]}],
        "kind": ["event"],
        "measure": ["NO2"],
        "LOCATION_ID": ["B-101", "B-102"],
    }
    rules = template.find_resources("AWS::Events::Rule")
    assert [r["Properties"]["ScheduleExpression"] for r in rules.values()] == ["rate(5 minutes)"]


@pytest.mark.parametrize(
    ("subscription", "message"),
    [
        ({"measures": ["PM10"]}, "unknown measures"),
        ({"dimensions": {"CITY": ["Rome"]}}, "unknown dimensions"),
        ({"dimensions": {"LOCATION_ID": []}}, "lists no values"),
        ({"kinds": ["fire"]}, "kinds"),
        ({"minSeverity": 120}, "less than or equal to 100"),
        ({"protocol": "lambda", "endpoint": "remediate"}, "must be an ARN"),
    ],
)
def test_malformed_subscription_filters_are_refused_at_synth(subscription, message):
    base = {"name": "Bad", "protocol": "email", "endpoint": "a@example.com"}
    with pytest.raises(ValueError, match=message):
        AirQualitySettings.model_validate({"alertSubscriptions": [{**base, **subscription}]})


def test_no_schedule_when_silence_is_not_watched():
    template = Template.from_stack(
        AirQualityStack(
            App(),
            "Air",
            shared=SharedSettings(),
            settings=AirQualitySettings(silent_intervals=0, buffer_seconds=120),
        )
    )
    assert template.find_resources("AWS::Events::Rule") == {}


def test_the_sample_ticket_action_is_subscribed_to_faults_and_silence_and_nag_clean(tmp_path):
    from cdk.nag import attach_checks
    from local.standins.synth import new_app, synthesize

    app = new_app(tmp_path)
    stack = AirQualityStack(
        app,
        "Air",
        shared=SharedSettings(),
        settings=AirQualitySettings(maintenance_tickets=True, buffer_seconds=120),
    )
    template = Template.from_stack(stack)
    lambda_subscriptions = [
        r["Properties"]
        for r in template.find_resources("AWS::SNS::Subscription").values()
        if r["Properties"]["Protocol"] == "lambda"
    ]
    assert [s["FilterPolicy"] for s in lambda_subscriptions] == [
        {"kind": ["sensor_fault", "silent"]}
    ]
    attach_checks(app)
    findings = [f for f in synthesize(app, tmp_path).findings() if "MaintenanceTickets" in f[1]]
    assert findings == []
