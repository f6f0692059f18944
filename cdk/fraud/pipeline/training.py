"""Training phase: BuildHyperparameters → TrainModel (a SageMaker training job, ``.sync``, on the
PyTorch DLC with the pinned DGL build, network isolated in the stack's private subnets)."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from cdk.fraud.pipeline.states import PipelineStates
from cdk.shared.function import PythonFunction
from cdk.shared.sagemaker_network import IsolatedTrainingJob, SageMakerNetwork, code_channel
from vigil.fraud.contract import SAGEMAKER_PROGRAM, Hyperparameters, metric_definitions


class TrainingStates:
    """``start`` (BuildHyperparameters) → ``end`` (TrainModel)."""

    def __init__(
        self,
        states: PipelineStates,
        *,
        hyperparameters_function: PythonFunction,
        role: iam.IRole,
        image: str,
        source: s3_assets.Asset,
        key: kms.IKey,
        max_runtime: Duration,
        network: SageMakerNetwork,
    ):
        scope = states.scope
        self.start = states.invoke(
            "BuildHyperparameters",
            hyperparameters_function,
            {"hyperparameters": sfn.JsonPath.object_at("$.config.hyperparameters")},
            "$.hyperparameters",
        )
        hyperparameters = {
            Hyperparameters.flag(name): sfn.JsonPath.string_at(f"$.hyperparameters.{alias}")
            for name, alias in Hyperparameters.aliases().items()
        }
        # network isolated: the code arrives as a channel, not from S3 inside the container
        code, submit_directory = code_channel(source)
        hyperparameters.update(
            {
                "sagemaker_program": SAGEMAKER_PROGRAM,
                "sagemaker_submit_directory": submit_directory,
                "sagemaker_region": Aws.REGION,
                "sagemaker_container_log_level": "20",
            }
        )
        # The L2 tasks grant their roles `kms:GenerateDataKey*`/`kms:ReEncrypt*` on the key; they
        # get immutable references instead, and the roles hold the exact statements.
        self.end = states.guard(
            IsolatedTrainingJob(
                scope,
                "TrainModel",
                network=network,
                training_job_name=sfn.JsonPath.string_at("$.config.training.jobName"),
                role=iam.Role.from_role_arn(scope, "TrainingRoleRef", role.role_arn, mutable=False),
                algorithm_specification=tasks.AlgorithmSpecification(
                    training_image=tasks.DockerImage.from_registry(image),
                    training_input_mode=tasks.InputMode.FILE,
                    metric_definitions=[
                        tasks.MetricDefinition(name=m["Name"], regex=m["Regex"])
                        for m in metric_definitions()
                    ],
                ),
                input_data_config=[
                    tasks.Channel(
                        channel_name="train",
                        data_source=tasks.DataSource(
                            s3_data_source=tasks.S3DataSource(
                                s3_location=tasks.S3Location.from_json_expression(
                                    "$.config.processed"
                                ),
                                s3_data_type=tasks.S3DataType.S3_PREFIX,
                                s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                            )
                        ),
                    ),
                    code,
                ],
                output_data_config=tasks.OutputDataConfig(
                    s3_output_location=tasks.S3Location.from_json_expression(
                        "$.config.training.outputPath"
                    ),
                    encryption_key=key,
                ),
                resource_config=tasks.ResourceConfig(
                    instance_count=sfn.JsonPath.number_at("$.config.training.instanceCount"),
                    instance_type=ec2.InstanceType(
                        sfn.JsonPath.string_at("$.config.training.instanceType")
                    ),
                    volume_size=Size.gibibytes(50),
                    volume_encryption_key=key,
                ),
                stopping_condition=tasks.StoppingCondition(max_runtime=max_runtime),
                hyperparameters=hyperparameters,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                result_selector={
                    "jobName": sfn.JsonPath.string_at("$.TrainingJobName"),
                    "modelArtifacts": sfn.JsonPath.string_at("$.ModelArtifacts.S3ModelArtifacts"),
                },
                result_path="$.training",
            ),
            "sagemaker",
        )
        self.start.next(self.end)
