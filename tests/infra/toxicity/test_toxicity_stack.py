"""The toxicity stack's template: data bucket, both training jobs (SDK image URIs per region,
metric regexes from vigil), model, endpoint config (real-time / serverless), endpoint and the
IAM-authorised, validated moderation API."""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Match, Template

from cdk.app_builder import build_app
from cdk.toxicity.training import training_source_bundle
from local.standins.synth import new_app, synthesize
from vigil.toxicity.contract import DISTILLED_STUDENT_LAYERS, IDENTITY_AUGMENTATION
from vigil.toxicity.labels import metric_line

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def template(templates) -> Template:
    return Template.from_json(templates["Vigil-Toxicity"])


@pytest.fixture(scope="module")
def raw(templates) -> dict:
    return templates["Vigil-Toxicity"]


def _state_machine_definition(raw: dict, name: str = "Training") -> str:
    (machine,) = [
        r
        for logical_id, r in raw["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and logical_id.startswith(name)
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "<token>" for p in parts)


def test_both_training_jobs_use_sdk_images_and_vigil_metric_regexes(raw):
    definition = _state_machine_definition(raw)
    assert (
        definition.count('"Resource":"arn:<token>:states:::sagemaker:createTrainingJob.sync"') == 2
    )
    assert '"sagemaker_program":"training/toxicity/bilstm/train.py"' in definition
    assert '"sagemaker_program":"training/toxicity/transformer/train.py"' in definition
    mapping = next(iter(raw["Mappings"].values()))
    east = mapping["us-east-1"]
    assert re.match(
        r"\d+\.dkr\.ecr\.us-east-1\.amazonaws\.com/pytorch-training:", east["bilstmTraining"]
    )
    assert "huggingface-pytorch-training" in east["transformerTraining"]
    assert "pytorch-inference" in east["bilstmInference"]
    assert "huggingface-pytorch-inference" in east["transformerInference"]
    assert len(mapping) > 10  # every region the SDK knows the images in
    regexes = re.findall(r'"Name":"eval:roc_auc_macro","Regex":"([^"]+)"', definition)
    assert len(regexes) == 2  # one per job
    pattern = regexes[0].encode().decode("unicode_escape")
    assert re.findall(pattern, metric_line("roc_auc_macro", 0.91)) == ["0.910000"]


def test_both_training_jobs_train_with_the_identity_bias_mitigation(raw):
    definition = _state_machine_definition(raw)
    flag = f'"identity-augmentation":"{IDENTITY_AUGMENTATION}"'
    assert definition.count(flag) == 2  # the recipe the benchmark measures, in the cloud too


def test_the_transformer_job_distils_the_student_the_benchmark_measures(raw):
    definition = _state_machine_definition(raw)
    assert definition.count(f'"distill-student":"{DISTILLED_STUDENT_LAYERS}"') == 1


def test_endpoint_serves_the_trained_artifact_with_an_encrypted_volume(template):
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Image": {"Fn::FindInMap": Match.array_with([{"Ref": "AWS::Region"}])},
                "ModelDataUrl": Match.any_value(),
                "Environment": Match.object_like({"SAGEMAKER_PROGRAM": "inference.py"}),
            }
        },
    )
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": Match.any_value(),
            "ProductionVariants": [Match.object_like({"InstanceType": "ml.m5.large"})],
        },
    )
    template.resource_count_is("AWS::SageMaker::Endpoint", 1)


def test_moderation_api_is_iam_authorised_and_validated(template):
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "RequestValidatorId": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {"Schema": Match.object_like({"required": ["messages"], "additionalProperties": False})},
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Action": "sagemaker:InvokeEndpoint", "Sid": "InvokeToxicityEndpoint"}
                        )
                    ]
                )
            }
        },
    )
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)


def test_bulk_moderation_runs_the_served_model_as_an_encrypted_batch_transform(raw):
    definition = _state_machine_definition(raw, "BulkModeration")
    assert '"Resource":"arn:<token>:states:::sagemaker:createTransformJob.sync"' in definition
    for fragment in (
        '"BatchStrategy":"MultiRecord"',
        '"ContentType":"application/jsonlines"',
        '"SplitType":"Line"',
        '"Accept":"application/jsonlines"',
        '"AssembleWith":"Line"',
        '"S3Uri":"s3://<token>/bulk/input/"',
        '"S3OutputPath":"s3://<token>/bulk/output/"',
        '"TransformJobName.$":"States.Format(\'vigil-tox-bulk-{}\', States.UUID())"',
    ):
        assert fragment in definition, fragment
    machine = next(
        r
        for logical_id, r in raw["Resources"].items()
        if logical_id.startswith("BulkModerationStateMachine")
        and r["Type"] == "AWS::StepFunctions::StateMachine"
    )
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    tokens = [p for p in parts if not isinstance(p, str)]
    # the endpoint's model, and the stack's key for both the output and the job's volume
    assert {"Fn::GetAtt": ["ServingModel2BFB7A72", "ModelName"]} in tokens
    assert sum(t == {"Fn::GetAtt": [_key_id(raw), "Arn"]} for t in tokens) == 2
    # the state machine may touch only its own transform jobs
    policy = next(
        r
        for logical_id, r in raw["Resources"].items()
        if logical_id.startswith("BulkModerationStateMachineRoleDefaultPolicy")
    )
    sagemaker_resources = [
        statement["Resource"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(a.startswith("sagemaker:") for a in _actions(statement))
    ]
    assert sagemaker_resources
    for resource in sagemaker_resources:
        assert resource != "*"
        assert resource["Fn::Join"][1][-1] == ":transform-job/vigil-tox-bulk-*"


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _key_id(raw: dict) -> str:
    (key,) = [k for k, r in raw["Resources"].items() if r["Type"] == "AWS::KMS::Key"]
    return key


def test_serverless_by_context(tmp_path):
    app = new_app(tmp_path, **{"vigil:systems": "toxicity", "vigil:toxicity:serverless": "true"})
    build_app(app, nag=False)
    result = synthesize(app, tmp_path)
    template = Template.from_json(result.templates()["Vigil-Toxicity"])
    (config,) = template.find_resources("AWS::SageMaker::EndpointConfig").values()
    variant = config["Properties"]["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MaxConcurrency": 5, "MemorySizeInMB": 4096}
    assert "KmsKeyId" not in config["Properties"]  # serverless endpoints have no volume
    # Serverless Inference supports neither VpcConfig nor network isolation
    (model,) = template.find_resources("AWS::SageMaker::Model").values()
    assert "VpcConfig" not in model["Properties"]
    assert "EnableNetworkIsolation" not in model["Properties"]


def test_source_bundle_is_deterministic_and_complete(tmp_path):
    import tarfile

    first = training_source_bundle(tmp_path / "a.tar.gz")
    second = training_source_bundle(tmp_path / "b.tar.gz")
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        names = tar.getnames()
    for needed in (
        "training/toxicity/bilstm/train.py",
        "training/toxicity/transformer/train.py",
        "inference/toxicity/bilstm/inference.py",
        "vigil/toxicity/losses.py",
        "vigil/serving_errors.py",
        "vigil/packaging.py",
        "requirements.txt",
    ):
        assert needed in names
