"""The one definition of a Vigil service-to-service REST API and its WAF.

Both public APIs (fraud scoring, toxicity moderation) are called by backends with SigV4: IAM
authorisation on every method, a regional endpoint, KMS-encrypted JSON access logs, X-Ray,
stage throttling, and a regional web ACL (per-IP rate limit + AWS known-bad-inputs rules).
The resources are created directly in the caller's scope with fixed ids, so the callers'
logical ids are those of the constructs these functions replaced.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from cdk.nag import API_PUSH_LOGS_ROLE, Ack, acknowledge
from cdk.shared.logs import encrypted_log_group


def iam_rest_api(
    scope: Construct,
    *,
    name: str,
    description: str,
    key: kms.IKey,
    log_retention_days: int,
    removal_policy: RemovalPolicy,
    throttle_rate_limit: int,
    throttle_burst_limit: int,
    no_cognito: Ack,
) -> apigw.RestApi:
    """``AccessLogs`` + ``Api`` (stage ``v1``) in ``scope``, IAM authorisation on every method;
    ``no_cognito`` says why IAM suffices."""
    api = rest_api(
        scope,
        name=name,
        description=description,
        key=key,
        log_retention_days=log_retention_days,
        removal_policy=removal_policy,
        throttle_rate_limit=throttle_rate_limit,
        throttle_burst_limit=throttle_burst_limit,
        default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
    )
    acknowledge(api, no_cognito)
    return api


def rest_api(
    scope: Construct,
    *,
    name: str,
    description: str,
    key: kms.IKey,
    log_retention_days: int,
    removal_policy: RemovalPolicy,
    throttle_rate_limit: int,
    throttle_burst_limit: int,
    default_method_options: apigw.MethodOptions | None = None,
) -> apigw.RestApi:
    """``AccessLogs`` + ``Api`` (stage ``v1``) in ``scope``: a regional endpoint, KMS-encrypted
    JSON access logs, X-Ray, stage throttling; each method sets its authorisation unless
    ``default_method_options`` does.

    The API is named ``<stack name>-<name>``: API Gateway's metrics are keyed by API name only, so
    each API needs its own for its alarms not to count another API's requests."""
    access_logs = encrypted_log_group(
        scope,
        "AccessLogs",
        key=key,
        retention_days=log_retention_days,
        removal_policy=removal_policy,
    )
    # Execution logging needs the account's API Gateway CloudWatch Logs role, one setting per
    # account and region: the first stack of the app with an API sets it; a later one would
    # overwrite it and, destroyed, delete the role the other stack's stage logs through.
    owner = _api_account_owner(Stack.of(scope))
    if owner is not None:
        Stack.of(scope).add_dependency(owner, "sets API Gateway's account CloudWatch Logs role")
    api = apigw.RestApi(
        scope,
        "Api",
        rest_api_name=f"{Stack.of(scope).stack_name}-{name}",
        description=description,
        endpoint_types=[apigw.EndpointType.REGIONAL],
        cloud_watch_role=owner is None,
        cloud_watch_role_removal_policy=removal_policy if owner is None else None,
        default_method_options=default_method_options,
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
            data_trace_enabled=False,  # request bodies (transactions, messages) stay out of logs
            tracing_enabled=True,
            throttling_rate_limit=throttle_rate_limit,
            throttling_burst_limit=throttle_burst_limit,
        ),
    )
    for child in api.node.find_all():
        if isinstance(child, iam.Role):
            acknowledge(child, API_PUSH_LOGS_ROLE)
    return api


def _api_account_owner(stack: Stack) -> Stack | None:
    """Another stack of this app that already has an ``AWS::ApiGateway::Account``."""
    for other in stack.node.root.node.children:
        if other is stack or not isinstance(other, Stack):
            continue
        if any(isinstance(child, apigw.CfnAccount) for child in other.node.find_all()):
            return other
    return None


def validated_post(
    api: apigw.RestApi,
    path: str,
    handler: lambda_.IFunction,
    *,
    model_id: str,
    model_name: str,
    description: str,
    schema: apigw.JsonSchema,
) -> apigw.Method:
    """``POST /<path>`` → ``handler`` (proxy integration); API Gateway checks the JSON body
    against ``schema`` first, so malformed requests never cost an invocation."""
    model = api.add_model(
        model_id,
        content_type="application/json",
        model_name=model_name,
        description=description,
        schema=schema,
    )
    validator = api.add_request_validator(
        "BodyValidator", validate_request_body=True, validate_request_parameters=True
    )
    return api.root.add_resource(path).add_method(
        "POST",
        apigw.LambdaIntegration(handler, proxy=True),
        request_models={"application/json": model},
        request_validator=validator,
    )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def regional_web_acl(
    scope: Construct, api: apigw.RestApi, *, metric_name: str, requests_per_ip: int
) -> wafv2.CfnWebACL:
    """``WebAcl`` + ``WebAclAssociation`` in ``scope``, protecting the API's deployment stage."""
    web_acl = wafv2.CfnWebACL(
        scope,
        "WebAcl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=_visibility(metric_name),
        rules=[
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerIp",
                priority=0,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=requests_per_ip
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
        scope,
        "WebAclAssociation",
        resource_arn=api.deployment_stage.stage_arn,
        web_acl_arn=web_acl.attr_arn,
    )
    return web_acl
