"""The console stack's template: sign-in without self sign-up, every read route behind the
Cognito authorizer, the page private behind CloudFront's origin access control with a
content-security policy and HTTPS only; and what the system stacks publish for it."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from vigil.console.contract import ROUTES, WRITE_ROUTES, parameter_name

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def raw(templates) -> dict:
    return templates["Vigil-Console"]


def _resources(raw: dict, kind: str) -> list[dict]:
    return [r["Properties"] for r in raw["Resources"].values() if r["Type"] == kind]


def test_operators_are_created_by_an_administrator_and_use_mfa(raw):
    (pool,) = _resources(raw, "AWS::Cognito::UserPool")
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["MfaConfiguration"] == "ON"
    (client,) = _resources(raw, "AWS::Cognito::UserPoolClient")
    assert client["GenerateSecret"] is False  # a browser holds no secret


def test_every_read_route_is_a_get_behind_the_cognito_authorizer(raw):
    methods = _resources(raw, "AWS::ApiGateway::Method")
    gets = [m for m in methods if m["HttpMethod"] == "GET"]
    assert len(gets) == len(ROUTES)
    assert all(m["AuthorizationType"] == "COGNITO_USER_POOLS" for m in gets)
    # the one write (an operator's verdict on an anomaly episode) is a POST behind it too
    posts = [m for m in methods if m["HttpMethod"] == "POST"]
    assert len(posts) == len(WRITE_ROUTES)
    assert all(m["AuthorizationType"] == "COGNITO_USER_POOLS" for m in posts)
    assert all(m["HttpMethod"] in ("GET", "OPTIONS", "POST") for m in methods)
    (authorizer,) = _resources(raw, "AWS::ApiGateway::Authorizer")
    assert authorizer["Type"] == "COGNITO_USER_POOLS"
    paths = {r["PathPart"] for r in _resources(raw, "AWS::ApiGateway::Resource")}
    assert {"api", "fraud", "transactions", "{id}", "air", "anomalies", "series", "status"} <= paths


def test_the_page_is_private_and_served_over_https_with_a_csp(raw):
    template = Template.from_json(raw)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }
        },
    )
    template.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    (distribution,) = _resources(raw, "AWS::CloudFront::Distribution")
    config = distribution["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    (api_behaviour,) = config["CacheBehaviors"]
    assert api_behaviour["PathPattern"] == "/api/*"
    assert api_behaviour["ViewerProtocolPolicy"] == "https-only"
    (headers,) = _resources(raw, "AWS::CloudFront::ResponseHeadersPolicy")
    security = headers["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    template.has_resource_properties(
        "Custom::CDKBucketDeployment", {"DestinationBucketName": Match.any_value()}
    )


def test_the_system_stacks_publish_what_the_console_reads(templates):
    def published(stack: str) -> set[str]:
        return {
            p["Name"]
            for r in templates[stack]["Resources"].values()
            if r["Type"] == "AWS::SSM::Parameter"
            for p in [r["Properties"]]
        }

    assert parameter_name("Vigil", "fraud", "recent-scores-table") in published("Vigil-Fraud")
    assert parameter_name("Vigil", "air-quality", "anomaly-table") in published("Vigil-AirQuality")
    fraud = Template.from_json(templates["Vigil-Fraud"])
    fraud.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}},
    )


def test_the_feedback_write_reaches_only_the_episode_and_feedback_partitions(raw):
    statements = [
        s
        for p in _resources(raw, "AWS::IAM::Policy")
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Sid") == "RecordEpisodeFeedback"
    ]
    (write,) = statements
    assert sorted(write["Action"]) == ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    keys = write["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
    assert len(keys) == 2 and all("Fn::Join" in k for k in keys)  # <detector>#episodes, #feedback
    joined = [k["Fn::Join"][1][-1] for k in keys]
    assert joined == ["#episodes", "#feedback"]
