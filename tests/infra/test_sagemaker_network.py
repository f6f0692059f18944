"""Every SageMaker container the app can start runs in private subnets, wearing a security group
with no internet egress, network isolated, and (training) with inter-container encryption: each
training job and model in the state machines, each ``AWS::SageMaker::Model``, and each batch
transform (which runs in its model's network settings)."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from aws_cdk.assertions import Template

from cdk.shared.sagemaker_network import IsolatedModel, IsolatedTrainingJob, SageMakerNetwork

pytestmark = pytest.mark.infra

SYSTEMS_WITH_SAGEMAKER = ("Vigil-Fraud", "Vigil-Toxicity")


def _definition(resource: dict) -> dict:
    """A state machine's definition with every CloudFormation token replaced by its JSON text."""
    body = resource["Properties"]["DefinitionString"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(p if isinstance(p, str) else json.dumps(p).replace('"', "'") for p in parts)
    return json.loads(text)


def _task_states(states: dict) -> dict[str, dict]:
    found = {}
    for name, state in states.items():
        if state.get("Type") == "Task":
            found[name] = state
        for branch in state.get("Branches", []):
            found.update(_task_states(branch["States"]))
        for nested in ("Iterator", "ItemProcessor"):
            if nested in state:
                found.update(_task_states(state[nested]["States"]))
    return found


def _sagemaker_tasks(template: dict, action: str) -> dict[str, dict]:
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        for name, state in _task_states(_definition(resource)["States"]).items():
            if re.search(rf":sagemaker:{action}(\.sync)?$", state["Resource"]):
                found[f"{logical_id}/{name}"] = state["Parameters"]
    return found


def _security_group_of(template: dict, token: str) -> str:
    (logical_id,) = re.findall(r"'Fn::GetAtt': \['([^']+)', 'GroupId'\]", token)
    return logical_id


def _assert_private_and_closed(template: dict, vpc_config: dict, where: str) -> None:
    subnets = vpc_config["Subnets"]
    assert len(subnets) >= 2, where
    for subnet in subnets:
        (logical_id,) = re.findall(r"'Ref': '([^']+)'", subnet)
        resource = template["Resources"][logical_id]
        assert resource["Type"] == "AWS::EC2::Subnet"
        assert resource["Properties"]["MapPublicIpOnLaunch"] is False
        tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
        assert tags["aws-cdk:subnet-type"] == "Isolated", where
    (group,) = vpc_config["SecurityGroupIds"]
    _assert_no_internet_egress(template, _security_group_of(template, group), where)


def _assert_no_internet_egress(template: dict, group: str, where: str) -> None:
    properties = template["Resources"][group]["Properties"]
    inline = properties.get("SecurityGroupEgress", [])
    # CDK's marker rule for "no egress" is the only inline rule a closed group may have
    assert all(rule.get("CidrIp") == "255.255.255.255/32" for rule in inline), where
    egress = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::EC2::SecurityGroupEgress"
        and r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    assert egress, f"{where}: no egress rule at all (SageMaker could not reach S3)"
    for rule in egress:
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, (where, rule)
        assert "DestinationPrefixListId" in rule or "DestinationSecurityGroupId" in rule, rule


@pytest.mark.parametrize("stack", SYSTEMS_WITH_SAGEMAKER)
def test_every_training_job_is_isolated_private_and_encrypted(templates, stack):
    template = templates[stack]
    jobs = _sagemaker_tasks(template, "createTrainingJob")
    assert jobs, f"{stack} starts no training job"
    for where, params in jobs.items():
        assert params["EnableNetworkIsolation"] is True, where
        assert params["EnableInterContainerTrafficEncryption"] is True, where
        _assert_private_and_closed(template, params["VpcConfig"], where)
        # under isolation the container cannot fetch its code: it arrives as the code channel
        submit = params["HyperParameters"]["sagemaker_submit_directory"]
        assert submit.startswith("/opt/ml/input/data/code/"), where
        channels = {c["ChannelName"] for c in params["InputDataConfig"]}
        assert "code" in channels, where


@pytest.mark.parametrize("stack", SYSTEMS_WITH_SAGEMAKER)
def test_every_model_is_isolated_and_private(templates, stack):
    template = templates[stack]
    models = {
        f"{stack}/{logical_id}": r["Properties"]
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::SageMaker::Model"
    }
    models.update(_sagemaker_tasks(template, "createModel"))
    assert models, f"{stack} creates no SageMaker model"
    for where, properties in models.items():
        assert properties["EnableNetworkIsolation"] is True, where
        vpc_config = {
            key: [json.dumps(v).replace('"', "'") if not isinstance(v, str) else v for v in values]
            for key, values in properties["VpcConfig"].items()
        }
        _assert_private_and_closed(template, vpc_config, where)


@pytest.mark.parametrize("stack", SYSTEMS_WITH_SAGEMAKER)
def test_every_transform_runs_a_model_of_this_stack(templates, stack):
    """A transform job has no network settings of its own: it takes its model's, so each must
    name a model that the test above checked (one created by this stack)."""
    template = templates[stack]
    transforms = _sagemaker_tasks(template, "createTransformJob")
    if stack == "Vigil-Toxicity":
        assert transforms, "bulk moderation runs a transform job"
    for where, params in transforms.items():
        if "ModelName.$" in params:
            # named at run time: a model of a pipeline run, made by this stack's CreateModel
            assert _sagemaker_tasks(template, "createModel"), where
            continue
        (logical_id,) = re.findall(r"'Fn::GetAtt': \['([^']+)', 'ModelName'\]", params["ModelName"])
        assert template["Resources"][logical_id]["Type"] == "AWS::SageMaker::Model", where


def test_the_checks_above_catch_an_open_job(tmp_path):
    """The same assertions fail for a plain CDK training job with ``vpc_config``: its security
    group allows all outbound traffic and the job is neither isolated nor encrypted."""
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Open")
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="i", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )

    def job(cls, name, **extra):
        return cls(
            stack,
            name,
            training_job_name="job",
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry("image")
            ),
            input_data_config=[
                tasks.Channel(
                    channel_name="train",
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=tasks.S3Location.from_json_expression("$.train")
                        )
                    ),
                )
            ],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_json_expression("$.out")
            ),
            hyperparameters={"sagemaker_submit_directory": "/opt/ml/input/data/code/x.gz"},
            **extra,
        )

    open_job = job(
        tasks.SageMakerCreateTrainingJob,
        "OpenJob",
        vpc_config=tasks.VpcConfig(
            vpc=vpc, subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ),
    )
    network = SageMakerNetwork(
        stack,
        "Network",
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
    )
    closed_job = job(IsolatedTrainingJob, "ClosedJob", network=network)
    model = IsolatedModel(
        stack,
        "ClosedModel",
        network=network,
        model_name="model",
        primary_container=tasks.ContainerDefinition(
            image=tasks.DockerImage.from_registry("image"),
            model_s3_location=tasks.S3Location.from_json_expression("$.model"),
        ),
    )
    sfn.StateMachine(
        stack,
        "Machine",
        definition_body=sfn.DefinitionBody.from_chainable(
            sfn.Parallel(stack, "Both").branch(open_job).branch(closed_job.next(model))
        ),
    )
    template = Template.from_stack(stack).to_json()
    jobs = _sagemaker_tasks(template, "createTrainingJob")
    (open_params,) = [p for w, p in jobs.items() if w.endswith("/OpenJob")]
    (closed_params,) = [p for w, p in jobs.items() if w.endswith("/ClosedJob")]
    assert "EnableNetworkIsolation" not in open_params
    assert "EnableInterContainerTrafficEncryption" not in open_params
    with pytest.raises(AssertionError):
        _assert_private_and_closed(template, open_params["VpcConfig"], "OpenJob")
    _assert_private_and_closed(template, closed_params["VpcConfig"], "ClosedJob")
    assert closed_params["EnableInterContainerTrafficEncryption"] is True
    (model_params,) = _sagemaker_tasks(template, "createModel").values()
    assert model_params["EnableNetworkIsolation"] is True
    _assert_private_and_closed(template, model_params["VpcConfig"], "ClosedModel")


def test_synth_warns_when_a_bundle_has_no_wheels(tmp_path, monkeypatch):
    """Without the wheel folders the bundles carry only the hashed requirements, and their
    containers would stop at start: synth says so, naming the command that fetches them."""
    from aws_cdk.assertions import Annotations, Match

    from cdk.app_builder import build_app
    from local.standins.synth import new_app
    from vigil.container_requirements import WHEELS_DIR_ENV

    monkeypatch.setenv(WHEELS_DIR_ENV, str(tmp_path / "no-wheels"))
    app = new_app(tmp_path / "out", **{"vigil:systems": "toxicity"})
    build_app(app, nag=False)
    (stack,) = [s for s in app.node.children if isinstance(s, Stack)]
    annotations = Annotations.from_stack(stack)
    for name in ("toxicity-training", "toxicity-serving"):
        annotations.has_warning(
            "*", Match.string_like_regexp(f"no wheels for '{name}'.*make container-wheels")
        )
