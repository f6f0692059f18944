"""A trained tiny BiLSTM served by the real SageMaker PyTorch serving stack (TorchServe + the
toolkit, ``local.standins.model_server``) from its ``model.tar.gz``, called through boto3's
sagemaker-runtime and the moderation handler."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from local.demos.toxicity import moderate, moderation_endpoint
from vigil.packaging import package_model
from vigil.toxicity.labels import JIGSAW_LABELS
from vigil.toxicity.moderation import ModerationError, classify

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(tiny_bilstm, tmp_path_factory):
    out, _ = tiny_bilstm
    tarball = package_model(out / "model", tmp_path_factory.mktemp("tar") / "model.tar.gz")
    with moderation_endpoint(tarball) as server:
        yield server


def test_the_served_model_answers_a_batch(served):
    body = served.invoke_json({"inputs": ["you are an idiot", "thanks", "fine"]})
    assert body["labels"] == list(JIGSAW_LABELS)
    assert len(body["results"]) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "status", "first_line"),
    [
        ('{"inputs": []}', "application/json", 400, "'inputs' is empty"),
        ('{"inputs": [1]}', "application/json", 400, "inputs[0] is int, not a string"),
        ('{"inputs": ["' + "a" * 5001 + '"]}', "application/json", 413, "inputs[0] has 5001"),
        ("hello", "text/plain", 415, "content type 'text/plain' is not supported"),
    ],
)
def test_bad_input_is_a_4xx_from_the_serving_stack(served, body, content_type, status, first_line):
    answer = served.invoke(body, content_type=content_type, check=False)
    assert answer.status == status
    assert answer.message.startswith(first_line)


def test_a_bulk_mini_batch_through_the_serving_stack_as_batch_transform_sends_it(served):
    lines = [
        json.dumps({"id": "a", "text": "you are an idiot"}),
        json.dumps({"id": "b", "text": ""}),
        "{broken",
        json.dumps({"id": "d", "text": "thanks for the fix"}),
    ]
    answer = served.invoke(
        "\n".join(lines) + "\n",
        content_type="application/jsonlines",
        accept="application/jsonlines",
    )
    rows = [json.loads(line) for line in answer.body.decode().splitlines()]
    assert [row["id"] for row in rows] == ["a", "b", None, "d"]
    assert "empty" in rows[1]["rejected"] and "not valid JSON" in rows[2]["rejected"]
    assert set(rows[0]["probabilities"]) == set(JIGSAW_LABELS) and "rejected" not in rows[3]


def test_boto3_invoke_endpoint_and_model_error(served):
    runtime = boto3.client("sagemaker-runtime")
    ok = runtime.invoke_endpoint(
        EndpointName="vigil-toxicity", ContentType="application/json", Body=b'{"inputs": ["hi"]}'
    )
    assert len(json.loads(ok["Body"].read())["results"]) == 1
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(
            EndpointName="vigil-toxicity", ContentType="application/json", Body=b'{"inputs": []}'
        )
    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert caught.value.response["OriginalStatusCode"] == 400


def test_model_rejection_becomes_a_400_for_the_api_client(served):
    with pytest.raises(ModerationError) as caught:
        classify([], endpoint_name="vigil-toxicity")
    assert caught.value.status == 400 and caught.value.error == "RejectedByModel"
    assert "'inputs' is empty" in caught.value.reason
    with pytest.raises(ModerationError) as missing:
        classify(["hi"], endpoint_name="no-such-endpoint")
    assert missing.value.status == 502


def test_moderation_handler_end_to_end(served):
    answer = moderate(["you are a stupid idiot", "thanks for the citation"])
    assert answer["statusCode"] == 200
    results = json.loads(answer["body"])["results"]
    assert [r["index"] for r in results] == [0, 1]
    assert all(set(r["scores"]) == set(JIGSAW_LABELS) for r in results)
    bad = moderate(None, body='{"messages": []}')
    assert bad["statusCode"] == 400
