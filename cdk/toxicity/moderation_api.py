"""The moderation API: API Gateway (REST, IAM-authorised, request-validated, WAF) → the moderate
Lambda → the toxicity endpoint. ``POST /moderate`` with ``{"messages": ["text", ...]}``.

The request model's limits come from ``vigil.toxicity.moderation`` (the Lambda's pydantic model),
so API Gateway rejects the same requests the Lambda would, before they cost an invocation.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.nag import TOXICITY_API_COGNITO
from cdk.shared.function import PythonFunction
from cdk.shared.rest_api import iam_rest_api, regional_web_acl, validated_post
from vigil.toxicity.contract import MAX_MESSAGE_CHARS, MAX_MESSAGES, ModerationSettings


def request_schema() -> apigw.JsonSchema:
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title="ModerationRequest",
        type=apigw.JsonSchemaType.OBJECT,
        required=["messages"],
        additional_properties=False,
        properties={
            "messages": apigw.JsonSchema(
                type=apigw.JsonSchemaType.ARRAY,
                min_items=1,
                max_items=MAX_MESSAGES,
                items=apigw.JsonSchema(
                    type=apigw.JsonSchemaType.STRING, min_length=1, max_length=MAX_MESSAGE_CHARS
                ),
            )
        },
    )


class ModerationApi(Construct):
    """Exposes ``function`` (the ``PythonFunction``), ``api`` and ``web_acl``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        endpoint_name: str,
        endpoint_arn: str,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
        reserved_concurrency: int,
        throttle_rate_limit: int = 100,
        throttle_burst_limit: int = 200,
    ):
        super().__init__(scope, construct_id)
        self.function = PythonFunction(
            self,
            "Moderate",
            handler_module="lambdas.toxicity.moderate.handler",
            description="Classifies messages through the toxicity endpoint and flags them",
            key=key,
            service_name="vigil-toxicity-moderation",
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            timeout=Duration.seconds(29),
            memory_size=256,
            # A burst of messages cannot take the account's whole concurrency (nor be starved).
            reserved_concurrent_executions=reserved_concurrency,
            environment=ModerationSettings(endpoint_name=endpoint_name).to_environment(),
        )
        self.function.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeToxicityEndpoint",
                actions=["sagemaker:InvokeEndpoint"],
                resources=[endpoint_arn],
            )
        )
        self.api = iam_rest_api(
            self,
            name="moderation",
            description="Vigil toxicity: moderate messages (flags and per-label scores)",
            key=key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            throttle_rate_limit=throttle_rate_limit,
            throttle_burst_limit=throttle_burst_limit,
            no_cognito=TOXICITY_API_COGNITO,
        )
        validated_post(
            self.api,
            "moderate",
            self.function.function,
            model_id="ModerationRequestModel",
            model_name="ModerationRequest",
            description=f"1..{MAX_MESSAGES} messages of 1..{MAX_MESSAGE_CHARS} characters",
            schema=request_schema(),
        )
        self.web_acl = regional_web_acl(
            self, self.api, metric_name="VigilToxicityModerationApi", requests_per_ip=10_000
        )
