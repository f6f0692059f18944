"""The console's read API: API Gateway (REST, Cognito authorizer, GET only) → the read Lambda.

Every route of ``vigil.console.contract.ROUTES`` under ``/api`` (CloudFront forwards the page's
``/api/*`` here), each method behind the user pool's authorizer. The Lambda reads the tables the
system stacks publish as SSM parameters (resolved at deploy time): Query on the recent-scores
table and its ``byTransaction`` index, Query on the anomaly table and its ``byDimension`` index,
GetItem on the air-quality state table, and kms:Decrypt with each system's key. One route writes:
``POST /api/air/feedback`` (an operator's verdict on an anomaly episode), with UpdateItem/PutItem
limited to the anomaly table's episode and feedback partitions.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk.shared.function import PythonFunction
from cdk.shared.rest_api import regional_web_acl, rest_api
from vigil.air_quality.contract import BY_DIMENSION_INDEX
from vigil.air_quality.episode_table import episode_partition, feedback_partition
from vigil.console.contract import ROUTES, WRITE_ROUTES, ConsoleSettings, parameter_name
from vigil.fraud import recent_scores

QUERY_PARAMETERS = (
    "limit",
    "next",
    "from",
    "to",
    "dimensions",
    "measure",
    "min_severity",
    "series",
)


class ReadApi(Construct):
    """Exposes ``function`` (the ``PythonFunction``), ``api`` and ``web_acl``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        user_pool: cognito.IUserPool,
        stack_prefix: str,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
        reserved_concurrency: int,
    ):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        def parameter(system: str, item: str) -> str:
            return ssm.StringParameter.value_for_string_parameter(
                self, parameter_name(stack_prefix, system, item)
            )

        recent_table = parameter("fraud", "recent-scores-table")
        anomaly_table = parameter("air-quality", "anomaly-table")
        state_table = parameter("air-quality", "state-table")
        detector_name = parameter("air-quality", "detector-name")
        self.function = PythonFunction(
            self,
            "Read",
            handler_module="lambdas.console.read_api.handler",
            description="The Vigil console's read API: recent transactions, anomalies, status",
            key=key,
            service_name="vigil-console-read-api",
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            timeout=Duration.seconds(10),
            memory_size=256,
            reserved_concurrent_executions=reserved_concurrency,
            environment=ConsoleSettings(
                recent_scores_table=recent_table,
                anomaly_table=anomaly_table,
                state_table=state_table,
                detector_name=detector_name,
            ).to_environment(),
        )

        def table_arn(name: str, index: str | None = None) -> str:
            resource = f"{name}/index/{index}" if index else name
            return stack.format_arn(service="dynamodb", resource="table", resource_name=resource)

        role = self.function.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="QueryConsoleTables",
                actions=["dynamodb:Query"],
                resources=[
                    table_arn(recent_table),
                    table_arn(recent_table, recent_scores.ID_INDEX),
                    table_arn(anomaly_table),
                    table_arn(anomaly_table, BY_DIMENSION_INDEX),
                ],
            )
        )
        # the one write, an operator's verdict: set on the episode, queued for the detector;
        # only those two partitions of the anomaly table
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RecordEpisodeFeedback",
                actions=["dynamodb:UpdateItem", "dynamodb:PutItem"],
                resources=[table_arn(anomaly_table)],
                conditions={
                    "ForAllValues:StringEquals": {
                        "dynamodb:LeadingKeys": [
                            episode_partition(detector_name),
                            feedback_partition(detector_name),
                        ]
                    }
                },
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadDetectorStateHead",
                actions=["dynamodb:GetItem"],
                resources=[table_arn(state_table)],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DecryptSystemTables",
                actions=["kms:Decrypt"],
                resources=[parameter("fraud", "key-arn"), parameter("air-quality", "key-arn")],
            )
        )

        self.api = self._rest_api(key, log_retention_days, removal_policy, user_pool)
        self.web_acl = regional_web_acl(
            self, self.api, metric_name="VigilConsoleReadApi", requests_per_ip=2_000
        )

    def _rest_api(self, key, log_retention_days, removal_policy, user_pool) -> apigw.RestApi:
        api = rest_api(
            self,
            name="read",
            description="Vigil console: read APIs behind the operators' page (Cognito sign-in)",
            key=key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            throttle_rate_limit=50,
            throttle_burst_limit=100,
        )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Operators", cognito_user_pools=[user_pool]
        )
        # GET routes carry no body; their parameters are checked by the Lambda with clear 400s
        validator = api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        integration = apigw.LambdaIntegration(self.function.function)
        root = api.root.add_resource("api")
        for route in ROUTES:
            resource = root
            for part in route.strip("/").split("/"):
                resource = resource.get_resource(part) or resource.add_resource(part)
            resource.add_method(
                "GET",
                integration,
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                request_validator=validator,
                request_parameters={
                    f"method.request.querystring.{name}": False for name in QUERY_PARAMETERS
                },
            )
        for route in WRITE_ROUTES:  # a JSON body, checked by the Lambda with clear 400s
            resource = root
            for part in route.strip("/").split("/"):
                resource = resource.get_resource(part) or resource.add_resource(part)
            resource.add_method(
                "POST",
                integration,
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                request_validator=validator,
            )
        return api
