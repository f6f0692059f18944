"""The pipeline's helper Lambdas (thin Powertools handlers over :mod:`vigil.fraud.pipeline`), each
with exactly the access its states need, under ``<pipeline>/Functions/<name>``."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from cdk.nag import GRAPH_LOAD_DATA_PLANE, acknowledge
from cdk.shared.function import PythonFunction
from cdk.shared.iam import read_asset, read_objects, write_objects
from vigil.fraud.contract import (
    RAW_TABLES_PREFIX,
    RUNS_PREFIX,
    GraphLoadSettings,
    PackageModelSettings,
    PipelineEnvironment,
)


def pipeline_functions(
    scope: Construct,
    *,
    key: kms.IKey,
    removal_policy: RemovalPolicy,
    log_retention_days: int,
    raw_bucket: s3.IBucket,
    processed_bucket: s3.IBucket,
    vpc: ec2.IVpc,
    subnets: ec2.SubnetSelection,
    client_security_group: ec2.ISecurityGroup,
    neptune_endpoint: str,
    neptune_data_arn: str,
    neptune_load_role: iam.IRole,
    endpoint_name: str,
    training_instance_type: str,
    endpoint_instance_type: str,
    endpoint_instance_count: int,
    inference_code: s3_assets.Asset,
    featurizer_key: str,
) -> dict[str, PythonFunction]:
    """Normalize, Ingest, Hyperparameters, GraphLoad, PackageModel, EndpointStatus (by name)."""
    common = dict(
        key=key,
        service_name="fraud-pipeline",
        log_retention_days=log_retention_days,
        removal_policy=removal_policy,
    )
    env = PipelineEnvironment(
        raw_bucket=raw_bucket.bucket_name,
        processed_bucket=processed_bucket.bucket_name,
        endpoint_name=endpoint_name,
        training_instance_type=training_instance_type,
        endpoint_instance_type=endpoint_instance_type,
        endpoint_instance_count=endpoint_instance_count,
    ).to_environment()
    functions: dict[str, PythonFunction] = {}
    functions_scope = Construct(scope, "Functions")

    def function(name: str, description: str, **kwargs) -> PythonFunction:
        fn = PythonFunction(
            functions_scope,
            name,
            handler_module=f"lambdas.fraud.pipeline_{_snake(name)}.handler",
            description=description,
            **common,
            **kwargs,
        )
        functions[name] = fn
        return fn

    function(
        "Normalize",
        "Fraud pipeline: validate the execution input, fill defaults",
        environment=env,
    )
    ingest = function(
        "Ingest",
        "Fraud pipeline: stage raw IEEE-CIS files as crawler tables",
        timeout=Duration.minutes(5),
    )
    read_objects(ingest.role, raw_bucket, key)
    write_objects(ingest.role, raw_bucket, key, RAW_TABLES_PREFIX, delete=True)
    function("Hyperparameters", "Fraud pipeline: SageMaker hyperparameter map")
    graph_load = function(
        "GraphLoad",
        "Fraud pipeline: start and poll the Neptune bulk loader (SigV4)",
        environment=GraphLoadSettings(
            neptune_endpoint=neptune_endpoint,
            neptune_load_role_arn=neptune_load_role.role_arn,
        ).to_environment(),
        vpc=vpc,
        vpc_subnets=subnets,
        security_groups=[client_security_group],
    )
    graph_load.role.add_to_policy(
        iam.PolicyStatement(
            actions=["neptune-db:StartLoaderJob", "neptune-db:GetLoaderJobStatus"],
            resources=[neptune_data_arn],
        )
    )
    acknowledge(graph_load.role, GRAPH_LOAD_DATA_PLANE)
    package = function(
        "PackageModel",
        "Fraud pipeline: merge the trained model with the inference code",
        environment=PackageModelSettings(
            code_bundle_uri=inference_code.s3_object_url
        ).to_environment(),
        timeout=Duration.minutes(10),
        memory_size=2048,
    )
    package.function.node.default_child.add_property_override("EphemeralStorage.Size", 10240)
    read_objects(package.role, processed_bucket, key, RUNS_PREFIX)
    write_objects(package.role, processed_bucket, key, RUNS_PREFIX)
    read_asset(package.role, inference_code)
    # PublishFeaturizer: exactly the one object the scoring Lambda loads, nothing else outside
    # runs/ (KMS Encrypt/GenerateDataKey come with write_objects above).
    package.role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject"],
            resources=[processed_bucket.arn_for_objects(featurizer_key)],
        )
    )
    endpoint_status = function("EndpointStatus", "Fraud pipeline: describe the endpoint")
    endpoint_arn = Stack.of(scope).format_arn(
        service="sagemaker", resource="endpoint", resource_name=endpoint_name
    )
    endpoint_status.role.add_to_policy(
        iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[endpoint_arn])
    )
    return functions


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
