"""Each system's operations topic, alarms and dashboard: every alarm watches the metric the code
emits (or the AWS one), with its threshold, and notifies the system's own TLS-only, KMS-encrypted
topic; the topic takes an e-mail subscriber from context."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from cdk.app_builder import build_app
from local.standins.synth import new_app, synthesize
from vigil.fraud.contract import ScoringSettings

pytestmark = pytest.mark.infra

STACKS = ("Vigil-Fraud", "Vigil-AirQuality", "Vigil-Toxicity")

# stack → alarm id → the metric it watches, its threshold and comparison
ALARMS = {
    "Vigil-Fraud": {
        "ScoringFallback": ("Vigil", "ScoringFallback", 1, "GreaterThanOrEqualToThreshold"),
        "ScoringApi5xx": ("AWS/ApiGateway", "5XXError", 0.05, "GreaterThanThreshold"),
        "ScoringErrors": ("AWS/Lambda", "Errors", 1, "GreaterThanOrEqualToThreshold"),
        "ScoringLatencyP99": (
            "AWS/ApiGateway",
            "Latency",
            ScoringSettings.model_fields["latency_budget_ms"].default,
            "GreaterThanThreshold",
        ),
    },
    "Vigil-AirQuality": {
        "DetectorErrors": ("AWS/Lambda", "Errors", 1, "GreaterThanOrEqualToThreshold"),
        "DetectorDeadLetters": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            0,
            "GreaterThanThreshold",
        ),
    },
    "Vigil-Toxicity": {
        "ModerationApi5xx": ("AWS/ApiGateway", "5XXError", 0.05, "GreaterThanThreshold"),
    },
}


def _topic_id(template: Template) -> str:
    (topic_id,) = template.find_resources(
        "AWS::SNS::Topic", {"Properties": {"DisplayName": Match.string_like_regexp("operations")}}
    )
    return topic_id


def _alarm(raw: dict, alarm_id: str) -> tuple[str, dict]:
    (found,) = [
        (logical_id, resource["Properties"])
        for logical_id, resource in raw["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and logical_id.startswith(f"Operations{alarm_id}")
    ]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_operations_topic_is_encrypted_and_tls_only(templates, stack):
    template = Template.from_json(templates[stack])
    topic = _topic_id(template)
    props = template.find_resources("AWS::SNS::Topic")[topic]["Properties"]
    (key,) = template.find_resources(
        "AWS::KMS::Key", {"Properties": {"Description": Match.any_value()}}
    )
    assert props["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )
    # Without the key policy's grant, CloudWatch cannot publish into the encrypted topic.
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AllowCloudWatchAlarms",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            }
        },
    )
    template.has_output("OperationsTopicArn", {"Value": {"Ref": topic}})
    template.resource_properties_count_is("AWS::SNS::Subscription", {"TopicArn": {"Ref": topic}}, 0)


@pytest.mark.parametrize(
    ("stack", "alarm_id"),
    [(stack, alarm_id) for stack, alarms in ALARMS.items() for alarm_id in alarms],
)
def test_alarm_watches_its_metric_and_notifies_the_topic(templates, stack, alarm_id):
    namespace, metric, threshold, comparison = ALARMS[stack][alarm_id]
    topic = _topic_id(Template.from_json(templates[stack]))
    _, props = _alarm(templates[stack], alarm_id)
    assert (props["Namespace"], props["MetricName"]) == (namespace, metric)
    assert props["Threshold"] == threshold
    assert props["ComparisonOperator"] == comparison
    assert props["AlarmActions"] == [{"Ref": topic}]
    assert props["OKActions"] == [{"Ref": topic}]
    assert props["TreatMissingData"] == "notBreaching"


def test_fallback_alarm_reads_the_scoring_lambdas_powertools_metric(templates):
    _, props = _alarm(templates["Vigil-Fraud"], "ScoringFallback")
    assert props["Dimensions"] == [{"Name": "service", "Value": "vigil-fraud-scoring"}]
    assert props["Statistic"] == "Sum"
    _, latency = _alarm(templates["Vigil-Fraud"], "ScoringLatencyP99")
    assert latency["ExtendedStatistic"] == "p99"


def test_pipeline_alarm_counts_failed_and_timed_out_executions(templates):
    raw = templates["Vigil-Fraud"]
    topic = _topic_id(Template.from_json(raw))
    _, props = _alarm(raw, "PipelineFailed")
    watched = {
        query["MetricStat"]["Metric"]["MetricName"]
        for query in props["Metrics"]
        if "MetricStat" in query
    }
    assert watched == {"ExecutionsFailed", "ExecutionsTimedOut"}
    assert props["Threshold"] == 1
    assert props["AlarmActions"] == [{"Ref": topic}]


def test_each_api_alarm_watches_its_own_api(templates):
    """API Gateway metrics are keyed by API name: two APIs sharing one would share alarms."""
    names = set()
    for stack, alarm_id in (
        ("Vigil-Fraud", "ScoringApi5xx"),
        ("Vigil-Toxicity", "ModerationApi5xx"),
    ):
        raw = templates[stack]
        _, props = _alarm(raw, alarm_id)
        (api,) = Template.from_json(raw).find_resources("AWS::ApiGateway::RestApi").values()
        assert props["Dimensions"] == [{"Name": "ApiName", "Value": api["Properties"]["Name"]}]
        names.add(api["Properties"]["Name"])
    assert names == {"Vigil-Fraud-scoring", "Vigil-Toxicity-moderation"}


@pytest.mark.parametrize("stack", STACKS)
def test_dashboard_shows_every_alarm(templates, stack):
    raw = templates[stack]
    (dashboard,) = Template.from_json(raw).find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    alarm_ids = [_alarm(raw, alarm_id)[0] for alarm_id in ALARMS[stack]]
    for logical_id in alarm_ids:
        assert logical_id in body


def test_operations_email_subscribes_from_context(tmp_path):
    app = new_app(
        tmp_path,
        **{"vigil:systems": "air-quality", "vigil:operationsEmail": "oncall@example.com"},
    )
    build_app(app, nag=False)
    template = Template.from_json(synthesize(app, tmp_path).templates()["Vigil-AirQuality"])
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "email",
            "Endpoint": "oncall@example.com",
            "TopicArn": {"Ref": _topic_id(template)},
        },
    )
