"""Template assertions for the real-time scoring API (cdk/fraud/scoring_api.py) in Vigil-Fraud."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def fraud(templates) -> dict:
    return templates["Vigil-Fraud"]


@pytest.fixture(scope="module")
def template(fraud) -> Template:
    return Template.from_json(fraud)


def _scoring_function(fraud: dict) -> tuple[str, dict]:
    for logical_id, resource in fraud["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"].get(
            "Handler", ""
        ).startswith("lambdas.fraud.score_transaction.handler"):
            return logical_id, resource
    raise AssertionError("no scoring Lambda in Vigil-Fraud")


def _policy_statements(fraud: dict, role_logical_id: str) -> list[dict]:
    statements = []
    for resource in fraud["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = resource["Properties"].get("Roles", [])
        if {"Ref": role_logical_id} in roles:
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _flat_resources(resources: list) -> list:
    """Every resource of statements whose ``Resource`` is one value or a list of them."""
    return [
        r
        for resource in resources
        for r in (resource if isinstance(resource, list) else [resource])
    ]


def test_flat_resources_finds_a_star_inside_a_list():
    arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":sagemaker:endpoint/x"]]}
    assert "*" in _flat_resources([[arn, "*"]])
    assert "*" in _flat_resources([arn, "*"])
    assert "*" not in _flat_resources([[arn], arn])


def test_function_runs_in_the_vpc_with_its_settings(fraud):
    _, function = _scoring_function(fraud)
    props = function["Properties"]
    assert props["VpcConfig"]["SubnetIds"], "the scoring Lambda must sit in the VPC"
    assert len(props["VpcConfig"]["SecurityGroupIds"]) == 2
    env = props["Environment"]["Variables"]
    for name in (
        "GRAPH_ENDPOINT",
        "SCORING_ENDPOINT_NAME",
        "FEATURIZER_SPEC",
        "HUB_DEGREE_THRESHOLD",
        "FALLBACK_MODE",
        "LATENCY_BUDGET_MS",
        "IDEMPOTENCY_TABLE",
    ):
        assert name in env, name
    # no vigil:fraud:fraudThreshold in the context: the deployed model's own threshold decides
    assert "FRAUD_THRESHOLD" not in env
    assert env["SCORING_ENDPOINT_NAME"] == "vigil-fraud-rgcn"
    assert env["FALLBACK_MODE"] in ("review", "closed")
    graph = json.dumps(env["GRAPH_ENDPOINT"])  # https://<cluster endpoint>:<cluster port>
    assert '"https://"' in graph and '"Endpoint"]' in graph and '"Port"]' in graph


def test_role_is_least_privilege(fraud):
    _, function = _scoring_function(fraud)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _policy_statements(fraud, role)
    actions = {}
    for statement in statements:
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        ):
            actions.setdefault(action, []).append(statement["Resource"])
    assert set(actions) >= {
        "neptune-db:connect",
        "neptune-db:ReadDataViaQuery",
        "neptune-db:WriteDataViaQuery",
        "sagemaker:InvokeEndpoint",
        "s3:GetObject",
        "dynamodb:PutItem",
    }
    # InvokeEndpoint on exactly one endpoint ARN, named by the setting
    (invoke,) = actions["sagemaker:InvokeEndpoint"]
    assert "endpoint/vigil-fraud-rgcn" in json.dumps(invoke)
    # Neptune on the one cluster's data ARN (resource id of the stack's cluster)
    (neptune,) = actions["neptune-db:connect"]
    assert "ClusterResourceId" in json.dumps(neptune)
    assert "neptune-db" in json.dumps(neptune)
    # no action wildcards and no Resource "*" beyond the VPC ENI/X-Ray statement CDK needs,
    # whether "*" is the statement's Resource or one item of its Resource list
    for action, resources in actions.items():
        assert "*" not in action or action.startswith(("xray:", "ec2:")), action
        if not action.startswith(("xray:", "ec2:")):
            assert "*" not in _flat_resources(resources), action
    assert not any(a.startswith(("dynamodb:Scan", "dynamodb:Query", "s3:List")) for a in actions)


def test_idempotency_table_is_encrypted_with_pitr(template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
        },
    )


def test_api_is_iam_authorised_and_validates_the_body(fraud, template):
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "RequestValidatorId": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True}
    )
    models = [
        r["Properties"]
        for r in fraud["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Model"
    ]
    (model,) = [m for m in models if m.get("Name") == "Transaction"]
    schema = model["Schema"]
    assert schema["required"] == ["TransactionID"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["TransactionID"]["type"] == "integer"
    assert "isFraud" not in schema["properties"]
    assert schema["properties"]["TransactionAmt"]["type"] == ["number", "null"]


def test_stage_logs_traces_and_throttles(template):
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
            "TracingEnabled": True,
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {"LoggingLevel": "ERROR", "ThrottlingRateLimit": Match.any_value()}
                    )
                ]
            ),
        },
    )
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
