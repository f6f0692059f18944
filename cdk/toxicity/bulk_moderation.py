"""Bulk moderation: a Step Functions state machine that runs a SageMaker Batch Transform job of the
served model over ``s3://<data bucket>/bulk/input/`` and writes ``bulk/output/``.

The job sends the files' lines in mini-batches (``SplitType=Line``, ``BatchStrategy=MultiRecord``,
``application/jsonlines``) to the model's own ``code/inference.py`` — the endpoint's model, the
same ``input_fn``/``predict_fn``/``output_fn`` that ``python -m vigil.toxicity.batch`` runs
locally — and assembles the answers line by line: ``<file>.out`` holds one JSON line per input
line, a result or ``{"id", "rejected": "<reason>"}``. Input, output and the job's volume are
encrypted with the stack's key; the job reads only ``bulk/input/`` and writes only
``bulk/output/`` (through the model's role, which SageMaker uses for the job's S3 access).

    aws s3 cp comments.jsonl s3://<DataBucketName>/bulk/input/
    aws stepfunctions start-execution --state-machine-arn <BulkModerationStateMachineArn>
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk.nag import TOXICITY_BULK_STATE_MACHINE_ROLE, acknowledge
from cdk.shared.iam import allow_key_grants, narrow_training_job_grants, read_objects, write_objects
from cdk.shared.logs import encrypted_log_group
from vigil.toxicity.contract import BULK_CONTENT_TYPE, BULK_MAX_PAYLOAD_MB

BULK_INPUT_PREFIX = "bulk/input"
BULK_OUTPUT_PREFIX = "bulk/output"
# Every transform job the state machine starts is named so; it may touch only these.
TRANSFORM_JOB_PREFIX = "vigil-tox-bulk-"


class BulkModeration(Construct):
    """Exposes ``state_machine`` and ``transform_task``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        model_name: str,
        model_role: iam.IRole,
        instance_type: str,
        max_hours: int,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ):
        super().__init__(scope, construct_id)
        # SageMaker reads a transform job's input and writes its output with the model's role.
        read_objects(model_role, bucket, key, f"{BULK_INPUT_PREFIX}/")
        write_objects(model_role, bucket, key, f"{BULK_OUTPUT_PREFIX}/")
        allow_key_grants(model_role, key)  # the job's volume and output, encrypted with the key
        self.transform_task = tasks.SageMakerCreateTransformJob(
            self,
            "ScoreComments",
            transform_job_name=sfn.JsonPath.format(
                f"{TRANSFORM_JOB_PREFIX}{{}}", sfn.JsonPath.uuid()
            ),
            model_name=model_name,
            # CDK would otherwise create a role with AmazonSageMakerFullAccess for the task;
            # the job runs with the model's own role.
            role=model_role.without_policy_updates(),
            batch_strategy=tasks.BatchStrategy.MULTI_RECORD,
            max_payload=Size.mebibytes(BULK_MAX_PAYLOAD_MB),
            max_concurrent_transforms=1,
            environment={"SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"},
            transform_input=tasks.TransformInput(
                transform_data_source=tasks.TransformDataSource(
                    s3_data_source=tasks.TransformS3DataSource(
                        s3_uri=bucket.s3_url_for_object(f"{BULK_INPUT_PREFIX}/"),
                        s3_data_type=tasks.S3DataType.S3_PREFIX,
                    )
                ),
                content_type=BULK_CONTENT_TYPE,
                split_type=tasks.SplitType.LINE,
            ),
            transform_output=tasks.TransformOutput(
                s3_output_path=bucket.s3_url_for_object(f"{BULK_OUTPUT_PREFIX}/"),
                accept=BULK_CONTENT_TYPE,
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
        self.log_group = encrypted_log_group(
            self,
            "StateMachineLogs",
            key=key,
            retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self.transform_task),
            timeout=Duration.hours(max_hours),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL),
            comment="Scores every line of s3://<data bucket>/bulk/input/ into bulk/output/",
        )
        narrow_training_job_grants(
            self.state_machine.role, TRANSFORM_JOB_PREFIX, job_type="transform-job"
        )
        acknowledge(self.state_machine.role, *TOXICITY_BULK_STATE_MACHINE_ROLE)
