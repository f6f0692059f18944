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

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk.nag import FRAUD_BATCH_MODEL_ROLE, FRAUD_BATCH_STATE_MACHINE_ROLE, acknowledge
from cdk.shared.batch_transform import line_transform_state_machine
from cdk.shared.iam import allow_key_grants, read_objects, write_objects
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
        self.transform_task, self.log_group, self.state_machine = line_transform_state_machine(
            self,
            "ScoreTransactions",
            job_prefix=TRANSFORM_JOB_PREFIX,
            # only a pipeline run's own model: vigil-fraud-<runId>
            model_name=sfn.JsonPath.format(
                f"{TRAINING_JOB_PREFIX}{{}}", sfn.JsonPath.string_at("$.runId")
            ),
            model_role=model_role,
            bucket=bucket,
            key=key,
            input_prefix=BATCH_INPUT_PREFIX,
            output_prefix=BATCH_OUTPUT_PREFIX,
            content_type=JSON_LINES,
            max_payload_mb=MAX_PAYLOAD_MB,
            instance_type=instance_type,
            max_hours=max_hours,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            comment="Scores every request line of batch/requests/ into batch/scores/",
            state_machine_acknowledgements=FRAUD_BATCH_STATE_MACHINE_ROLE,
        )
