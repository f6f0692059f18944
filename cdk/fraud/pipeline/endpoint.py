"""Endpoint phase: PackageModel → CreateModel → CreateEndpointConfig → CheckEndpoint →
CreateEndpoint | UpdateEndpoint → (WaitForEndpoint → GetEndpointStatus)* → PublishFeaturizer →
PipelineSucceeded."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from cdk.fraud.pipeline.states import PipelineStates
from cdk.shared.function import PythonFunction
from cdk.shared.sagemaker_network import IsolatedModel, SageMakerNetwork
from vigil.fraud.contract import FEATURIZER_FILE

WAIT_ENDPOINT = Duration.seconds(60)


class EndpointStates:
    """``start`` (PackageModel), wired through to ``PipelineSucceeded``."""

    def __init__(
        self,
        states: PipelineStates,
        *,
        package: PythonFunction,
        endpoint_status: PythonFunction,
        role: iam.IRole,
        image: str,
        key: kms.IKey,
        endpoint_name: str,
        endpoint_instance_count: int,
        processed_bucket: s3.IBucket,
        featurizer_key: str,
        network: SageMakerNetwork,
    ):
        scope, guard, invoke = states.scope, states.guard, states.invoke
        self.start = invoke(
            "PackageModel",
            package,
            {
                "modelUri": sfn.JsonPath.string_at("$.training.modelArtifacts"),
                "outputUri": sfn.JsonPath.string_at("$.config.model.packagedUri"),
            },
            "$.package",
        )
        create_model = guard(
            IsolatedModel(
                scope,
                "CreateModel",
                network=network,
                model_name=sfn.JsonPath.string_at("$.config.model.name"),
                role=iam.Role.from_role_arn(scope, "ModelRoleRef", role.role_arn, mutable=False),
                primary_container=tasks.ContainerDefinition(
                    image=tasks.DockerImage.from_registry(image),
                    mode=tasks.Mode.SINGLE_MODEL,
                    model_s3_location=tasks.S3Location.from_json_expression(
                        "$.package.modelDataUrl"
                    ),
                    environment_variables=sfn.TaskInput.from_object(
                        {
                            "SAGEMAKER_PROGRAM": "inference.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                            "SAGEMAKER_REGION": Aws.REGION,
                            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                        }
                    ),
                ),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "sagemaker",
        )
        create_config = guard(
            tasks.SageMakerCreateEndpointConfig(
                scope,
                "CreateEndpointConfig",
                endpoint_config_name=sfn.JsonPath.string_at("$.config.endpoint.configName"),
                kms_key=key,
                production_variants=[
                    tasks.ProductionVariant(
                        model_name=sfn.JsonPath.string_at("$.config.model.name"),
                        variant_name="AllTraffic",
                        # the L2 validates a literal count (>= 1): a context setting, not an input
                        initial_instance_count=endpoint_instance_count,
                        instance_type=ec2.InstanceType(
                            sfn.JsonPath.string_at("$.config.endpoint.instanceType")
                        ),
                        initial_variant_weight=1,
                    )
                ],
                result_path=sfn.JsonPath.DISCARD,
            ),
            "sagemaker",
        )
        check_endpoint = invoke(
            "CheckEndpoint",
            endpoint_status,
            {"endpointName": endpoint_name},
            "$.endpointStatus",
        )
        create_endpoint = guard(
            tasks.SageMakerCreateEndpoint(
                scope,
                "CreateEndpoint",
                endpoint_name=endpoint_name,
                endpoint_config_name=sfn.JsonPath.string_at("$.config.endpoint.configName"),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "sagemaker",
        )
        update_endpoint = guard(
            tasks.SageMakerUpdateEndpoint(
                scope,
                "UpdateEndpoint",
                endpoint_name=endpoint_name,
                endpoint_config_name=sfn.JsonPath.string_at("$.config.endpoint.configName"),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "sagemaker",
        )
        wait_endpoint = sfn.Wait(
            scope, "WaitForEndpoint", time=sfn.WaitTime.duration(WAIT_ENDPOINT)
        )
        get_endpoint = invoke(
            "GetEndpointStatus",
            endpoint_status,
            {"endpointName": endpoint_name},
            "$.endpointStatus",
        )
        endpoint_failed = states.failed_with(
            "EndpointFailed",
            "EndpointFailed",
            sfn.JsonPath.format(
                "endpoint {} is {}: {}",
                endpoint_name,
                sfn.JsonPath.string_at("$.endpointStatus.status"),
                sfn.JsonPath.string_at("$.endpointStatus.failureReason"),
            ),
        )
        # The scoring Lambda's featurizer spec and the endpoint's model are a pair: the model was
        # trained on vectors of exactly this run's spec (its width, statistics and vocabularies).
        # Published earlier (e.g. after ProcessData), the Lambda would send new-spec vectors to the
        # old model for the whole endpoint update, or for good if the run then failed. So it is
        # published only once the endpoint is InService with this run's config. (Still a window:
        # the seconds until this copy lands, and warm scoring containers that cached the old spec.)
        publish_featurizer = invoke(
            "PublishFeaturizer",
            package,
            {
                "action": "publishFeaturizer",
                # $.config.processed ends in '/' (normalize_input); the ETL writes the spec there
                "source": sfn.JsonPath.format(
                    "{}" + FEATURIZER_FILE, sfn.JsonPath.string_at("$.config.processed")
                ),
                "destination": f"s3://{processed_bucket.bucket_name}/{featurizer_key}",
            },
            "$.featurizer",
        )
        succeeded = sfn.Succeed(scope, "PipelineSucceeded")

        (
            self.start.next(create_model)
            .next(create_config)
            .next(check_endpoint)
            .next(
                sfn.Choice(scope, "EndpointExists")
                .when(
                    sfn.Condition.boolean_equals("$.endpointStatus.exists", True), update_endpoint
                )
                .otherwise(create_endpoint)
            )
        )
        create_endpoint.next(wait_endpoint)
        update_endpoint.next(wait_endpoint)
        wait_endpoint.next(get_endpoint).next(
            sfn.Choice(scope, "EndpointInService")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals("$.endpointStatus.status", "InService"),
                    sfn.Condition.string_equals_json_path(
                        "$.endpointStatus.configName", "$.config.endpoint.configName"
                    ),
                ),
                publish_featurizer.next(succeeded),
            )
            .when(sfn.Condition.string_equals("$.endpointStatus.status", "Failed"), endpoint_failed)
            .otherwise(wait_endpoint)
        )
