"""Template assertions for the label feedback API (cdk/fraud/label_api.py) in Vigil-Fraud, and
the Glue job's read of the label log."""

from __future__ import annotations

import json

import pytest

from vigil.fraud.label_log import LABEL_LOG_PREFIX

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def fraud(templates) -> dict:
    return templates["Vigil-Fraud"]


def _of_type(fraud: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in fraud["Resources"].items() if r["Type"] == kind}


def _label_function(fraud: dict) -> tuple[str, dict]:
    (found,) = [
        (logical_id, resource)
        for logical_id, resource in _of_type(fraud, "AWS::Lambda::Function").items()
        if resource["Properties"]["Handler"].startswith("lambdas.fraud.label_transaction.handler")
    ]
    return found


def _statements(fraud: dict, role_logical_id: str) -> list[dict]:
    return [
        statement
        for policy in _of_type(fraud, "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return set(action if isinstance(action, list) else [action])


def test_the_label_route_is_iam_authorised_and_validated(fraud):
    resources = _of_type(fraud, "AWS::ApiGateway::Resource")
    by_id = {k: r["Properties"] for k, r in resources.items()}
    (label,) = [k for k, p in by_id.items() if p["PathPart"] == "label"]
    parent = by_id[by_id[label]["ParentId"]["Ref"]]
    assert parent["PathPart"] == "{id}"
    assert by_id[parent["ParentId"]["Ref"]]["PathPart"] == "transactions"
    (method,) = [
        r["Properties"]
        for r in _of_type(fraud, "AWS::ApiGateway::Method").values()
        if r["Properties"]["ResourceId"] == {"Ref": label}
    ]
    assert method["HttpMethod"] == "POST"
    assert method["AuthorizationType"] == "AWS_IAM"
    assert method["RequestParameters"] == {"method.request.path.id": True}
    assert "RequestValidatorId" in method and "application/json" in method["RequestModels"]
    function_id, _ = _label_function(fraud)
    assert function_id in json.dumps(method["Integration"]["Uri"])
    (model,) = [
        r["Properties"]
        for r in _of_type(fraud, "AWS::ApiGateway::Model").values()
        if r["Properties"]["Name"] == "Label"
    ]
    schema = model["Schema"]
    assert schema["required"] == ["label", "source"] and schema["additionalProperties"] is False
    assert schema["properties"]["label"]["enum"] == ["fraud", "legit"]
    assert schema["properties"]["override"]["type"] == "boolean"


def test_the_label_lambda_appends_to_its_log_prefix_and_never_deletes(fraud):
    _, function = _label_function(fraud)
    props = function["Properties"]
    assert props["VpcConfig"]["SubnetIds"] and props["ReservedConcurrentExecutions"] == 5
    env = props["Environment"]["Variables"]
    assert env["LABEL_LOG_PREFIX"] == LABEL_LOG_PREFIX and "LABEL_BUCKET" in env
    assert "GRAPH_ENDPOINT" in env
    statements = _statements(fraud, props["Role"]["Fn::GetAtt"][0])
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    granted = set().union(*(_actions(s) for s in s3))
    assert granted == {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:AbortMultipartUpload"}
    for statement in s3:
        if "s3:ListBucket" in _actions(statement):
            assert statement["Condition"] == {"StringLike": {"s3:prefix": [f"{LABEL_LOG_PREFIX}*"]}}
        else:
            assert json.dumps(statement["Resource"]).endswith(f'/{LABEL_LOG_PREFIX}*"]]}}')
    neptune = [s for s in statements if any(a.startswith("neptune-db:") for a in _actions(s))]
    assert _actions(neptune[0]) == {
        "neptune-db:connect",
        "neptune-db:ReadDataViaQuery",
        "neptune-db:WriteDataViaQuery",
    }
    assert not any(a.startswith("sagemaker:") for s in statements for a in _actions(s))


def test_the_glue_job_reads_the_label_log(fraud):
    (job,) = _of_type(fraud, "AWS::Glue::Job").values()
    argument = json.dumps(job["Properties"]["DefaultArguments"]["--label-log"])
    assert argument.endswith(f'/{LABEL_LOG_PREFIX}"]]}}')
    statements = _statements(fraud, job["Properties"]["Role"]["Fn::GetAtt"][0])
    on_log = [s for s in statements if LABEL_LOG_PREFIX in json.dumps(s)]
    assert on_log and all(_actions(s) <= {"s3:GetObject", "s3:ListBucket"} for s in on_log)


def test_labels_not_stored_page_the_operations_topic(fraud):
    (alarm,) = [
        r["Properties"]
        for k, r in _of_type(fraud, "AWS::CloudWatch::Alarm").items()
        if k.startswith("OperationsLabelsNotStored")
    ]
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"]
    watched = {
        m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"]["Dimensions"]
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }
    assert set(watched) == {"LabelNotStored", "LabelLoggedGraphBehind", "LabelError"}
    assert all(d == [{"Name": "service", "Value": "vigil-fraud-labels"}] for d in watched.values())
