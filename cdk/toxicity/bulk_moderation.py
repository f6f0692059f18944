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

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.nag import TOXICITY_BULK_STATE_MACHINE_ROLE
from cdk.shared.batch_transform import line_transform_state_machine
from cdk.shared.iam import allow_key_grants, read_objects, write_objects
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
        self.transform_task, self.log_group, self.state_machine = line_transform_state_machine(
            self,
            "ScoreComments",
            job_prefix=TRANSFORM_JOB_PREFIX,
            model_name=model_name,
            model_role=model_role,
            bucket=bucket,
            key=key,
            input_prefix=BULK_INPUT_PREFIX,
            output_prefix=BULK_OUTPUT_PREFIX,
            content_type=BULK_CONTENT_TYPE,
            max_payload_mb=BULK_MAX_PAYLOAD_MB,
            instance_type=instance_type,
            max_hours=max_hours,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            comment="Scores every line of s3://<data bucket>/bulk/input/ into bulk/output/",
            state_machine_acknowledgements=TOXICITY_BULK_STATE_MACHINE_ROLE,
        )
