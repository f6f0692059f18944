"""What SageMaker runs and as whom: the DLC image mapping, the training and inference code assets
(``cdk/fraud/code_bundles.py``), and the training-job and endpoint roles."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnMapping
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from cdk.fraud import code_bundles
from cdk.nag import FRAUD_MODEL_ROLE, FRAUD_TRAINING_ROLE, acknowledge
from cdk.shared.iam import (
    allow_key_grants,
    grant_image_pull,
    read_asset,
    read_objects,
    use_key,
    write_objects,
)
from cdk.shared.sagemaker_network import (
    SageMakerNetwork,
    grant_code_channel,
    warn_without_wheels,
)
from vigil.fraud.contract import RUNS_PREFIX, accelerated


class SageMakerArtifacts:
    """Images (``training_image``, ``inference_image``, ``dlc_account``) and code assets
    (``source``, ``inference_code``), created in ``scope``."""

    def __init__(
        self, scope: Construct, *, training_instance_type: str, bundle_dir: Path | None = None
    ):
        images = CfnMapping(scope, "DlcImages", mapping=code_bundles.dlc_images())
        gpu = accelerated(training_instance_type)
        self.training_image = images.find_in_map(
            Aws.REGION, "trainingGpu" if gpu else "trainingCpu"
        )
        self.inference_image = images.find_in_map(Aws.REGION, "inference")
        self.dlc_account = images.find_in_map(Aws.REGION, "account")
        self.source = s3_assets.Asset(
            scope,
            "TrainingSource",
            path=str(code_bundles.training_source_bundle(training_instance_type, bundle_dir)),
        )
        self.inference_code = s3_assets.Asset(
            scope, "InferenceCode", path=str(code_bundles.inference_code_bundle(bundle_dir))
        )
        warn_without_wheels(self.source, code_bundles.TRAINING_REQUIREMENTS)


def sagemaker_roles(
    scope: Construct,
    *,
    key: kms.IKey,
    processed_bucket: s3.IBucket,
    artifacts: SageMakerArtifacts,
    network: SageMakerNetwork,
) -> tuple[iam.Role, iam.Role]:
    """``TrainingRole`` and ``ModelRole`` in ``scope``: run folders, the key, the DLC images,
    their own logs and metrics, and network interfaces in ``network``'s subnets."""
    training_role = iam.Role(
        scope,
        "TrainingRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="Vigil fraud RGCN training job: reads processed data, writes the model",
    )
    read_objects(training_role, processed_bucket, key, RUNS_PREFIX)
    write_objects(training_role, processed_bucket, key, RUNS_PREFIX)
    read_asset(training_role, artifacts.source)
    grant_code_channel(training_role, artifacts.source)
    model_role = iam.Role(
        scope,
        "ModelRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="Vigil fraud RGCN endpoint: reads the packaged model",
    )
    read_objects(model_role, processed_bucket, key, RUNS_PREFIX)
    for role, repository, log_prefix, acks in (
        (training_role, "pytorch-training", "TrainingJobs", FRAUD_TRAINING_ROLE),
        (model_role, "pytorch-inference", "Endpoints", FRAUD_MODEL_ROLE),
    ):
        use_key(role, key, write=True)
        allow_key_grants(role, key)
        network.grant_network_interfaces(role)
        grant_image_pull(
            role,
            [
                f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{artifacts.dlc_account}:"
                f"repository/{repository}"
            ],
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
                    f"/aws/sagemaker/{log_prefix}*"
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}},
            )
        )
        acknowledge(role, *acks)
    return training_role, model_role
