"""Training of both toxicity models: a Step Functions state machine that runs the BiLSTM
(PyTorch DLC) and the transformer (Hugging Face DLC) SageMaker training jobs in parallel on the
prepared channels in the data bucket.

Why Step Functions (``SageMakerCreateTrainingJob``, ``.sync``) rather than a CLI around boto3's
``create_training_job``: the job definitions (images, metric regexes, channels, KMS keys, role)
are part of the template, reviewed by cdk-nag and cfn-lint with everything else, every run is
recorded with its inputs and outcome, and starting one is a single
``aws stepfunctions start-execution --state-machine-arn <TrainingStateMachineArn>``.

The training code reaches SageMaker as ``sourcedir.tar.gz`` (script mode:
``sagemaker_submit_directory`` + ``sagemaker_program``), built deterministically at synth time
from ``training/toxicity``, ``inference/toxicity`` and the ``vigil`` modules they import.

Both jobs run network isolated in the stack's private subnets (``cdk/shared/sagemaker_network.py``):
the source bundle arrives as the ``code`` channel, and the transformer's pretrained model (which it
would otherwise download from the Hugging Face Hub) as the ``pretrained`` channel, staged once in
``s3://<data bucket>/pretrained/<model name>/`` (docs/toxicity.md).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk.nag import (
    TOXICITY_TRAINING_JOB_ROLE as TRAINING_JOB_ROLE,
)
from cdk.nag import (
    TOXICITY_TRAINING_STATE_MACHINE_ROLE as TRAINING_STATE_MACHINE_ROLE,
)
from cdk.nag import acknowledge
from cdk.shared.iam import (
    allow_key_grants,
    grant_sagemaker_logs_and_metrics,
    narrow_training_job_grants,
    read_asset,
    read_objects,
    use_key,
    write_objects,
)
from cdk.shared.sagemaker import FrameworkImages, tree_entries, write_tarball
from cdk.shared.sagemaker_network import (
    IsolatedTrainingJob,
    SageMakerNetwork,
    channel_path,
    code_channel,
    grant_code_channel,
    warn_without_wheels,
)
from cdk.shared.state_machine import logged_state_machine
from vigil.container_requirements import (
    TOXICITY_SERVING,
    WHEELS_DIR,
    bundle_entries,
    collect_wheels,
    read_pins,
    requirements_file,
    wheels_source,
)
from vigil.toxicity.contract import (
    DISTILLED_STUDENT_LAYERS,
    IDENTITY_AUGMENTATION,
    training_job_metric_definitions,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PREPARED_PREFIX = "prepared"
MODELS_PREFIX = "models"
# s3://<data bucket>/pretrained/<model name>/: the transformer job's starting checkpoint
PRETRAINED_PREFIX = "pretrained"
PRETRAINED_CHANNEL = "pretrained"
CHANNELS = ("train", "valid", "test")
# Every training job the state machine starts is named so; it may touch only these.
TRAINING_JOB_PREFIX = "vigil-tox-"
PROGRAMS = {
    "bilstm": "training/toxicity/bilstm/train.py",
    "transformer": "training/toxicity/transformer/train.py",
}
SOURCE_TREES = ("training/toxicity", "inference/toxicity", "vigil/toxicity")
SOURCE_FILES = (
    "vigil/__init__.py",
    "vigil/serving_errors.py",
    "vigil/packaging.py",
    "vigil/aws.py",
    "vigil/container_requirements.py",
)
# requirements/containers/<name>.txt: what the training containers install (the toolkit, from the
# bundle's wheels/) and what the trained model's code/ installs when served (the job copies the
# hashed file and its wheels, at their repository paths in the bundle, into code/).
TRAINING_REQUIREMENTS = "toxicity-training"


def training_source_bundle(out: Path | None = None) -> Path:
    """Write ``sourcedir.tar.gz`` (sorted entries, zero mtimes: same tree, same asset hash)."""
    entries = [
        (arcname, path.read_bytes())
        for tree in SOURCE_TREES
        for arcname, path in tree_entries(REPO_ROOT / tree, tree)
    ]
    entries += [(name, (REPO_ROOT / name).read_bytes()) for name in SOURCE_FILES]
    entries += bundle_entries(TRAINING_REQUIREMENTS)
    serving = requirements_file(TOXICITY_SERVING)
    entries.append((serving.relative_to(REPO_ROOT).as_posix(), serving.read_bytes()))
    wheels = wheels_source(TOXICITY_SERVING)
    if wheels.is_dir():
        folder = (WHEELS_DIR / TOXICITY_SERVING).relative_to(REPO_ROOT).as_posix()
        pins = read_pins(serving)
        entries += [(f"{folder}/{p.name}", p.read_bytes()) for p in collect_wheels(pins, wheels)]
    out = out or Path(tempfile.mkdtemp(prefix="vigil-toxicity-")) / "sourcedir.tar.gz"
    return write_tarball(entries, out)


def _instance(sagemaker_type: str) -> ec2.InstanceType:
    return ec2.InstanceType(sagemaker_type.removeprefix("ml."))


class ToxicityTraining(Construct):
    """Exposes ``state_machine``, ``role`` (the training jobs' role) and ``source``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        images: FrameworkImages,
        bilstm_instance_type: str,
        transformer_instance_type: str,
        transformer_model_name: str,
        max_training_hours: int,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
        network: SageMakerNetwork,
    ):
        super().__init__(scope, construct_id)
        self.network = network
        self.source = s3_assets.Asset(self, "SourceDir", path=str(training_source_bundle()))
        warn_without_wheels(self.source, TRAINING_REQUIREMENTS, TOXICITY_SERVING)
        self.role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Vigil toxicity SageMaker training jobs: read channels, write models",
        )
        # The training tasks would grant action groups (s3:GetObject*, s3:DeleteObject*,
        # kms:ReEncrypt*, ...) to the role they are given: they get it immutable, and the role gets
        # exact actions on its channels (read) and model folders (write), and the code object.
        for channel in CHANNELS:
            read_objects(self.role, bucket, key, f"{PREPARED_PREFIX}/{channel}/")
        self.pretrained_prefix = f"{PRETRAINED_PREFIX}/{transformer_model_name}/"
        read_objects(self.role, bucket, key, self.pretrained_prefix)
        for kind in PROGRAMS:
            write_objects(self.role, bucket, key, f"{MODELS_PREFIX}/{kind}/")
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=[bucket.bucket_arn])
        )
        read_asset(self.role, self.source)
        grant_code_channel(self.role, self.source)
        network.grant_network_interfaces(self.role)
        use_key(self.role, key, write=True)
        allow_key_grants(self.role, key)  # the training volume and the model output
        grant_sagemaker_logs_and_metrics(self.role, "TrainingJobs")
        images.grant_pull(self.role, "bilstmTraining", "transformerTraining")
        acknowledge(self.role, *TRAINING_JOB_ROLE)
        jobs = [
            self._job(
                "bilstm",
                image=images.uri("bilstmTraining"),
                instance_type=bilstm_instance_type,
                hyperparameters={
                    "class-weight": "auto",
                    "identity-augmentation": str(IDENTITY_AUGMENTATION),
                },
                bucket=bucket,
                key=key,
                hours=max_training_hours,
            ),
            self._job(
                "transformer",
                image=images.uri("transformerTraining"),
                instance_type=transformer_instance_type,
                hyperparameters={
                    "model-name": channel_path(PRETRAINED_CHANNEL),
                    "epochs": "3",
                    "train-batch-size": "16",
                    "max-length": "256",
                    "class-weight": "auto",
                    "identity-augmentation": str(IDENTITY_AUGMENTATION),
                    # a faster student, served only when it keeps the valid AUC
                    "distill-student": str(DISTILLED_STUDENT_LAYERS),
                },
                bucket=bucket,
                key=key,
                hours=max_training_hours,
            ),
        ]
        parallel = sfn.Parallel(self, "TrainBoth", comment="BiLSTM and transformer jobs")
        for job in jobs:
            parallel.branch(job)
        self.log_group, self.state_machine = logged_state_machine(
            self,
            parallel,
            key=key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            timeout=Duration.hours(max_training_hours + 1),
            comment="Trains both Vigil toxicity models on s3://<data bucket>/prepared/",
        )
        narrow_training_job_grants(self.state_machine.role, TRAINING_JOB_PREFIX)
        acknowledge(self.state_machine.role, *TRAINING_STATE_MACHINE_ROLE)

    def _job(self, kind, *, image, instance_type, hyperparameters, bucket, key, hours):
        def channel(name: str, prefix: str) -> tasks.Channel:
            return tasks.Channel(
                channel_name=name,
                data_source=tasks.DataSource(
                    s3_data_source=tasks.S3DataSource(
                        s3_location=tasks.S3Location.from_bucket(bucket, prefix),
                        s3_data_type=tasks.S3DataType.S3_PREFIX,
                    )
                ),
            )

        channels = [channel(name, f"{PREPARED_PREFIX}/{name}/") for name in CHANNELS]
        if kind == "transformer":
            channels.append(channel(PRETRAINED_CHANNEL, self.pretrained_prefix))
        code, submit_directory = code_channel(self.source)
        return IsolatedTrainingJob(
            self,
            f"Train{kind.capitalize()}",
            network=self.network,
            training_job_name=sfn.JsonPath.format(
                f"{TRAINING_JOB_PREFIX}{kind}-{{}}", sfn.JsonPath.uuid()
            ),
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(image),
                training_input_mode=tasks.InputMode.FILE,
                metric_definitions=[
                    tasks.MetricDefinition(name=d["Name"], regex=d["Regex"])
                    for d in training_job_metric_definitions()
                ],
            ),
            input_data_config=[*channels, code],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_bucket(bucket, f"{MODELS_PREFIX}/{kind}/"),
                encryption_key=key,
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=1,
                instance_type=_instance(instance_type),
                volume_size=Size.gibibytes(50),
                volume_encryption_key=key,
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=Duration.hours(hours)),
            hyperparameters={
                "sagemaker_program": PROGRAMS[kind],
                "sagemaker_submit_directory": submit_directory,
                "sagemaker_region": Aws.REGION,
                **hyperparameters,
            },
            role=self.role.without_policy_updates(),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_path=sfn.JsonPath.DISCARD,
        )
