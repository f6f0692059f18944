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
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from cdk.nag import TOXICITY_API_COGNITO, TOXICITY_API_PUSH_LOGS_ROLE, acknowledge
from cdk.shared.function import PythonFunction, _retention
from vigil.toxicity.moderation import MAX_MESSAGE_CHARS, MAX_MESSAGES


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


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
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
            environment={"ENDPOINT_NAME": endpoint_name},
        )
        self.function.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeToxicityEndpoint",
                actions=["sagemaker:InvokeEndpoint"],
                resources=[endpoint_arn],
            )
        )
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            encryption_key=key,
            retention=_retention(log_retention_days),
            removal_policy=removal_policy,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            description="Vigil toxicity: moderate messages (flags and per-label scores)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=removal_policy,
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM
            ),
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # message texts stay out of the execution logs
                tracing_enabled=True,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
            ),
        )
        acknowledge(self.api, TOXICITY_API_COGNITO)
        for child in self.api.node.find_all():
            if isinstance(child, iam.Role):
                acknowledge(child, TOXICITY_API_PUSH_LOGS_ROLE)
        model = self.api.add_model(
            "ModerationRequestModel",
            content_type="application/json",
            model_name="ModerationRequest",
            description=f"1..{MAX_MESSAGES} messages of 1..{MAX_MESSAGE_CHARS} characters",
            schema=request_schema(),
        )
        validator = self.api.add_request_validator(
            "BodyValidator", validate_request_body=True, validate_request_parameters=True
        )
        self.api.root.add_resource("moderate").add_method(
            "POST",
            apigw.LambdaIntegration(self.function.function, proxy=True),
            request_models={"application/json": model},
            request_validator=validator,
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("VigilToxicityModerationApi"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=10_000
                        )
                    ),
                    visibility_config=_visibility("RateLimitPerIp"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="KnownBadInputs",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name="AWSManagedRulesKnownBadInputsRuleSet"
                        )
                    ),
                    visibility_config=_visibility("KnownBadInputs"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
