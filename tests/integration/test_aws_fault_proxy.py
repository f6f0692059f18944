"""The fault proxy the fault campaign (benchmarks/faults.py) puts in front of moto server: chosen
SNS and DynamoDB calls fail the way the services fail, as botocore parses them; others pass."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from local.standins.fault_injection import AwsFaultProxy, inject_faults
from vigil.aws import client


@pytest.fixture
def proxy(moto_server):
    running = AwsFaultProxy(moto_server.environment()["AWS_ENDPOINT_URL"]).start()
    yield running
    running.stop()


pytestmark = pytest.mark.integration


def test_an_armed_sns_publish_fails_with_the_services_error_then_passes(proxy):
    sns = client("sns", endpoint_url=proxy.endpoint_url, max_attempts=0)
    topic = sns.create_topic(Name="faults")["TopicArn"]  # not a Publish: passes while armed
    inject_faults(proxy.endpoint_url, status=500, code="InternalError", count=1, match="Publish")
    assert sns.list_topics()["Topics"]
    with pytest.raises(ClientError) as failed:
        sns.publish(TopicArn=topic, Message="first")
    assert failed.value.response["Error"]["Code"] == "InternalError"
    assert sns.publish(TopicArn=topic, Message="second")["MessageId"]
    assert proxy.failed == 1


def test_a_throttled_dynamodb_call_is_retried_by_botocore_and_succeeds(proxy):
    ddb = client("dynamodb", endpoint_url=proxy.endpoint_url, max_attempts=3)
    ddb.create_table(
        TableName="faults",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    inject_faults(
        proxy.endpoint_url, status=400, code="ThrottlingException", count=2, match="PutItem"
    )
    ddb.put_item(TableName="faults", Item={"pk": {"S": "kept"}})  # two throttles, then stored
    assert proxy.failed == 2
    assert ddb.get_item(TableName="faults", Key={"pk": {"S": "kept"}})["Item"]


def test_skip_lets_the_first_matching_calls_through(proxy):
    sns = client("sns", endpoint_url=proxy.endpoint_url, max_attempts=0)
    topic = sns.create_topic(Name="skipped")["TopicArn"]
    inject_faults(
        proxy.endpoint_url, status=400, code="Throttling", count=1, match="Publish", skip=1
    )
    sns.publish(TopicArn=topic, Message="passes")
    with pytest.raises(ClientError) as throttled:
        sns.publish(TopicArn=topic, Message="throttled")
    assert throttled.value.response["Error"]["Code"] == "Throttling"
