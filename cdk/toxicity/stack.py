"""The Toxicity classification stack: wires this system's constructs together; no resource logic here."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.config import SharedSettings
from cdk.shared.sagemaker import FrameworkImages
from cdk.shared.sagemaker_network import PrivateVpc, SageMakerNetwork
from cdk.shared.security import SecurityBaseline
from cdk.toxicity.bulk_moderation import BulkModeration
from cdk.toxicity.endpoint import ToxicityEndpoint
from cdk.toxicity.images import huggingface, pytorch
from cdk.toxicity.moderation_api import ModerationApi
from cdk.toxicity.operations import ToxicityOperations
from cdk.toxicity.settings import ToxicitySettings
from cdk.toxicity.training import MODELS_PREFIX, PREPARED_PREFIX, ToxicityTraining


class ToxicityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedSettings,
        settings: ToxicitySettings,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.baseline = SecurityBaseline(
            self,
            "Baseline",
            removal=shared.removal_policy,
            description="Vigil Toxicity classification: encrypts this system's data, logs and messages",
        )
        self.data_bucket = self.baseline.data_bucket("Data", scope=self)
        self.operations = ToxicityOperations(
            self, "Operations", key=self.baseline.key, email=shared.operations_email
        )
        CfnOutput(self, "OperationsTopicArn", value=self.operations.topic.topic_arn)
        self.images = FrameworkImages(
            self,
            "Images",
            images={
                "bilstmTraining": pytorch(settings.bilstm_training_instance_type, "training"),
                "transformerTraining": huggingface(
                    settings.transformer_training_instance_type, "training"
                ),
                "bilstmInference": pytorch(settings.endpoint_instance_type, "inference"),
                "transformerInference": huggingface(settings.endpoint_instance_type, "inference"),
            },
        )
        # Every SageMaker container of this stack runs network isolated in these private subnets.
        self.network = PrivateVpc(
            self,
            "Network",
            key=self.baseline.key,
            cidr=settings.vpc_cidr,
            max_azs=2,
            log_retention_days=shared.log_retention_days,
            removal_policy=self.baseline.removal_policy,
        )
        self.sagemaker_network = SageMakerNetwork(
            self, "SageMakerNetwork", vpc=self.network.vpc, subnets=self.network.subnets
        )
        self.training = ToxicityTraining(
            self,
            "Training",
            bucket=self.data_bucket,
            key=self.baseline.key,
            images=self.images,
            bilstm_instance_type=settings.bilstm_training_instance_type,
            transformer_instance_type=settings.transformer_training_instance_type,
            transformer_model_name=settings.transformer_model_name,
            max_training_hours=settings.max_training_hours,
            log_retention_days=shared.log_retention_days,
            removal_policy=self.baseline.removal_policy,
            network=self.sagemaker_network,
        )
        CfnOutput(self, "DataBucketName", value=self.data_bucket.bucket_name)
        CfnOutput(
            self, "PreparedDataUri", value=self.data_bucket.s3_url_for_object(PREPARED_PREFIX)
        )
        CfnOutput(
            self, "TrainingStateMachineArn", value=self.training.state_machine.state_machine_arn
        )
        if not settings.deploy_endpoint:
            return
        model_key = (
            settings.model_data_key or f"{MODELS_PREFIX}/{settings.served_model}/model.tar.gz"
        )
        self.endpoint = ToxicityEndpoint(
            self,
            "Serving",
            bucket=self.data_bucket,
            key=self.baseline.key,
            images=self.images,
            served_model=settings.served_model,
            model_data_key=model_key,
            serverless=settings.serverless,
            serverless_memory_mb=settings.serverless_memory_mb,
            serverless_max_concurrency=settings.serverless_max_concurrency,
            instance_type=settings.endpoint_instance_type,
            instance_count=settings.endpoint_instance_count,
            network=self.sagemaker_network,
        )
        self.moderation = ModerationApi(
            self,
            "Moderation",
            key=self.baseline.key,
            endpoint_name=self.endpoint.endpoint_name,
            endpoint_arn=self.endpoint.endpoint_arn,
            log_retention_days=shared.log_retention_days,
            removal_policy=self.baseline.removal_policy,
            reserved_concurrency=settings.moderation_reserved_concurrency,
        )
        self.operations.watch_moderation(self.moderation)
        self.bulk = BulkModeration(
            self,
            "BulkModeration",
            bucket=self.data_bucket,
            key=self.baseline.key,
            model_name=self.endpoint.model.attr_model_name,
            model_role=self.endpoint.role,
            instance_type=settings.bulk_instance_type,
            max_hours=settings.bulk_max_hours,
            log_retention_days=shared.log_retention_days,
            removal_policy=self.baseline.removal_policy,
        )
        CfnOutput(
            self, "BulkModerationStateMachineArn", value=self.bulk.state_machine.state_machine_arn
        )
        CfnOutput(self, "EndpointName", value=self.endpoint.endpoint_name)
        CfnOutput(self, "ModerationUrl", value=self.moderation.api.url_for_path("/moderate"))
