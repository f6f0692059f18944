"""Real-time scoring API: API Gateway (IAM auth, request validation, WAF) → the scoring Lambda.

One architectural task: answer ``{id, flag, pred_prob}`` per transaction. The construct creates

* the scoring Lambda (``lambdas/fraud/score_transaction``) inside the fraud VPC's isolated
  subnets, wearing the Neptune client security group (Neptune admits 8182 only from it) and its
  own egress group (HTTPS to the VPC's S3/DynamoDB gateway and SageMaker runtime endpoints);
* its role, least privilege: ``neptune-db:connect`` + ``ReadDataViaQuery`` +
  ``WriteDataViaQuery`` on the ONE cluster's data ARN, ``sagemaker:InvokeEndpoint`` on the ONE
  endpoint's ARN, read of the ONE featurizer spec object, read/write of its idempotency table;
* the idempotency table (Powertools idempotency on ``TransactionID``): KMS-encrypted with the
  stack key, point-in-time recovery, TTL on ``expiration``;
* a REST API, ``POST /transactions``, IAM-authorised (SigV4), with a request validator and a
  JSON-Schema model generated from the same column lists as the Lambda's pydantic model
  (``vigil.fraud.contract.request_json_schema``), KMS-encrypted JSON access logs, execution logs,
  X-Ray tracing, stage throttling and a WAFv2 web ACL (rate limit + known-bad-inputs).

Exposes ``function`` (the ``PythonFunction``), ``table``, ``api``, ``web_acl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.nag import (
    SCORING_API_COGNITO,
    acknowledge,
    scoring_neptune_data_ack,
)
from cdk.shared.function import PythonFunction
from cdk.shared.rest_api import iam_rest_api, regional_web_acl, validated_post
from vigil.fraud.contract import ScoringSettings, request_json_schema

_JSON_TYPES = {
    "object": apigw.JsonSchemaType.OBJECT,
    "integer": apigw.JsonSchemaType.INTEGER,
    "number": apigw.JsonSchemaType.NUMBER,
    "string": apigw.JsonSchemaType.STRING,
    "null": apigw.JsonSchemaType.NULL,
    "boolean": apigw.JsonSchemaType.BOOLEAN,
}


def _json_schema(spec: dict, **top) -> apigw.JsonSchema:
    kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    types = [_JSON_TYPES[k] for k in kinds]
    return apigw.JsonSchema(
        **top,
        type=types[0] if len(types) == 1 else types,
        minimum=spec.get("minimum"),
        max_length=spec.get("maxLength"),
        enum=spec.get("enum"),
        pattern=spec.get("pattern"),
        required=spec.get("required"),
        additional_properties=spec.get("additionalProperties"),
        properties={k: _json_schema(v) for k, v in spec.get("properties", {}).items()} or None,
    )


def _nag_resource(stack: Stack, value: str) -> str:
    """How cdk-nag spells a resource string in a finding id (tokens as ``<Logical.Attr>``)."""
    resolved = stack.resolve(value)
    if isinstance(resolved, str):
        return resolved
    parts = []
    for part in resolved["Fn::Join"][1]:
        if isinstance(part, str):
            parts.append(part)
        elif "Ref" in part:
            parts.append(f"<{part['Ref']}>")
        else:
            logical, attribute = part["Fn::GetAtt"]
            parts.append(f"<{logical}.{attribute}>")
    return "".join(parts)


def grant_graph_queries(stack: Stack, role: iam.IRole, cluster_resource_id: str) -> None:
    """Let a function read and write the graph by openCypher over IAM auth: the cluster's data
    (``<resource id>/*``, the narrowest resource Neptune's data actions take), acknowledged."""
    cluster_data = (
        f"arn:{stack.partition}:neptune-db:{stack.region}:{stack.account}:{cluster_resource_id}/*"
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="NeptuneOpenCypher",
            actions=[
                "neptune-db:connect",
                "neptune-db:ReadDataViaQuery",
                "neptune-db:WriteDataViaQuery",
            ],
            resources=[cluster_data],
        )
    )
    acknowledge(role, scoring_neptune_data_ack(_nag_resource(stack, cluster_data)))


class ScoringApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        log_retention_days: int,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        cluster_resource_id: str,
        cluster_endpoint: str,
        cluster_port: str = "8182",
        endpoint_name: str,
        featurizer_bucket: s3.IBucket,
        featurizer_key: str,
        policy: Mapping[str, Any],
        reserved_concurrency: int,
        throttle_rate_limit: int = 200,
        throttle_burst_limit: int = 400,
    ):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.table = dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expiration",
            removal_policy=removal_policy,
        )

        egress = ec2.SecurityGroup(
            self,
            "Egress",
            vpc=vpc,
            description="Scoring Lambda: HTTPS to the VPC endpoints (isolated subnets, no internet route)",
            allow_all_outbound=False,
        )
        # Gateway endpoints are reached through AWS prefix lists (not the VPC CIDR) and interface
        # endpoints through the VPC CIDR: HTTPS anywhere reaches only those, the isolated route
        # tables have no internet or NAT route.
        egress.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the S3/DynamoDB/SageMaker endpoints"
        )
        vpc.add_gateway_endpoint(
            "ScoringDynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[subnets]
        )

        self.function = PythonFunction(
            self,
            "ScoreTransaction",
            handler_module="lambdas.fraud.score_transaction.handler",
            description="Scores one card transaction through Neptune and the RGCN endpoint",
            key=key,
            service_name="vigil-fraud-scoring",
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            timeout=Duration.seconds(10),
            memory_size=1024,
            # A burst of transactions cannot take the account's whole concurrency (nor be starved).
            reserved_concurrent_executions=reserved_concurrency,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group, egress],
            environment=ScoringSettings(
                graph_endpoint=f"https://{cluster_endpoint}:{cluster_port}",
                endpoint_name=endpoint_name,
                featurizer_spec=f"s3://{featurizer_bucket.bucket_name}/{featurizer_key}",
                idempotency_table=self.table.table_name,
                **policy,
            ).to_environment(),
        )
        role = self.function.role
        grant_graph_queries(stack, role, cluster_resource_id)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeScoringEndpoint",
                actions=["sagemaker:InvokeEndpoint"],
                resources=[
                    stack.format_arn(
                        service="sagemaker", resource="endpoint", resource_name=endpoint_name
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadFeaturizerSpec",
                actions=["s3:GetObject"],
                resources=[featurizer_bucket.arn_for_objects(featurizer_key)],
            )
        )
        # Powertools idempotency: get/put/update/delete of one record per TransactionID.
        self.table.grant(
            role,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseStackKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[key.key_arn],
            )
        )

        self.api = iam_rest_api(
            self,
            name="scoring",
            description="Vigil fraud: score one transaction ({id, flag, pred_prob})",
            key=key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            throttle_rate_limit=throttle_rate_limit,
            throttle_burst_limit=throttle_burst_limit,
            no_cognito=SCORING_API_COGNITO,
        )
        validated_post(
            self.api,
            "transactions",
            self.function.function,
            model_id="TransactionModel",
            model_name="Transaction",
            description="One IEEE-CIS transaction (TransactionID required, no other keys)",
            schema=_json_schema(
                request_json_schema(), schema=apigw.JsonSchemaVersion.DRAFT4, title="Transaction"
            ),
        )

        self.web_acl = regional_web_acl(
            self, self.api, metric_name="VigilFraudScoringApi", requests_per_ip=20_000
        )
