"""The Fraud detection (RGCN on Neptune) stack: wires this system's constructs together; no resource logic here."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from cdk.config import SharedSettings
from cdk.fraud.batch_scoring import BatchScoring
from cdk.fraud.data import FraudData
from cdk.fraud.label_api import LabelApi
from cdk.fraud.network_graph import NetworkAndGraph
from cdk.fraud.operations import FraudOperations
from cdk.fraud.recent_scores import RecentScores
from cdk.fraud.scoring_api import ScoringApi
from cdk.fraud.settings import FraudSettings
from cdk.fraud.training_pipeline import TrainingPipeline
from cdk.shared.iam import read_objects
from cdk.shared.security import SecurityBaseline
from vigil.fraud.contract import RUNS_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[2]
ETL_SCRIPT = REPO_ROOT / "glue" / "fraud_etl.py"
# the training pipeline's construct id, and the logical id prefix of its state machine (the stack
# has others: batch scoring), which the local Step Functions runner is told to run
PIPELINE_ID = "Pipeline"
PIPELINE_STATE_MACHINE = f"{PIPELINE_ID}StateMachine"


class FraudStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedSettings,
        settings: FraudSettings,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.baseline = SecurityBaseline(
            self,
            "Baseline",
            removal=shared.removal_policy,
            description="Vigil Fraud detection (RGCN on Neptune): encrypts this system's data, logs and messages",
        )
        # --- network, graph database, data, Glue ETL, training pipeline ---
        removal = self.baseline.removal_policy
        protect = settings.neptune_deletion_protection
        self.network = NetworkAndGraph(
            self,
            "NetworkGraph",
            key=self.baseline.key,
            removal_policy=removal,
            log_retention_days=shared.log_retention_days,
            cidr=settings.vpc_cidr,
            max_azs=settings.max_azs,
            engine_version=settings.neptune_engine_version,
            instance_class=settings.neptune_instance_class,
            instances=settings.neptune_instances,
            min_capacity=settings.neptune_min_capacity,
            max_capacity=settings.neptune_max_capacity,
            deletion_protection=(shared.removal_policy != "destroy")
            if protect is None
            else protect,
            existing_vpc=(
                (settings.vpc_id, settings.vpc_subnet_ids, settings.vpc_availability_zones)
                if settings.vpc_id
                else None
            ),
        )
        self.data = FraudData(
            self,
            "Data",
            baseline=self.baseline,
            etl_script=ETL_SCRIPT,
            worker_type=settings.glue_worker_type,
            number_of_workers=settings.glue_number_of_workers,
            timeout_minutes=settings.glue_timeout_minutes,
        )
        read_objects(
            self.network.load_role, self.data.processed_bucket, self.baseline.key, RUNS_PREFIX
        )
        self.pipeline = TrainingPipeline(
            self,
            PIPELINE_ID,
            key=self.baseline.key,
            removal_policy=removal,
            log_retention_days=shared.log_retention_days,
            raw_bucket=self.data.raw_bucket,
            processed_bucket=self.data.processed_bucket,
            crawler_name=self.data.crawler_name,
            glue_job_name=self.data.job_name,
            vpc=self.network.vpc,
            subnets=self.network.subnets,
            client_security_group=self.network.client_security_group,
            neptune_endpoint=self.network.cluster_endpoint,
            neptune_data_arn=self.network.data_arn(),
            neptune_load_role=self.network.load_role,
            endpoint_name=settings.endpoint_name,
            training_instance_type=settings.training_instance_type,
            training_max_runtime=Duration.hours(settings.training_max_runtime_hours),
            endpoint_instance_type=settings.endpoint_instance_type,
            endpoint_instance_count=settings.endpoint_instance_count,
            featurizer_key=settings.scoring_featurizer_key,
            timeout=Duration.hours(settings.pipeline_timeout_hours),
        )
        CfnOutput(
            self, "PipelineStateMachineArn", value=self.pipeline.state_machine.state_machine_arn
        )
        CfnOutput(self, "PipelineFailureTopicArn", value=self.pipeline.topic.topic_arn)
        CfnOutput(self, "RawBucketName", value=self.data.raw_bucket.bucket_name)
        CfnOutput(self, "EndpointName", value=settings.endpoint_name)
        # a file of transactions scored offline by a run's model (requests from the ETL's graph)
        self.batch_scoring = BatchScoring(
            self,
            "BatchScoring",
            bucket=self.data.processed_bucket,
            key=self.baseline.key,
            model_role=self.pipeline.model_role,
            instance_type=settings.endpoint_instance_type,
            max_hours=settings.pipeline_timeout_hours,
            log_retention_days=shared.log_retention_days,
            removal_policy=removal,
        )
        CfnOutput(
            self,
            "BatchScoringStateMachineArn",
            value=self.batch_scoring.state_machine.state_machine_arn,
        )
        CfnOutput(self, "ProcessedBucketName", value=self.data.processed_bucket.bucket_name)

        # --- real-time scoring API ---
        self.scoring = ScoringApi(
            self,
            "ScoringApi",
            key=self.baseline.key,
            removal_policy=removal,
            log_retention_days=shared.log_retention_days,
            vpc=self.network.vpc,
            subnets=self.network.subnets,
            security_group=self.network.client_security_group,
            cluster_resource_id=self.network.cluster_resource_id,
            cluster_endpoint=self.network.cluster_endpoint,
            cluster_port=self.network.cluster_port,
            endpoint_name=settings.endpoint_name,
            featurizer_bucket=self.data.processed_bucket,
            featurizer_key=settings.scoring_featurizer_key,
            policy=settings.scoring_policy(),
            reserved_concurrency=settings.scoring_reserved_concurrency,
        )
        CfnOutput(self, "ScoringApiUrl", value=self.scoring.api.url_for_path("/transactions"))
        # what the console shows: one item per answered transaction, expiring after a day
        self.recent_scores = RecentScores(
            self,
            "RecentScores",
            key=self.baseline.key,
            removal_policy=removal,
            writer=self.scoring.function,
            stack_prefix=shared.stack_prefix,
        )
        self.labels = LabelApi(
            self,
            "LabelApi",
            api=self.scoring.api,
            key=self.baseline.key,
            removal_policy=removal,
            log_retention_days=shared.log_retention_days,
            vpc=self.network.vpc,
            subnets=self.network.subnets,
            security_group=self.network.client_security_group,
            cluster_resource_id=self.network.cluster_resource_id,
            cluster_endpoint=self.network.cluster_endpoint,
            cluster_port=self.network.cluster_port,
            label_bucket=self.data.processed_bucket,
        )

        # --- alarms and dashboard ---
        self.operations = FraudOperations(
            self,
            "Operations",
            key=self.baseline.key,
            email=shared.operations_email,
            scoring=self.scoring,
            pipeline=self.pipeline,
            latency_budget_ms=settings.scoring_latency_budget_ms,
            labels=self.labels,
        )
        CfnOutput(self, "OperationsTopicArn", value=self.operations.topic.topic_arn)
