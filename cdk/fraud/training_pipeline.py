"""The training pipeline: one Step Functions state machine from raw data to an InService endpoint.

    NormalizeParameters → IngestData → StartCrawler → (WaitForCrawler → GetCrawler)* →
    ProcessData (Glue .sync) → BuildHyperparameters → TrainModel (SageMaker .sync) →
    [StartGraphLoad → (WaitForGraphLoad → GetGraphLoadStatus)*] → PackageModel → CreateModel →
    CreateEndpointConfig → CheckEndpoint → CreateEndpoint | UpdateEndpoint →
    (WaitForEndpoint → GetEndpointStatus)* → PublishFeaturizer → PipelineSucceeded

Every task retries throttling errors and catches everything else into ``NotifyFailure`` (SNS,
KMS-encrypted topic, the error and its cause) → ``PipelineFailed``. Helper Lambdas are thin
Powertools handlers over :mod:`vigil.fraud.pipeline`. Image URIs come from the SageMaker SDK at
synth time (a per-region mapping); training runs the PyTorch DLC with a pinned DGL build
(``cdk/fraud/code_bundles.py``), network isolated in the private subnets.

Each phase lives in ``cdk/fraud/pipeline/`` (``sagemaker``, ``functions``, ``states``, ``etl``,
``training``, ``graph_load``, ``endpoint``); this construct creates them in order in its own
scope and joins them into the state machine.

Exposes ``state_machine``, ``topic``, ``functions`` (by name), ``training_role``, ``model_role``,
``log_group``, ``sagemaker_network`` (the subnets and security group every SageMaker job and model
of the stack runs in, network isolated: ``cdk/shared/sagemaker_network.py``). State names (``TrainModel``, ``ProcessData``…) are part of the interface: the
local runner's overrides and the tests address states by name.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk.fraud.pipeline.endpoint import EndpointStates
from cdk.fraud.pipeline.etl import EtlStates
from cdk.fraud.pipeline.functions import pipeline_functions
from cdk.fraud.pipeline.graph_load import GraphLoadStates
from cdk.fraud.pipeline.sagemaker import SageMakerArtifacts, sagemaker_roles
from cdk.fraud.pipeline.states import PipelineStates
from cdk.fraud.pipeline.training import TrainingStates
from cdk.nag import FRAUD_PIPELINE_ROLE, acknowledge
from cdk.shared.iam import (
    acknowledge_function_versions,
    allow_key_grants,
    narrow_training_job_grants,
    use_key,
)
from cdk.shared.sagemaker_network import SageMakerNetwork
from cdk.shared.state_machine import logged_state_machine
from vigil.fraud.contract import TRAINING_JOB_PREFIX


class TrainingPipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        log_retention_days: int,
        raw_bucket: s3.IBucket,
        processed_bucket: s3.IBucket,
        crawler_name: str,
        glue_job_name: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        client_security_group: ec2.ISecurityGroup,
        neptune_endpoint: str,
        neptune_data_arn: str,
        neptune_load_role: iam.IRole,
        endpoint_name: str,
        training_instance_type: str,
        training_max_runtime: Duration,
        endpoint_instance_type: str,
        endpoint_instance_count: int,
        featurizer_key: str,
        timeout: Duration,
        bundle_dir: Path | None = None,
    ):
        super().__init__(scope, construct_id)
        artifacts = SageMakerArtifacts(
            self, training_instance_type=training_instance_type, bundle_dir=bundle_dir
        )
        # Training jobs and models (and transforms of them) run network isolated in the subnets.
        self.sagemaker_network = SageMakerNetwork(
            self, "SageMakerNetwork", vpc=vpc, subnets=subnets
        )
        self.training_role, self.model_role = sagemaker_roles(
            self,
            key=key,
            processed_bucket=processed_bucket,
            artifacts=artifacts,
            network=self.sagemaker_network,
        )
        self.functions = pipeline_functions(
            self,
            key=key,
            removal_policy=removal_policy,
            log_retention_days=log_retention_days,
            raw_bucket=raw_bucket,
            processed_bucket=processed_bucket,
            vpc=vpc,
            subnets=subnets,
            client_security_group=client_security_group,
            neptune_endpoint=neptune_endpoint,
            neptune_data_arn=neptune_data_arn,
            neptune_load_role=neptune_load_role,
            endpoint_name=endpoint_name,
            training_instance_type=training_instance_type,
            endpoint_instance_type=endpoint_instance_type,
            endpoint_instance_count=endpoint_instance_count,
            inference_code=artifacts.inference_code,
            featurizer_key=featurizer_key,
        )

        states = PipelineStates(self, key=key)
        self.topic = states.topic
        etl = EtlStates(
            states,
            normalize=self.functions["Normalize"],
            ingest=self.functions["Ingest"],
            crawler_name=crawler_name,
            glue_job_name=glue_job_name,
        )
        training = TrainingStates(
            states,
            hyperparameters_function=self.functions["Hyperparameters"],
            role=self.training_role,
            image=artifacts.training_image,
            source=artifacts.source,
            key=key,
            max_runtime=training_max_runtime,
            network=self.sagemaker_network,
        )
        graph_load = GraphLoadStates(states, graph_load=self.functions["GraphLoad"])
        endpoint = EndpointStates(
            states,
            package=self.functions["PackageModel"],
            endpoint_status=self.functions["EndpointStatus"],
            role=self.model_role,
            image=artifacts.inference_image,
            key=key,
            endpoint_name=endpoint_name,
            endpoint_instance_count=endpoint_instance_count,
            processed_bucket=processed_bucket,
            featurizer_key=featurizer_key,
            network=self.sagemaker_network,
        )
        graph_load.then(endpoint.start)
        training.end.next(
            sfn.Choice(self, "LoadGraph")
            .when(
                sfn.Condition.boolean_equals("$.config.graphLoad.enabled", True), graph_load.start
            )
            .otherwise(endpoint.start)
        )
        etl.end.next(training.start)

        self.log_group, self.state_machine = logged_state_machine(
            self,
            etl.start,
            key=key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            timeout=timeout,
            comment="Vigil fraud: raw data → Glue ETL → RGCN training → Neptune load → endpoint",
            log_group_id="Logs",
            include_execution_data=True,
        )
        use_key(self.state_machine.role, key, write=True)  # publishes to the KMS-encrypted topic
        acknowledge_function_versions(
            self.state_machine.role, [fn.function for fn in self.functions.values()]
        )
        allow_key_grants(self.state_machine.role, key)
        narrow_training_job_grants(self.state_machine.role, TRAINING_JOB_PREFIX)
        acknowledge(self.state_machine.role, *FRAUD_PIPELINE_ROLE)
