"""The one definition of a Vigil Python Lambda: runtime, Powertools layer, logs, tracing, role.

Every function gets its own KMS-encrypted log group with a retention, its own role with only
log-write permission on that group (no AWSLambdaBasicExecutionRole wildcard), active X-Ray
tracing, and Powertools settings from the environment. Callers grant the rest
(``table.grant_read_write_data(fn.function)``).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk.nag import LAMBDA_RUNTIME, XRAY_WILDCARD, Ack, acknowledge
from cdk.shared.lambda_code import lambda_code
from cdk.shared.logs import encrypted_log_group

RUNTIME = lambda_.Runtime.PYTHON_3_11
ARCHITECTURE = lambda_.Architecture.X86_64
# Powertools for AWS Lambda (Python) v3 public layer; it also provides pydantic for the parser.
POWERTOOLS_LAYER_VERSION = 18
POWERTOOLS_ACCOUNT = "017000801446"
# Powertools Metrics namespace of every Vigil Lambda; alarms on custom metrics read it here.
METRICS_NAMESPACE = "Vigil"


class PythonFunction(Construct):
    """A Python Lambda whose handler is ``lambdas/<system>/<name>/handler.py:handler``.

    Exposes ``function``, ``role``, ``log_group`` and ``service_name`` (the ``service`` dimension
    of its Powertools metrics).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler_module: str,
        description: str,
        key: kms.IKey,
        service_name: str,
        log_retention_days: int = 90,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        environment: dict[str, str] | None = None,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 512,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: list[ec2.ISecurityGroup] | None = None,
        reserved_concurrent_executions: int | None = None,
    ):
        super().__init__(scope, construct_id)
        self.service_name = service_name
        self.log_group = encrypted_log_group(
            self,
            "Logs",
            key=key,
            retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runtime role of {service_name} {construct_id}",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        if vpc is not None:
            # ENI management for VPC Lambdas; these EC2 actions have no resource-level scoping.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            )
        env = {
            "POWERTOOLS_SERVICE_NAME": service_name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **(environment or {}),
        }
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{POWERTOOLS_ACCOUNT}:layer:"
            f"AWSLambdaPowertoolsPythonV3-python311-x86_64:{POWERTOOLS_LAYER_VERSION}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=lambda_code(),
            handler=f"{handler_module}.handler",
            description=description,
            role=self.role,
            layers=[layer],
            environment=env,
            environment_encryption=key,
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        key.grant_decrypt(self.role)
        acknowledge(self.function, LAMBDA_RUNTIME)
        wildcard = XRAY_WILDCARD
        if vpc is not None:
            wildcard = Ack(
                XRAY_WILDCARD.rule,
                XRAY_WILDCARD.reason
                + " The Lambda VPC ENI actions (ec2:CreateNetworkInterface and friends) do not "
                "support resource-level permissions either.",
            )
        acknowledge(self.role, wildcard)
