"""A state machine that runs one SageMaker Batch Transform of a model over an S3 prefix of JSON
lines: the fraud stack's batch scoring and the toxicity stack's bulk moderation.

The lines go to the model's own ``code/inference.py`` in mini-batches (``SplitType=Line``,
``BatchStrategy=MultiRecord``) and come back assembled one answer a line. The job runs with the
model's role (CDK would otherwise create one with AmazonSageMakerFullAccess for the task), its
volume and output encrypted with the stack's key; the state machine may start only jobs named
with ``job_prefix`` and logs everything, encrypted, to its own log group.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk.nag import Ack, acknowledge
from cdk.shared.iam import narrow_training_job_grants
from cdk.shared.state_machine import logged_state_machine


def line_transform_state_machine(
    scope: Construct,
    task_id: str,
    *,
    job_prefix: str,
    model_name: str,
    model_role: iam.IRole,
    bucket: s3.IBucket,
    key: kms.IKey,
    input_prefix: str,
    output_prefix: str,
    content_type: str,
    max_payload_mb: int,
    instance_type: str,
    max_hours: int,
    log_retention_days: int,
    removal_policy: RemovalPolicy,
    comment: str,
    state_machine_acknowledgements: tuple[Ack, ...],
) -> tuple[tasks.SageMakerCreateTransformJob, logs.LogGroup, sfn.StateMachine]:
    """The transform task ``task_id``, the log group and the state machine, under ``scope``."""
    task = tasks.SageMakerCreateTransformJob(
        scope,
        task_id,
        transform_job_name=sfn.JsonPath.format(f"{job_prefix}{{}}", sfn.JsonPath.uuid()),
        model_name=model_name,
        role=model_role.without_policy_updates(),
        batch_strategy=tasks.BatchStrategy.MULTI_RECORD,
        max_payload=Size.mebibytes(max_payload_mb),
        max_concurrent_transforms=1,
        environment={"SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"},
        transform_input=tasks.TransformInput(
            transform_data_source=tasks.TransformDataSource(
                s3_data_source=tasks.TransformS3DataSource(
                    s3_uri=bucket.s3_url_for_object(f"{input_prefix}/"),
                    s3_data_type=tasks.S3DataType.S3_PREFIX,
                )
            ),
            content_type=content_type,
            split_type=tasks.SplitType.LINE,
        ),
        transform_output=tasks.TransformOutput(
            s3_output_path=bucket.s3_url_for_object(f"{output_prefix}/"),
            accept=content_type,
            assemble_with=tasks.AssembleWith.LINE,
            encryption_key=key,
        ),
        transform_resources=tasks.TransformResources(
            instance_count=1,
            instance_type=ec2.InstanceType(instance_type.removeprefix("ml.")),
            volume_encryption_key=key,
        ),
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        result_path=sfn.JsonPath.DISCARD,
    )
    log_group, state_machine = logged_state_machine(
        scope,
        task,
        key=key,
        log_retention_days=log_retention_days,
        removal_policy=removal_policy,
        timeout=Duration.hours(max_hours),
        comment=comment,
    )
    narrow_training_job_grants(state_machine.role, job_prefix, job_type="transform-job")
    acknowledge(state_machine.role, *state_machine_acknowledgements)
    return task, log_group, state_machine
