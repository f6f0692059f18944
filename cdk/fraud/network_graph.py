"""Network and graph: an isolated VPC and the Neptune cluster that keeps the live fraud graph.

* VPC: private isolated subnets only (no NAT, no internet route), flow logs to a KMS-encrypted log
  group, and only the endpoints something in it needs: the S3 gateway (Neptune's bulk loader reads
  the processed bucket through it) and the SageMaker runtime interface endpoint (the scoring
  Lambda invokes the model endpoint from inside the VPC). Or an existing VPC given by id, subnets
  and AZs (``existing_vpc``; no lookup, so the stack stays environment-agnostic).
* Neptune (L1 only: aws-cdk-lib has no Neptune L2): IAM database authentication, storage
  encrypted with the stack's key, audit logs exported to CloudWatch, backups kept 7 days,
  deletion protection by setting, provisioned instances or serverless v2 capacity by setting.
  The bulk-load role (assumed by Neptune, reads the processed bucket) is associated with it.
* Security groups: ``security_group`` on the cluster admits port 8182 only from
  ``client_security_group``, which the Lambdas that talk to Neptune wear.

Exposes ``vpc``, ``subnets``, ``security_group``, ``client_security_group``, ``cluster``,
``cluster_resource_id``, ``cluster_endpoint``, ``cluster_port``, ``load_role``.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_neptune as neptune
from constructs import Construct

from cdk.shared.sagemaker_network import ISOLATED_SUBNETS, add_private_vpc

NEPTUNE_PORT = 8182


class NetworkAndGraph(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        log_retention_days: int,
        cidr: str,
        max_azs: int,
        engine_version: str,
        instance_class: str,
        instances: int,
        min_capacity: float,
        max_capacity: float,
        deletion_protection: bool,
        existing_vpc: tuple[str, list[str], list[str]] | None = None,
    ):
        super().__init__(scope, construct_id)
        self.subnets = ISOLATED_SUBNETS
        new_vpc = existing_vpc is None
        if new_vpc:
            self.vpc = add_private_vpc(
                self,
                key=key,
                cidr=cidr,
                max_azs=max_azs,
                log_retention_days=log_retention_days,
                removal_policy=removal_policy,
            )
        else:
            vpc_id, subnet_ids, zones = existing_vpc
            # By attributes, not lookup: the stack stays environment-agnostic. The VPC's owner
            # provides its flow logs and the routes to S3 and the SageMaker runtime.
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self, "Vpc", vpc_id=vpc_id, availability_zones=zones, isolated_subnet_ids=subnet_ids
            )
        self.client_security_group = ec2.SecurityGroup(
            self,
            "ClientSecurityGroup",
            vpc=self.vpc,
            description="Lambdas that call Neptune and the SageMaker runtime endpoint",
            allow_all_outbound=False,
        )
        if new_vpc:
            endpoint_sg = ec2.SecurityGroup(
                self,
                "EndpointSecurityGroup",
                vpc=self.vpc,
                description="SageMaker runtime interface endpoint: HTTPS from Neptune clients",
                allow_all_outbound=False,
            )
            endpoint_sg.add_ingress_rule(
                self.client_security_group, ec2.Port.tcp(443), "HTTPS from Neptune/endpoint clients"
            )
            self.client_security_group.add_egress_rule(
                endpoint_sg, ec2.Port.tcp(443), "to the SageMaker runtime endpoint"
            )
            self.vpc.add_interface_endpoint(
                "SageMakerRuntime",
                service=ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
                subnets=self.subnets,
                private_dns_enabled=True,
                security_groups=[endpoint_sg],
                open=False,
            )

        self.security_group = ec2.SecurityGroup(
            self,
            "NeptuneSecurityGroup",
            vpc=self.vpc,
            description="Neptune cluster: openCypher/loader port from Neptune clients only",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(
            self.client_security_group, ec2.Port.tcp(NEPTUNE_PORT), "Neptune clients"
        )
        self.client_security_group.add_egress_rule(
            self.security_group, ec2.Port.tcp(NEPTUNE_PORT), "to Neptune"
        )

        self.load_role = iam.Role(
            self,
            "BulkLoadRole",
            assumed_by=iam.ServicePrincipal("rds.amazonaws.com"),
            description="Neptune bulk loader: reads the processed bucket's graph files",
        )
        subnet_group = neptune.CfnDBSubnetGroup(
            self,
            "SubnetGroup",
            db_subnet_group_description="Vigil fraud Neptune: private isolated subnets",
            subnet_ids=self.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            ).subnet_ids,
        )
        family = "neptune" + ".".join(engine_version.split(".")[:2])
        parameters = neptune.CfnDBClusterParameterGroup(
            self,
            "ClusterParameters",
            family=family,
            description="Vigil fraud Neptune: audit log on",
            parameters={"neptune_enable_audit_log": "1"},
        )
        serverless = instance_class == "db.serverless"
        self.cluster = neptune.CfnDBCluster(
            self,
            "Cluster",
            engine_version=engine_version,
            iam_auth_enabled=True,
            storage_encrypted=True,
            kms_key_id=key.key_arn,
            db_subnet_group_name=subnet_group.ref,
            vpc_security_group_ids=[self.security_group.security_group_id],
            db_cluster_parameter_group_name=parameters.ref,
            enable_cloudwatch_logs_exports=["audit"],
            deletion_protection=deletion_protection,
            backup_retention_period=7,
            preferred_backup_window="03:00-04:00",
            preferred_maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            associated_roles=[
                neptune.CfnDBCluster.DBClusterRoleProperty(role_arn=self.load_role.role_arn)
            ],
            serverless_scaling_configuration=(
                neptune.CfnDBCluster.ServerlessScalingConfigurationProperty(
                    min_capacity=min_capacity, max_capacity=max_capacity
                )
                if serverless
                else None
            ),
        )
        self.cluster.apply_removal_policy(
            RemovalPolicy.SNAPSHOT if removal_policy == RemovalPolicy.RETAIN else removal_policy
        )
        self.instances = []
        for index in range(instances):
            instance = neptune.CfnDBInstance(
                self,
                f"Instance{index + 1}",
                db_instance_class=instance_class,
                db_cluster_identifier=self.cluster.ref,
                auto_minor_version_upgrade=True,
            )
            self.instances.append(instance)
        self.cluster_resource_id = self.cluster.attr_cluster_resource_id
        self.cluster_endpoint = self.cluster.attr_endpoint
        self.cluster_port = self.cluster.attr_port

    def data_arn(self, path: str = "*") -> str:
        """``neptune-db`` ARN of this cluster's data plane (IAM auth policies)."""
        stack = Stack.of(self)
        return (
            f"arn:{stack.partition}:neptune-db:{stack.region}:{stack.account}:"
            f"{self.cluster_resource_id}/{path}"
        )
