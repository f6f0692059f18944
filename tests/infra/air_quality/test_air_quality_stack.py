"""Template assertions for the Vigil-AirQuality stack (synthesized once, with the whole app)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from vigil.air_quality.topic_rule import RULE_SQL

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def template(templates) -> Template:
    return Template.from_json(templates["Vigil-AirQuality"])


def _one(template: Template, kind: str) -> dict:
    resources = template.find_resources(kind)
    assert len(resources) == 1, f"expected one {kind}, found {len(resources)}"
    return next(iter(resources.values()))


def test_firehose_delivers_time_partitioned_encrypted_buffered(template):
    stream = _one(template, "AWS::KinesisFirehose::DeliveryStream")["Properties"]
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "CUSTOMER_MANAGED_CMK"
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"].startswith("readings/year=!{timestamp:yyyy}/month=!{timestamp:MM}/")
    assert s3["ErrorOutputPrefix"].startswith("errors/firehose/!{firehose:error-output-type}/")
    assert s3["BufferingHints"]["IntervalInSeconds"] == 60
    assert "AWSKMSKeyARN" in s3["EncryptionConfiguration"]["KMSEncryptionConfig"]


def test_firehose_logs_to_an_encrypted_log_group_with_the_configured_retention(template):
    stream = _one(template, "AWS::KinesisFirehose::DeliveryStream")["Properties"]
    logging = stream["ExtendedS3DestinationConfiguration"]["CloudWatchLoggingOptions"]
    group = template.to_json()["Resources"][logging["LogGroupName"]["Ref"]]
    assert group["Properties"]["RetentionInDays"] == 90  # vigil:logRetentionDays default
    assert group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0].startswith("BaselineKey")


def test_topic_rule_sql_actions_and_error_action(template):
    rule = _one(template, "AWS::IoT::TopicRule")["Properties"]["TopicRulePayload"]
    assert rule["Sql"] == RULE_SQL
    assert rule["Actions"][0]["Firehose"]["Separator"] == "\n"
    assert rule["ErrorAction"]["S3"]["Key"].startswith("errors/iot-rule/")


def test_thing_policy_scopes_each_device_to_itself(template):
    policy = _one(template, "AWS::IoT::Policy")["Properties"]["PolicyDocument"]
    rendered = json.dumps(policy)
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ConnectAsItself"]["Action"] == "iot:Connect"
    assert statements["PublishOwnTelemetry"]["Action"] == "iot:Publish"
    assert rendered.count("${iot:Connection.Thing.ThingName}") == 2
    assert "client/${iot:Connection.Thing.ThingName}" in rendered
    assert "topic/vigil/air-quality/${iot:Connection.Thing.ThingName}/telemetry" in rendered
    assert '"iot:Connection.Thing.IsAttached": "true"' in rendered
    assert "*" not in rendered.replace("${", "")  # no wildcard topics or clients
    template.resource_count_is("AWS::IoT::ThingType", 1)


def test_detector_tables_state_and_anomalies_with_dimension_index(template):
    tables = template.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 2
    for table in tables.values():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["SSESpecification"]["SSEType"] == "KMS"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": "byDimension",
                        "KeySchema": [
                            {"AttributeName": "dimensions", "KeyType": "HASH"},
                            {"AttributeName": "interval_start", "KeyType": "RANGE"},
                        ],
                    }
                )
            ]
        },
    )


def test_detector_lambda_is_triggered_by_new_readings_serialised_with_a_dlq(template):
    functions = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Handler": "lambdas.air_quality.detector.handler.handler"}},
    )
    assert len(functions) == 1
    props = next(iter(functions.values()))["Properties"]
    assert props["ReservedConcurrentExecutions"] == 1
    layers = json.dumps(props["Layers"])
    assert "AWSLambdaPowertoolsPythonV3" in layers and "AWSSDKPandas-Python311" in layers
    env = props["Environment"]["Variables"]
    assert {"STATE_TABLE", "ANOMALY_TABLE", "ALERT_TOPIC_ARN", "ERROR_PREFIX"} <= set(env)
    config = env["DETECTOR_CONFIG"]
    rendered = json.dumps(config)
    assert '\\"interval_minutes\\":5' in rendered and "LOCATION_ID" in rendered
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "LambdaFunctionConfigurations": [
                    Match.object_like(
                        {
                            "Events": ["s3:ObjectCreated:*"],
                            "Filter": {
                                "Key": {"FilterRules": [{"Name": "prefix", "Value": "readings/"}]}
                            },
                        }
                    )
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"MaximumRetryAttempts": 2, "DestinationConfig": {"OnFailure": Match.any_value()}},
    )
    template.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value()})


def test_alert_topic_is_encrypted(template):
    # The stack's other topic is the operations topic (tests/infra/test_operations.py).
    (topic,) = [
        resource["Properties"]
        for logical_id, resource in template.find_resources("AWS::SNS::Topic").items()
        if logical_id.startswith("AlertsTopic")
    ]
    assert "KmsMasterKeyId" in topic


def test_the_detector_may_query_the_anomaly_table_for_queued_feedback(template):
    """It reads the operators' queued verdicts (``<detector>#feedback``) at every run: without
    Query on the anomaly table every invocation would fail."""
    tables = template.find_resources("AWS::DynamoDB::Table")
    (anomalies,) = [
        name
        for name, table in tables.items()
        if any(
            i.get("IndexName") == "byDimension"
            for i in table["Properties"].get("GlobalSecondaryIndexes", [])
        )
    ]
    statements = [
        s
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if anomalies in json.dumps(s["Resource"])
    ]
    actions = {
        a
        for s in statements
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"} <= actions
