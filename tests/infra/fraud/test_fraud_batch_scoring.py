"""Template assertions for fraud batch scoring (cdk/fraud/batch_scoring.py): a Batch Transform of
a pipeline run's own model over the request lines, encrypted, with least-privilege roles."""

from __future__ import annotations

import json

import pytest

from vigil.fraud.batch_transform import JSON_LINES

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def fraud(templates) -> dict:
    return templates["Vigil-Fraud"]


def _resource(raw: dict, prefix: str, kind: str) -> dict:
    (found,) = [
        r
        for logical_id, r in raw["Resources"].items()
        if logical_id.startswith(prefix) and r["Type"] == kind
    ]
    return found


def _definition(machine: dict) -> str:
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "<token>" for p in parts)


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _key_id(raw: dict) -> str:
    (key,) = [k for k, r in raw["Resources"].items() if r["Type"] == "AWS::KMS::Key"]
    return key


def test_a_run_model_scores_the_request_lines_as_an_encrypted_batch_transform(fraud):
    machine = _resource(fraud, "BatchScoringStateMachine", "AWS::StepFunctions::StateMachine")
    definition = _definition(machine)
    assert '"Resource":"arn:<token>:states:::sagemaker:createTransformJob.sync"' in definition
    for fragment in (
        '"BatchStrategy":"MultiRecord"',
        f'"ContentType":"{JSON_LINES}"',
        '"SplitType":"Line"',
        f'"Accept":"{JSON_LINES}"',
        '"AssembleWith":"Line"',
        '"S3Uri":"s3://<token>/batch/requests/"',
        '"S3OutputPath":"s3://<token>/batch/scores/"',
        '"TransformJobName.$":"States.Format(\'vigil-fraud-batch-{}\', States.UUID())"',
        # only a pipeline run's own model, by the run id
        '"ModelName.$":"States.Format(\'vigil-fraud-{}\', $.runId)"',
    ):
        assert fragment in definition, fragment
    tokens = [
        p
        for p in machine["Properties"]["DefinitionString"]["Fn::Join"][1]
        if not isinstance(p, str)
    ]
    # the stack's key encrypts both the output and the job's volume
    assert sum(t == {"Fn::GetAtt": [_key_id(fraud), "Arn"]} for t in tokens) == 2


def test_the_state_machine_may_start_only_its_own_transform_jobs(fraud):
    policy = _resource(fraud, "BatchScoringStateMachineRoleDefaultPolicy", "AWS::IAM::Policy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    sagemaker = [s for s in statements if any(a.startswith("sagemaker:") for a in _actions(s))]
    assert sagemaker
    for statement in sagemaker:
        assert statement["Resource"] != "*"
        assert statement["Resource"]["Fn::Join"][1][-1] == ":transform-job/vigil-fraud-batch-*"
    # it passes only the model's role (the role the job's S3 access and logs run as)
    model_role = _resource(fraud, "PipelineModelRole", "AWS::IAM::Role")
    (role_id,) = [k for k, r in fraud["Resources"].items() if r is model_role]
    passes = [s["Resource"] for s in statements if "iam:PassRole" in _actions(s)]
    assert passes == [{"Fn::GetAtt": [role_id, "Arn"]}]


def test_the_model_role_reads_only_the_requests_and_writes_only_the_scores(fraud):
    policies = [
        r
        for logical_id, r in fraud["Resources"].items()
        if logical_id.startswith("PipelineModelRole") and r["Type"] == "AWS::IAM::Policy"
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    text = json.dumps(statements)
    puts = [s for s in statements if "s3:PutObject" in _actions(s)]
    written = json.dumps([s["Resource"] for s in puts])
    assert "/batch/scores/*" in written
    assert "/batch/requests/" not in written  # the input is never writable by the job
    assert "/batch/requests/*" in text
    assert "/aws/sagemaker/TransformJobs*" in text
