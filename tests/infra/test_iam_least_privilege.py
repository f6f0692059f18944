"""Roles get exact actions on the narrowest resources: no CDK grant wildcards where the actions and
the prefixes are known."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.infra


def _statements(template: dict, policy_prefix: str) -> list[dict]:
    found = [
        statement
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and name.startswith(policy_prefix)
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert found, policy_prefix
    return found


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


@pytest.mark.parametrize(
    ("stack", "policy", "job_prefix"),
    [
        ("Vigil-Fraud", "PipelineStateMachineRoleDefaultPolicy", "vigil-fraud-"),
        ("Vigil-Toxicity", "TrainingStateMachineRoleDefaultPolicy", "vigil-tox-"),
    ],
)
def test_state_machines_touch_only_their_training_jobs(templates, stack, policy, job_prefix):
    statements = _statements(templates[stack], policy)
    on_jobs = [s for s in statements if "training-job/" in json.dumps(s["Resource"])]
    assert on_jobs
    for statement in on_jobs:
        assert json.dumps(statement["Resource"]).endswith(f':training-job/{job_prefix}*"]]}}')
    assert any("sagemaker:ListTags" in _actions(s) for s in on_jobs)
    assert not [
        s for s in statements if s["Resource"] == "*" and "sagemaker:ListTags" in _actions(s)
    ]
    assert not [s for s in statements if json.dumps(s["Resource"]).endswith(':training-job/*"]]}')]


def _object_prefixes(statement: dict, bucket: str) -> list[str]:
    resources = (
        statement["Resource"]
        if isinstance(statement["Resource"], list)
        else [statement["Resource"]]
    )
    prefixes = []
    for resource in resources:
        join = resource.get("Fn::Join") if isinstance(resource, dict) else None
        if join and join[1][0] == {"Fn::GetAtt": [bucket, "Arn"]}:
            prefixes.append(join[1][1])
    return prefixes


def test_glue_job_writes_only_run_folders_and_its_temp_dir(templates):
    template = templates["Vigil-Fraud"]
    (bucket,) = [
        n
        for n, r in template["Resources"].items()
        if n.startswith("DataProcessedBucket") and r["Type"] == "AWS::S3::Bucket"
    ]
    writes = [
        prefix
        for statement in _statements(template, "DataJobRoleDefaultPolicy")
        if {"s3:PutObject", "s3:DeleteObject"} & set(_actions(statement))
        for prefix in _object_prefixes(statement, bucket)
    ]
    assert sorted(set(writes)) == ["/glue-temp/*", "/runs/*"]


def _wildcard_actions(statements: list[dict]) -> list[str]:
    return sorted({a for s in statements for a in _actions(s) if "*" in a})


def test_firehose_roles_have_exact_actions_on_its_two_prefixes(templates):
    template = templates["Vigil-AirQuality"]
    (bucket,) = [
        n
        for n, r in template["Resources"].items()
        if n.startswith("Readings") and r["Type"] == "AWS::S3::Bucket"
    ]
    stream = next(
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::KinesisFirehose::DeliveryStream"
    )
    role = stream["ExtendedS3DestinationConfiguration"]["RoleARN"]["Fn::GetAtt"][0]
    delivery = [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        and {"Ref": role} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    stream_policy = _statements(template, "IngestStreamRole")
    assert _wildcard_actions(delivery + stream_policy) == []
    assert not [s for s in delivery if "s3:DeleteObject" in _actions(s)]
    writes = {
        prefix
        for s in delivery
        if "s3:PutObject" in _actions(s)
        for prefix in _object_prefixes(s, bucket)
    }
    assert writes == {"/readings/*", "/errors/firehose/*"}


def test_toxicity_training_role_reads_channels_and_writes_model_folders(templates):
    template = templates["Vigil-Toxicity"]
    (bucket,) = [
        n
        for n, r in template["Resources"].items()
        if n.startswith("Data") and r["Type"] == "AWS::S3::Bucket"
    ]
    statements = _statements(template, "TrainingJobRoleDefaultPolicy")
    assert _wildcard_actions(statements) == []
    assert not [s for s in statements if "s3:DeleteObject" in _actions(s)]

    def prefixes(action: str) -> set[str]:
        return {p for s in statements if action in _actions(s) for p in _object_prefixes(s, bucket)}

    assert prefixes("s3:GetObject") == {f"/prepared/{c}/*" for c in ("train", "valid", "test")} | {
        "/pretrained/roberta-base/*"  # the transformer's starting checkpoint (no Hub access)
    }
    assert prefixes("s3:PutObject") == {"/models/bilstm/*", "/models/transformer/*"}


def test_detector_role_has_exact_actions(templates):
    template = templates["Vigil-AirQuality"]
    statements = _statements(template, "DetectorRoleDefaultPolicy")
    assert _wildcard_actions(statements) == []
    assert any("sqs:SendMessage" in _actions(s) for s in statements)
    (invoke_config,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    ]
    on_failure = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    assert on_failure["Fn::GetAtt"][0].startswith("DetectorDeadLetters")
