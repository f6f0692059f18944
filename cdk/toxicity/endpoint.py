"""The served toxicity model: SageMaker model (the trained ``model.tar.gz`` with its ``code/``),
endpoint config (real-time instances with a KMS-encrypted volume, or serverless by context) and
endpoint. The BiLSTM runs in the PyTorch inference DLC, the transformer in the Hugging Face one;
both load ``code/inference.py``. The model runs network isolated in the stack's private subnets
(``cdk/shared/sagemaker_network.py``; Serverless Inference supports neither, so a serverless
endpoint's model has no subnets and no isolation, and installs only its bundled wheels)."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from cdk.nag import TOXICITY_ENDPOINT_ROLE, acknowledge
from cdk.shared.iam import grant_sagemaker_logs_and_metrics
from cdk.shared.sagemaker import FrameworkImages
from cdk.shared.sagemaker_network import SageMakerNetwork


class ToxicityEndpoint(Construct):
    """Exposes ``model``, ``endpoint_config``, ``endpoint``, ``endpoint_name``, ``endpoint_arn``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        images: FrameworkImages,
        served_model: str,
        model_data_key: str,
        serverless: bool,
        serverless_memory_mb: int,
        serverless_max_concurrency: int,
        instance_type: str,
        instance_count: int,
        network: SageMakerNetwork,
    ):
        super().__init__(scope, construct_id)
        image = "bilstmInference" if served_model == "bilstm" else "transformerInference"
        self.role = iam.Role(
            self,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Vigil toxicity endpoint: read the model artifact, write endpoint logs",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(model_data_key)]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn])
        )
        acknowledge(self.role, *TOXICITY_ENDPOINT_ROLE)
        images.grant_pull(self.role, image)
        grant_sagemaker_logs_and_metrics(self.role, "Endpoints")
        network.grant_network_interfaces(self.role)
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=images.uri(image),
                model_data_url=bucket.s3_url_for_object(model_data_key),
                environment={
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    "SAGEMAKER_REGION": Aws.REGION,
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                },
            ),
            # network isolated in the private subnets; a bulk transform of this model runs so too
            **network.cfn_model_properties(serverless=serverless),
        )
        self.model.node.add_dependency(self.role)
        variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name="AllTraffic",
            model_name=self.model.attr_model_name,
            initial_variant_weight=1.0,
            **(
                {
                    "serverless_config": sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                        memory_size_in_mb=serverless_memory_mb,
                        max_concurrency=serverless_max_concurrency,
                    )
                }
                if serverless
                else {"instance_type": instance_type, "initial_instance_count": instance_count}
            ),
        )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[variant],
            # Serverless endpoints have no storage volume, so no KmsKeyId there.
            kms_key_id=None if serverless else key.key_arn,
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=self.endpoint_config.attr_endpoint_config_name
        )
        self.endpoint_name = self.endpoint.attr_endpoint_name
        self.endpoint_arn = self.endpoint.ref  # Ref of AWS::SageMaker::Endpoint is its ARN
