"""Fraud batch scoring: a Step Functions state machine that runs a SageMaker Batch Transform of a
pipeline run's model over ``s3://<processed bucket>/batch/requests/`` into ``batch/scores/``.

The input is what ``python -m vigil.fraud.batch_scoring --requests-out`` writes from a file of
transactions and that run's ETL output: one endpoint request a line (the transaction's features
and each entity's ``feat_sum`` and ``degree`` as the graph held them), so the job needs no graph
access. The job sends the lines in mini-batches (``SplitType=Line``, ``BatchStrategy=MultiRecord``,
``application/jsonlines``) to the model's own ``code/inference.py`` — the endpoint's parser and
model (``vigil.fraud.batch_transform``) — and assembles one answer a line:
``{"id", "pred_prob", "flag"}`` or ``{"id", "rejected": "<reason>"}``. The model is the run's
(``vigil-fraud-<runId>``, the execution input's ``runId``), so it runs network isolated in the
stack's subnets as the endpoint does. Input, output and the job's volume are encrypted with the
stack's key; SageMaker reads ``batch/requests/`` and writes ``batch/scores/`` with the model's
role, which may read and write nothing else there.

    aws s3 cp requests/ s3://<ProcessedBucketName>/batch/requests/ --recursive
    aws stepfunctions start-execution --state-machine-arn <BatchScoringStateMachineArn> \\
        --input '{"runId": "<pipeline run id>"}'
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk.nag import FRAUD_BATCH_MODEL_ROLE, FRAUD_BATCH_STATE_MACHINE_ROLE, acknowledge
from cdk.shared.iam import allow_key_grants, narrow_training_job_grants, read_objects, write_objects
from cdk.shared.logs import encrypted_log_group
from vigil.fraud.batch_transform import JSON_LINES, MAX_PAYLOAD_MB
from vigil.fraud.contract import TRAINING_JOB_PREFIX

BATCH_INPUT_PREFIX = "batch/requests"
BATCH_OUTPUT_PREFIX = "batch/scores"
# Every transform job the state machine starts is named so; it may touch only these.
TRANSFORM_JOB_PREFIX = "vigil-fraud-batch-"


class BatchScoring(Construct):
    """Exposes ``state_machine``, ``transform_task`` and ``log_group``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        model_role: iam.IRole,
        instance_type: str,
        max_hours: int,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ):
        super().__init__(scope, construct_id)
        # SageMaker reads a transform job's input and writes its output with the model's role.
        read_objects(model_role, bucket, key, f"{BATCH_INPUT_PREFIX}/")
        write_objects(model_role, bucket, key, f"{BATCH_OUTPUT_PREFIX}/")
        allow_key_grants(model_role, key)  # the job's volume and output, encrypted with the key
        model_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
                    "/aws/sagemaker/TransformJobs*"
                ],
            )
        )
        acknowledge(model_role, *FRAUD_BATCH_MODEL_ROLE)
        self.transform_task = tasks.SageMakerCreateTransformJob(
            self,
            "ScoreTransactions",
            transform_job_name=sfn.JsonPath.format(
                f"{TRANSFORM_JOB_PREFIX}{{}}", sfn.JsonPath.uuid()
            ),
            # only a pipeline run's own model: vigil-fraud-<runId>
            model_name=sfn.JsonPath.format(
                f"{TRAINING_JOB_PREFIX}{{}}", sfn.JsonPath.string_at("$.runId")
            ),
            # CDK would otherwise create a role with AmazonSageMakerFullAccess for the task;
            # the job runs with the model's own role.
            role=model_role.without_policy_updates(),
            batch_strategy=tasks.BatchStrategy.MULTI_RECORD,
            max_payload=Size.mebibytes(MAX_PAYLOAD_MB),
            max_concurrent_transforms=1,
            environment={"SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"},
            transform_input=tasks.TransformInput(
                transform_data_source=tasks.TransformDataSource(
                    s3_data_source=tasks.TransformS3DataSource(
                        s3_uri=bucket.s3_url_for_object(f"{BATCH_INPUT_PREFIX}/"),
                        s3_data_type=tasks.S3DataType.S3_PREFIX,
                    )
                ),
                content_type=JSON_LINES,
                split_type=tasks.SplitType.LINE,
            ),
            transform_output=tasks.TransformOutput(
                s3_output_path=bucket.s3_url_for_object(f"{BATCH_OUTPUT_PREFIX}/"),
                accept=JSON_LINES,
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
            comment="Scores every request line of batch/requests/ into batch/scores/",
        )
        narrow_training_job_grants(
            self.state_machine.role, TRANSFORM_JOB_PREFIX, job_type="transform-job"
        )
        acknowledge(self.state_machine.role, *FRAUD_BATCH_STATE_MACHINE_ROLE)
