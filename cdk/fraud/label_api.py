"""Label feedback API: ``POST /transactions/{id}/label`` on the scoring API → the label Lambda.

One architectural task: take fraud/legit labels (chargebacks, analysts' verdicts) into the S3
label log and the graph. The construct creates

* the label Lambda (``lambdas/fraud/label_transaction``) inside the fraud VPC's isolated subnets,
  wearing the Neptune client security group and its own egress group (HTTPS to the VPC's S3
  gateway endpoint), with low reserved concurrency (labels arrive at human pace; a flood of them
  must not take capacity from scoring);
* its role, least privilege: ``neptune-db:connect`` + ``ReadDataViaQuery`` +
  ``WriteDataViaQuery`` on the ONE cluster's data ARN; ``s3:GetObject``/``s3:PutObject`` on the
  label log's prefix only and ``s3:ListBucket`` conditioned on that prefix (no delete: the log
  is append-only); the stack key for the bucket's SSE-KMS;
* the ``/transactions/{id}/label`` resource on the scoring REST API (same IAM/SigV4
  authorisation, stage, WAF and access logs), with a required path parameter, the body checked
  by API Gateway against a JSON-Schema model generated from the Lambda's own pydantic contract
  (``vigil.fraud.labels``), and the API's existing request validator.

The label log is in the processed bucket, under ``vigil.fraud.label_log.LABEL_LOG_PREFIX``;
the Glue ETL reads it as ``--label-log`` (``cdk/fraud/data.py``).

Exposes ``function`` (the ``PythonFunction``) and ``method``.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.fraud.scoring_api import _json_schema, grant_graph_queries
from cdk.shared.function import PythonFunction
from cdk.shared.iam import read_objects, write_objects
from vigil.fraud.label_log import LABEL_LOG_PREFIX
from vigil.fraud.labels import LabelSettings, label_request_json_schema


class LabelApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        log_retention_days: int,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        cluster_resource_id: str,
        cluster_endpoint: str,
        cluster_port: str = "8182",
        label_bucket: s3.IBucket,
        reserved_concurrency: int = 5,
    ):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        egress = ec2.SecurityGroup(
            self,
            "Egress",
            vpc=vpc,
            description="Label Lambda: HTTPS to the S3 VPC endpoint (isolated subnets, no internet route)",
            allow_all_outbound=False,
        )
        egress.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the S3 endpoint")

        self.function = PythonFunction(
            self,
            "LabelTransaction",
            handler_module="lambdas.fraud.label_transaction.handler",
            description="Stores a fraud/legit label: the S3 label log, then the graph",
            key=key,
            service_name="vigil-fraud-labels",
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            timeout=Duration.seconds(10),
            memory_size=512,
            reserved_concurrent_executions=reserved_concurrency,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group, egress],
            environment=LabelSettings(
                graph_endpoint=f"https://{cluster_endpoint}:{cluster_port}",
                label_bucket=label_bucket.bucket_name,
                label_log_prefix=LABEL_LOG_PREFIX,
            ).to_environment(),
        )
        role = self.function.role
        grant_graph_queries(stack, role, cluster_resource_id)
        # the log: read (what a version holds, which versions exist) and append; never delete
        read_objects(role, label_bucket, key, LABEL_LOG_PREFIX)
        write_objects(role, label_bucket, key, LABEL_LOG_PREFIX)

        transactions = api.root.get_resource("transactions") or api.root.add_resource(
            "transactions"
        )
        model = api.add_model(
            "LabelModel",
            content_type="application/json",
            model_name="Label",
            description='A label for one transaction: {"label", "source", "override"}',
            schema=_json_schema(
                label_request_json_schema(), schema=apigw.JsonSchemaVersion.DRAFT4, title="Label"
            ),
        )
        validator = api.node.try_find_child("BodyValidator")
        if validator is None:
            validator = api.add_request_validator(
                "BodyValidator", validate_request_body=True, validate_request_parameters=True
            )
        self.method = (
            transactions.add_resource("{id}")
            .add_resource("label")
            .add_method(
                "POST",
                apigw.LambdaIntegration(self.function.function, proxy=True),
                request_models={"application/json": model},
                request_parameters={"method.request.path.id": True},
                request_validator=validator,
            )
        )
