"""Where every SageMaker container runs, one definition for training jobs, models and so the batch
transforms that use those models (a transform job runs in its model's network settings).

* **Private subnets.** The stack's private isolated subnets (no NAT, no internet route), wearing
  ``security_group``: ingress and egress only to itself (the instances of one distributed training
  job) and HTTPS egress only to the region's S3 prefix list, the gateway endpoint through which
  SageMaker fetches channels, code and model artefacts and writes outputs. Nothing else leaves.
* **Network isolation.** ``EnableNetworkIsolation``: the container makes no network call at all;
  SageMaker downloads its channels and model and uploads its output for it. So no code it runs,
  ours or a third party's, can send data anywhere, and nothing is pip-installed from the internet:
  the code bundles carry their wheels (``vigil/container_requirements.py``).
* **Encrypted traffic between instances.** Training jobs set
  ``EnableInterContainerTrafficEncryption`` (a multi-instance job's nodes exchange gradients).

Serverless Inference supports neither subnets nor isolation: a serverless endpoint's model gets
neither, and its container still installs only the hashed wheels of its ``code/``.

CDK's Step Functions tasks render neither inter-container encryption nor a security group without
egress (``vpc_config`` creates its own, open to 0.0.0.0/0), so :class:`IsolatedTrainingJob` and
:class:`IsolatedModel` add these parameters to the state they render; :meth:`SageMakerNetwork.
cfn_model_properties` does the same for an ``AWS::SageMaker::Model``. Each container reaches its
code through an input channel (:func:`code_channel`), as the SageMaker SDK does under isolation.

SageMaker calls the EC2 network-interface APIs with the execution role to place its instances in
the subnets: :meth:`SageMakerNetwork.grant_network_interfaces`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from aws_cdk import Annotations, Aws, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions_tasks as tasks
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk.nag import (
    SAGEMAKER_PREFIX_LIST_LOOKUP,
    SAGEMAKER_PREFIX_LIST_LOOKUP_FUNCTION,
    acknowledge,
)
from cdk.shared.logs import encrypted_log_group
from vigil.container_requirements import wheels_source

# the construct id CDK gives the singleton function of AwsCustomResource
AWS_CUSTOM_RESOURCE_FUNCTION = "AWS679f53fac002430cb0da5b7982bd2287"
# Where SageMaker puts the files of an input channel named ``name`` inside the container.
CHANNEL_ROOT = "/opt/ml/input/data"
CODE_CHANNEL = "code"
NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)


def channel_path(name: str) -> str:
    return f"{CHANNEL_ROOT}/{name}"


ISOLATED_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)


def add_private_vpc(
    scope: Construct,
    *,
    key: kms.IKey,
    cidr: str,
    max_azs: int,
    log_retention_days: int,
    removal_policy: RemovalPolicy,
) -> ec2.Vpc:
    """A VPC of private isolated subnets only (no NAT, no internet route), its flow logs to a
    KMS-encrypted group, and the S3 gateway endpoint: ``FlowLogs`` and ``Vpc`` under ``scope``."""
    flow_logs = encrypted_log_group(
        scope,
        "FlowLogs",
        key=key,
        retention_days=log_retention_days,
        removal_policy=removal_policy,
    )
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        ip_addresses=ec2.IpAddresses.cidr(cidr),
        max_azs=max_azs,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(
                name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
            )
        ],
        flow_logs={
            "all": ec2.FlowLogOptions(
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                traffic_type=ec2.FlowLogTrafficType.ALL,
            )
        },
    )
    vpc.add_gateway_endpoint(
        "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[ISOLATED_SUBNETS]
    )
    return vpc


class PrivateVpc(Construct):
    """A VPC of private isolated subnets only (no NAT, no internet route), flow logs to a
    KMS-encrypted group and the S3 gateway endpoint. Exposes ``vpc`` and ``subnets``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        cidr: str,
        max_azs: int,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ):
        super().__init__(scope, construct_id)
        self.subnets = ISOLATED_SUBNETS
        self.vpc = add_private_vpc(
            self,
            key=key,
            cidr=cidr,
            max_azs=max_azs,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
        )


class SageMakerNetwork(Construct):
    """The subnets and security group of every SageMaker container of one stack (module
    docstring). ``vpc`` must route S3 through a gateway endpoint."""

    def __init__(
        self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, subnets: ec2.SubnetSelection
    ):
        super().__init__(scope, construct_id)
        self.subnet_ids = vpc.select_subnets(
            subnet_type=subnets.subnet_type, subnets=subnets.subnets
        ).subnet_ids
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="SageMaker jobs and models: each other and S3 only, no internet",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.all_traffic(), "instances of one training job"
        )
        self.security_group.add_egress_rule(
            self.security_group, ec2.Port.all_traffic(), "instances of one training job"
        )
        # The region's S3 prefix list has no CloudFormation attribute; EC2 names it at deploy.
        lookup_call = cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={
                "Filters": [
                    {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{Aws.REGION}.s3"]}
                ]
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"s3-prefix-list-{Aws.REGION}"),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        lookup = cr.AwsCustomResource(
            self,
            "S3PrefixList",
            on_create=lookup_call,
            on_update=lookup_call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
        )
        acknowledge(lookup, *SAGEMAKER_PREFIX_LIST_LOOKUP)
        # the function behind every AwsCustomResource of the stack is one singleton at its root
        singleton = Stack.of(self).node.find_child(AWS_CUSTOM_RESOURCE_FUNCTION)
        acknowledge(singleton, SAGEMAKER_PREFIX_LIST_LOOKUP_FUNCTION)
        self.s3_prefix_list_id = lookup.get_response_field("PrefixLists.0.PrefixListId")
        self.security_group.add_egress_rule(
            ec2.Peer.prefix_list(self.s3_prefix_list_id),
            ec2.Port.tcp(443),
            "HTTPS to S3 through the gateway endpoint",
        )

    def grant_network_interfaces(self, role: iam.IRole) -> None:
        """What SageMaker does with an execution role to place instances in the subnets. EC2's
        Describe* calls take no resource; SageMaker names the interfaces it creates itself."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(NETWORK_INTERFACE_ACTIONS), resources=["*"])
        )

    def vpc_config(self) -> dict:
        return {
            "SecurityGroupIds": [self.security_group.security_group_id],
            "Subnets": list(self.subnet_ids),
        }

    def training_job_parameters(self) -> dict:
        return {
            "VpcConfig": self.vpc_config(),
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
        }

    def model_parameters(self) -> dict:
        return {"VpcConfig": self.vpc_config(), "EnableNetworkIsolation": True}

    def cfn_model_properties(self, *, serverless: bool = False) -> dict:
        """``AWS::SageMaker::Model`` keyword arguments. Serverless Inference supports neither
        ``VpcConfig`` nor network isolation, so a serverless endpoint's model gets none (its
        container still installs only the hashed wheels of its ``code/``, with no index)."""
        from aws_cdk import aws_sagemaker as sagemaker

        if serverless:
            return {}
        return {
            "enable_network_isolation": True,
            "vpc_config": sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[self.security_group.security_group_id],
                subnets=list(self.subnet_ids),
            ),
        }


def _with_parameters(state: dict, parameters: dict) -> dict:
    # JSONPath states carry "Parameters", JSONata states "Arguments".
    key = "Arguments" if "Arguments" in state else "Parameters"
    state[key] = {**state.get(key, {}), **parameters}
    return state


class IsolatedTrainingJob(tasks.SageMakerCreateTrainingJob):
    """``SageMakerCreateTrainingJob`` in ``network``'s subnets and security group, network
    isolated, with inter-container traffic encryption."""

    def __init__(self, scope: Construct, construct_id: str, *, network: SageMakerNetwork, **kwargs):
        super().__init__(scope, construct_id, enable_network_isolation=True, **kwargs)
        self._network_parameters = network.training_job_parameters()

    def to_state_json(self, *args, **kwargs):
        return _with_parameters(super().to_state_json(*args, **kwargs), self._network_parameters)


class IsolatedModel(tasks.SageMakerCreateModel):
    """``SageMakerCreateModel`` in ``network``'s subnets and security group, network isolated."""

    def __init__(self, scope: Construct, construct_id: str, *, network: SageMakerNetwork, **kwargs):
        super().__init__(scope, construct_id, enable_network_isolation=True, **kwargs)
        self._network_parameters = network.model_parameters()

    def to_state_json(self, *args, **kwargs):
        return _with_parameters(super().to_state_json(*args, **kwargs), self._network_parameters)


def code_channel(asset: s3_assets.Asset) -> tuple[tasks.Channel, str]:
    """An input channel holding one code tarball, and the path of that tarball in the container:
    under network isolation the training toolkit cannot fetch ``sagemaker_submit_directory`` from
    S3, so SageMaker delivers it as a channel and the hyperparameter names the local file."""
    channel = tasks.Channel(
        channel_name=CODE_CHANNEL,
        data_source=tasks.DataSource(
            s3_data_source=tasks.S3DataSource(
                s3_location=tasks.S3Location.from_bucket(asset.bucket, asset.s3_object_key),
                s3_data_type=tasks.S3DataType.S3_PREFIX,
                s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
            )
        ),
    )
    return channel, f"{channel_path(CODE_CHANNEL)}/{PurePosixPath(asset.s3_object_key).name}"


def grant_code_channel(role: iam.IRole, asset: s3_assets.Asset) -> None:
    """SageMaker lists a channel's prefix with the job's role before it copies the object (the
    object itself: :func:`cdk.shared.iam.read_asset`)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[asset.bucket.bucket_arn],
            conditions={"StringEquals": {"s3:prefix": [asset.s3_object_key]}},
        )
    )


def warn_without_wheels(scope: Construct, *names: str) -> None:
    """A synth warning on ``scope`` for each container requirements ``name`` whose wheel folder is
    missing: its bundle carries the hashed requirements only, and the container would stop at
    start (no index to install from). ``make container-wheels`` fetches them."""
    for name in names:
        if not wheels_source(name).is_dir():
            Annotations.of(scope).add_warning_v2(
                f"vigil:containerWheels:{name}",
                f"no wheels for '{name}' ({wheels_source(name)}): its SageMaker container will not "
                "start; run `make container-wheels` before deploying (docs/security.md)",
            )
