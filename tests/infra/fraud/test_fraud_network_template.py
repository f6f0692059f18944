"""Template assertions for the fraud network and Neptune cluster (cdk/fraud/network_graph.py)."""

from __future__ import annotations

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from cdk.fraud.network_graph import NEPTUNE_PORT, NetworkAndGraph

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def fraud(templates) -> Template:
    return Template.from_json(templates["Vigil-Fraud"])


def _only(template: Template, kind: str) -> dict:
    found = template.find_resources(kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


def _mine(template: Template, kind: str) -> dict:
    """Resources of this construct (logical ids under NetworkGraph)."""
    return {k: v for k, v in template.find_resources(kind).items() if k.startswith("NetworkGraph")}


def test_vpc_has_only_private_isolated_subnets_and_no_internet_path(fraud):
    subnets = _mine(fraud, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    fraud.resource_count_is("AWS::EC2::InternetGateway", 0)
    fraud.resource_count_is("AWS::EC2::NatGateway", 0)
    for route in fraud.find_resources("AWS::EC2::Route").values():
        assert "GatewayId" not in route["Properties"], route  # no route to an internet gateway


def test_vpc_flow_logs_go_to_a_kms_encrypted_group(fraud):
    flow = _only(fraud, "AWS::EC2::FlowLog")
    assert flow["TrafficType"] == "ALL"
    assert flow["LogDestinationType"] == "cloud-watch-logs"
    group_id = flow["LogGroupName"]["Ref"]
    group = fraud.to_json()["Resources"][group_id]["Properties"]
    assert "KmsKeyId" in group and group["RetentionInDays"] == 90


def test_pipeline_endpoints_s3_gateway_and_sagemaker_runtime(fraud):
    endpoints = {
        k: e["Properties"]
        for k, e in _mine(fraud, "AWS::EC2::VPCEndpoint").items()
        if "Scoring" not in k  # the scoring API adds its own
    }
    by_service = {e["ServiceName"]["Fn::Join"][1][-1]: e for e in endpoints.values()}
    assert set(by_service) == {".s3", ".sagemaker.runtime"}
    assert by_service[".s3"].get("VpcEndpointType", "Gateway") == "Gateway"
    runtime = by_service[".sagemaker.runtime"]
    assert runtime["VpcEndpointType"] == "Interface"
    assert runtime["PrivateDnsEnabled"] is True


def test_neptune_cluster_iam_auth_kms_audit_logs_backups(fraud):
    cluster = _only(fraud, "AWS::Neptune::DBCluster")
    assert cluster["IamAuthEnabled"] is True
    assert cluster["StorageEncrypted"] is True
    assert cluster["KmsKeyId"]["Fn::GetAtt"][1] == "Arn"  # the stack's customer-managed key
    assert cluster["EnableCloudwatchLogsExports"] == ["audit"]
    assert cluster["DeletionProtection"] is True  # default: retain → protected
    assert cluster["BackupRetentionPeriod"] >= 7
    assert cluster["ServerlessScalingConfiguration"] == {"MinCapacity": 1, "MaxCapacity": 8}
    params = _only(fraud, "AWS::Neptune::DBClusterParameterGroup")
    assert params["Parameters"] == {"neptune_enable_audit_log": "1"}
    assert params["Family"] == "neptune1.3"
    instance = _only(fraud, "AWS::Neptune::DBInstance")
    assert instance["DBInstanceClass"] == "db.serverless"
    assert instance["AutoMinorVersionUpgrade"] is True
    resource = next(iter(fraud.find_resources("AWS::Neptune::DBCluster").values()))
    assert resource["DeletionPolicy"] == "Snapshot"


def test_neptune_lives_in_the_isolated_subnets(fraud):
    group = _only(fraud, "AWS::Neptune::DBSubnetGroup")
    subnet_ids = {ref["Ref"] for ref in group["SubnetIds"]}
    assert subnet_ids == set(_mine(fraud, "AWS::EC2::Subnet"))


def test_neptune_port_is_open_only_to_the_client_group(fraud):
    cluster = _only(fraud, "AWS::Neptune::DBCluster")
    (cluster_sg,) = [g["Fn::GetAtt"][0] for g in cluster["VpcSecurityGroupIds"]]
    ingress = [
        r["Properties"]
        for r in fraud.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == cluster_sg
    ]
    assert ingress and all(r["FromPort"] == r["ToPort"] == NEPTUNE_PORT for r in ingress)
    assert all("CidrIp" not in r and "SourceSecurityGroupId" in r for r in ingress)
    sg = fraud.to_json()["Resources"][cluster_sg]["Properties"]
    assert "SecurityGroupIngress" not in sg


def test_bulk_load_role_is_associated_and_reads_only_run_folders(fraud):
    cluster = _only(fraud, "AWS::Neptune::DBCluster")
    (association,) = cluster["AssociatedRoles"]
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    role = fraud.to_json()["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "rds.amazonaws.com"
    }
    statements = [
        s
        for p in fraud.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in _list(s["Action"])}
    assert actions == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt", "kms:DescribeKey"}


def _list(value):
    return value if isinstance(value, list) else [value]


def _construct_template(**overrides) -> dict:
    app = App()
    stack = Stack(app, "T")
    props = dict(
        key=kms.Key(stack, "Key"),
        removal_policy=RemovalPolicy.DESTROY,
        log_retention_days=7,
        cidr="10.9.0.0/16",
        max_azs=2,
        engine_version="1.3.2.1",
        instance_class="db.r6g.large",
        instances=2,
        min_capacity=1,
        max_capacity=8,
        deletion_protection=False,
    )
    props.update(overrides)
    NetworkAndGraph(stack, "NetworkGraph", **props)
    return Template.from_stack(stack).to_json()


def test_provisioned_multi_az_without_protection_by_setting():
    resources = _construct_template()["Resources"]
    clusters = [r for r in resources.values() if r["Type"] == "AWS::Neptune::DBCluster"]
    instances = [r for r in resources.values() if r["Type"] == "AWS::Neptune::DBInstance"]
    (cluster,) = clusters
    assert cluster["Properties"]["DeletionProtection"] is False
    assert cluster["DeletionPolicy"] == "Delete"
    assert "ServerlessScalingConfiguration" not in cluster["Properties"]
    assert [i["Properties"]["DBInstanceClass"] for i in instances] == ["db.r6g.large"] * 2
    subnets = [r for r in resources.values() if r["Type"] == "AWS::EC2::Subnet"]
    assert len(subnets) == 2


def test_an_existing_vpc_by_attributes_hosts_neptune_without_new_network():
    resources = _construct_template(
        existing_vpc=("vpc-0abc", ["subnet-0a", "subnet-0b"], ["eu-west-1a", "eu-west-1b"])
    )["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    assert not kinds & {"AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::VPCEndpoint"}
    (group,) = [r for r in resources.values() if r["Type"] == "AWS::Neptune::DBSubnetGroup"]
    assert group["Properties"]["SubnetIds"] == ["subnet-0a", "subnet-0b"]
    sgs = [r for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroup"]
    assert {sg["Properties"]["VpcId"] for sg in sgs} == {"vpc-0abc"}


def test_existing_vpc_settings_must_be_complete():
    from cdk.config import SettingsError, parse_settings
    from cdk.fraud.settings import FraudSettings

    with pytest.raises(SettingsError, match="at least 2 vpcSubnetIds"):
        parse_settings(
            FraudSettings,
            {"vigil:fraud:vpcId": "vpc-0abc", "vigil:fraud:vpcSubnetIds": "subnet-0a"},
            "fraud",
        )
    ok = parse_settings(
        FraudSettings,
        {
            "vigil:fraud:vpcId": "vpc-0abc",
            "vigil:fraud:vpcSubnetIds": "subnet-0a,subnet-0b",
            "vigil:fraud:vpcAvailabilityZones": "eu-west-1a,eu-west-1b",
        },
        "fraud",
    )
    assert ok.vpc_subnet_ids == ["subnet-0a", "subnet-0b"]
