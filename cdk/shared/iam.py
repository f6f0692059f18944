"""IAM statements every Vigil stack writes the same way: least-privilege grants without wildcard actions (the L2 ``grant_*`` helpers add ``s3:GetObject*``,
``s3:List*``, ``kms:ReEncrypt*``...). Each helper names exact actions; where a resource must end in
``*`` (objects under a prefix, versions of a function) it acknowledges exactly that finding on
exactly that role, with the reason, so cdk-nag still flags any other wildcard there.
"""

from __future__ import annotations

import jsii
from aws_cdk import Aws, IAnyProducer, Lazy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import IConstruct

from cdk.nag import Ack, acknowledge

KEY_READ = ("kms:Decrypt", "kms:DescribeKey")
KEY_WRITE = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


def _ref(construct: IConstruct, attribute: str) -> str:
    """How cdk-nag prints ``Fn::GetAtt`` of a construct's resource: ``<LogicalId.Attr>``."""
    resource = construct.node.default_child or construct
    return f"<{Stack.of(construct).get_logical_id(resource)}.{attribute}>"


def _objects_ack(role: iam.IRole, bucket: s3.IBucket, prefix: str) -> None:
    acknowledge(
        role,
        Ack(
            f"AwsSolutions-IAM5[Resource::{_ref(bucket, 'Arn')}/{prefix}*]",
            f"S3 object permissions name objects by key; '{prefix}*' is this role's prefix of a "
            "bucket it owns a task in (run folders and tables are created at run time).",
        ),
    )


def use_key(role: iam.IRole, key: kms.IKey, *, write: bool = False) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(KEY_WRITE if write else KEY_READ), resources=[key.key_arn])
    )


def read_objects(role: iam.IRole, bucket: s3.IBucket, key: kms.IKey, prefix: str = "") -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*")]
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None,
        )
    )
    use_key(role, key)
    _objects_ack(role, bucket, prefix)


def write_objects(
    role: iam.IRole, bucket: s3.IBucket, key: kms.IKey, prefix: str = "", *, delete: bool = False
) -> None:
    actions = ["s3:PutObject", "s3:AbortMultipartUpload"] + (["s3:DeleteObject"] if delete else [])
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")])
    )
    use_key(role, key, write=True)
    _objects_ack(role, bucket, prefix)


def read_asset(role: iam.IRole, asset: s3_assets.Asset) -> None:
    """Read exactly one CDK asset object (no wildcard)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)]
        )
    )


def acknowledge_function_versions(role: iam.IRole, functions: list[lambda_.IFunction]) -> None:
    """``LambdaInvoke`` grants ``<function arn>:*`` (any version/alias of that one function)."""
    for fn in functions:
        acknowledge(
            role,
            Ack(
                f"AwsSolutions-IAM5[Resource::{_ref(fn, 'Arn')}:*]",
                "Step Functions' LambdaInvoke grants the function and its qualified ARNs "
                "('<arn>:*', versions and aliases) of this one function only.",
            ),
        )


def allow_key_grants(role: iam.IRole, key: kms.IKey) -> None:
    """SageMaker and Step Functions' SageMaker tasks create grants on the key for the volumes and
    outputs they encrypt on the caller's behalf."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["kms:CreateGrant", "kms:DescribeKey"], resources=[key.key_arn])
    )


def grant_image_pull(role: iam.IRole, repository_arns: list[str]) -> None:
    """Pull a SageMaker framework image from its ECR repositories (in the DLC account)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
            resources=repository_arns,
        )
    )
    # The registry login has no resource-level permissions (acknowledged in cdk/nag.py).
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
    )


def grant_sagemaker_logs_and_metrics(role: iam.IRole, kind: str) -> None:
    """What a SageMaker execution role needs to report on itself: write to the service-named log
    groups ``/aws/sagemaker/<kind>*`` and put metrics only into the ``/aws/sagemaker/<kind>``
    namespace (``kind``: ``TrainingJobs`` or ``Endpoints``)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[
                f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
                f"/aws/sagemaker/{kind}*"
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": f"/aws/sagemaker/{kind}"}},
        )
    )


def narrow_training_job_grants(
    role: iam.IRole, job_prefix: str, *, job_type: str = "training-job"
) -> None:
    """Confine what CDK's ``SageMakerCreateTrainingJob`` (or, with ``job_type="transform-job"``,
    ``SageMakerCreateTransformJob``) grants to jobs named ``job_prefix...``.

    With a job name chosen at run time the task grants Create/Describe/Stop(/AddTags) on
    ``<job_type>/*`` and ``sagemaker:ListTags`` on ``*`` (ListTags does take a resource). Every
    job this role starts is named ``<job_prefix><run>``: the role's resolved policy is rewritten
    (at synth, after every statement is in) to that prefix, ListTags included.
    """
    policy = role.node.find_child("DefaultPolicy")
    cfn_policy = policy.node.default_child
    stack = Stack.of(role)

    @jsii.implements(IAnyProducer)
    class _Narrowed:
        def produce(self, context):
            document = stack.resolve(policy.document)
            document["Statement"] = _narrow_statements(document["Statement"], job_prefix, job_type)
            return document

    # The property itself, not an override: cdk-nag reads the L1 properties.
    cfn_policy.policy_document = Lazy.uncached_any(_Narrowed())


def _narrow_statements(statements: list[dict], job_prefix: str, job_type: str) -> list[dict]:
    narrowed = []
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if statement["Resource"] == "*" and "sagemaker:ListTags" in actions:
            actions = [action for action in actions if action != "sagemaker:ListTags"]
            if not actions:
                continue
            statement = {**statement, "Action": actions if len(actions) > 1 else actions[0]}
        elif _is_any_job(statement["Resource"], job_type):
            parts = statement["Resource"]["Fn::Join"][1]
            resource = {"Fn::Join": ["", [*parts[:-1], f":{job_type}/{job_prefix}*"]]}
            statement = {
                **statement,
                "Action": sorted({*actions, "sagemaker:ListTags"}),
                "Resource": resource,
            }
        narrowed.append(statement)
    return narrowed


def _is_any_job(resource, job_type: str) -> bool:
    return (
        isinstance(resource, dict)
        and "Fn::Join" in resource
        and resource["Fn::Join"][1][-1] == f":{job_type}/*"
    )
