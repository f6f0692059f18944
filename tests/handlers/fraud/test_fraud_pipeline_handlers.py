"""The fraud pipeline's helper Lambdas, called directly under moto (in-process ``mock_aws``)."""

from __future__ import annotations

import io
import re
import tarfile

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.fraud.pipeline_endpoint_status import handler as endpoint_status
from lambdas.fraud.pipeline_graph_load import handler as graph_load
from lambdas.fraud.pipeline_hyperparameters import handler as hyperparameters
from lambdas.fraud.pipeline_ingest import handler as ingest
from lambdas.fraud.pipeline_normalize import handler as normalize
from lambdas.fraud.pipeline_package_model import handler as package_model
from vigil.fraud import pipeline

RAW, PROCESSED = "vigil-raw", "vigil-processed"
ENV = {
    "RAW_BUCKET": RAW,
    "PROCESSED_BUCKET": PROCESSED,
    "ENDPOINT_NAME": "vigil-fraud-rgcn",
    "TRAINING_INSTANCE_TYPE": "ml.g5.xlarge",
    "ENDPOINT_INSTANCE_TYPE": "ml.m5.large",
    "ENDPOINT_INSTANCE_COUNT": "2",
}


@pytest.fixture(scope="module")
def _moto():
    with mock_aws():  # started once per module (seconds each); reset per test below
        yield


@pytest.fixture
def aws(_moto, monkeypatch):
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in (RAW, PROCESSED):
        s3.create_bucket(Bucket=bucket)
    return s3


def _tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


# --- normalize -----------------------------------------------------------------------------------
def test_normalize_fills_every_default(aws, lambda_context):
    config = normalize.handler({"input": {}, "executionName": "exec-1"}, lambda_context)
    assert config["runId"] == "exec-1"
    assert config["data"]["location"] == f"s3://{RAW}/tables/"
    assert config["processed"] == f"s3://{PROCESSED}/runs/exec-1/processed/"
    assert config["graphLoad"] == {
        "enabled": True,
        "source": f"s3://{PROCESSED}/runs/exec-1/processed/neptune/",
        "format": "opencypher",
    }
    assert config["training"]["instanceType"] == "ml.g5.xlarge"
    assert config["training"]["jobName"] == config["model"]["name"] == "vigil-fraud-exec-1"
    assert config["endpoint"] == {
        "name": "vigil-fraud-rgcn",
        "configName": "vigil-fraud-exec-1",
        "instanceType": "ml.m5.large",
        "instanceCount": 2,
    }
    assert config["hyperparameters"] == pipeline.Hyperparameters().model_dump(by_alias=True)


def test_normalize_applies_overrides(aws, lambda_context):
    event = {
        "input": {
            "dataLocation": f"s3://{RAW}/incoming/2026-11/",
            "runId": "nightly-7",
            "hyperparameters": {"nEpochs": 5, "lr": 0.1},
            "instanceTypes": {"training": "ml.p3.2xlarge", "endpoint": "ml.c5.xlarge"},
            "graphLoad": False,
        },
        "executionName": "ignored-when-runId-given",
    }
    config = normalize.handler(event, lambda_context)
    assert config["runId"] == "nightly-7"
    assert config["data"]["location"] == f"s3://{RAW}/incoming/2026-11/"
    assert config["hyperparameters"]["nEpochs"] == 5
    assert config["hyperparameters"]["lr"] == 0.1
    assert config["training"]["instanceType"] == "ml.p3.2xlarge"
    assert config["endpoint"]["instanceType"] == "ml.c5.xlarge"
    assert config["graphLoad"]["enabled"] is False


@pytest.mark.parametrize(
    ("input_", "message"),
    [
        ({"hyperparameters": {"nEpoch": 5}}, "nEpoch"),
        ({"hyperparameters": {"lr": -1}}, "lr"),
        ({"dataLocation": "s3://someone-elses-bucket/x/"}, "must be in the raw bucket"),
        ({"instanceTypes": {"training": "ml.m5.xlarge"}}, "GPU"),
        ({"instanceTypes": {"endpoint": "m5.large"}}, "not a SageMaker instance type"),
        ({"runId": "has spaces"}, "runId"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_normalize_rejects_bad_input_naming_the_problem(aws, lambda_context, input_, message):
    with pytest.raises(pipeline.PipelineError, match=re.escape(message)):
        normalize.handler({"input": input_, "executionName": "e"}, lambda_context)


def test_normalize_rejects_an_incomplete_environment(aws, lambda_context, monkeypatch):
    monkeypatch.delenv("PROCESSED_BUCKET")
    with pytest.raises(pipeline.PipelineError, match="processed_bucket"):
        normalize.handler({"input": {}, "executionName": "e"}, lambda_context)


# --- hyperparameters ----------------------------------------------------------------------------
def test_hyperparameters_become_sagemaker_strings(lambda_context):
    typed = pipeline.Hyperparameters(n_epochs=7, lr=0.05).model_dump(by_alias=True)
    result = hyperparameters.handler({"hyperparameters": typed}, lambda_context)
    assert result["nEpochs"] == "7"
    assert result["lr"] == "0.05"
    assert all(isinstance(v, str) for v in result.values())
    assert set(result) == set(pipeline.Hyperparameters.aliases().values())


def test_hyperparameters_reject_wrong_types(lambda_context):
    with pytest.raises(pipeline.PipelineError, match="nHidden"):
        hyperparameters.handler({"hyperparameters": {"nHidden": "many"}}, lambda_context)


def test_metric_definitions_match_the_training_log_lines():
    log = [  # lines as training/fraud/train.py prints them
        "epoch = 3; train_loss = 0.4321; valid_roc_auc = 8.5e-01;",
        "test_pr_auc = 0.61;",
        "baseline_test_roc_auc = 0.7;",
    ]
    found = {}
    for definition in pipeline.metric_definitions():
        for line in log:
            match = re.search(definition["Regex"], line)
            if match:
                found.setdefault(definition["Name"], []).append(float(match.group(1)))
    assert found == {
        "train_loss": [0.4321],
        "valid_roc_auc": [0.85],
        "test_pr_auc": [0.61],
        "baseline_test_roc_auc": [0.7],  # and not also test_roc_auc
    }


def test_hyperparameters_are_the_training_scripts_flags():
    import argparse

    from pydantic import Field

    from vigil.fraud import training

    args = training.parse_args(["--train", "x"])
    paths = {flag.replace("-", "_") for flag in (*training.SAGEMAKER_PATHS, *training.RUN_FLAGS)}
    defaults = pipeline.Hyperparameters().model_dump()
    assert {k: v for k, v in vars(args).items() if k not in paths} == defaults

    class Wider(pipeline.Hyperparameters):  # a field added to the model is a flag at once
        n_heads: int = Field(4, ge=1, description="attention heads")

    parser = argparse.ArgumentParser()
    training.add_hyperparameter_args(parser, Wider)
    flags = [a.option_strings[0][2:] for a in parser._actions if a.dest != "help"]
    assert flags == Wider.flags()
    assert vars(parser.parse_args(["--n-heads", "8", "--lr", "0.5"])) == {
        **Wider().model_dump(),
        "n_heads": 8,
        "lr": 0.5,
    }


# --- ingest -------------------------------------------------------------------------------------
def test_ingest_stages_one_folder_per_table_and_drops_stale_files(aws, lambda_context):
    aws.put_object(Bucket=RAW, Key="incoming/train_transaction.csv", Body=b"TransactionID\n1\n")
    aws.put_object(Bucket=RAW, Key="incoming/train_identity.csv.gz", Body=b"gz")
    aws.put_object(Bucket=RAW, Key="incoming/README.txt", Body=b"not data")
    aws.put_object(Bucket=RAW, Key="tables/transaction/old_transaction.csv", Body=b"stale")
    event = {"location": f"s3://{RAW}/incoming/", "tables": f"s3://{RAW}/tables/"}
    result = ingest.handler(event, lambda_context)
    assert result["staged"] is True and result["files"] == 2 and result["format"] == "csv"
    assert result["transactions"] == f"s3://{RAW}/tables/transaction/"
    assert result["identity"] == f"s3://{RAW}/tables/identity/"
    keys = sorted(o["Key"] for o in aws.list_objects_v2(Bucket=RAW, Prefix="tables/")["Contents"])
    assert keys == [
        "tables/identity/train_identity.csv.gz",
        "tables/transaction/train_transaction.csv",
    ]


def test_ingest_is_a_no_op_when_the_tables_are_already_staged(aws, lambda_context):
    aws.put_object(Bucket=RAW, Key="tables/transaction/train_transaction.parquet", Body=b"p")
    aws.put_object(Bucket=RAW, Key="tables/identity/train_identity.parquet", Body=b"p")
    event = {"location": f"s3://{RAW}/tables/", "tables": f"s3://{RAW}/tables/"}
    result = ingest.handler(event, lambda_context)
    assert result["staged"] is False and result["files"] == 2
    assert result["format"] == "parquet"


def test_ingest_rejects_a_mix_of_csv_and_parquet(aws, lambda_context):
    aws.put_object(Bucket=RAW, Key="in/train_transaction.parquet", Body=b"p")
    aws.put_object(Bucket=RAW, Key="in/train_identity.csv", Body=b"c")
    event = {"location": f"s3://{RAW}/in/", "tables": f"s3://{RAW}/tables/"}
    with pytest.raises(pipeline.PipelineError, match="mixed CSV and Parquet"):
        ingest.handler(event, lambda_context)


def test_ingest_names_the_missing_table(aws, lambda_context):
    aws.put_object(Bucket=RAW, Key="incoming/train_transaction.csv", Body=b"x")
    event = {"location": f"s3://{RAW}/incoming/", "tables": f"s3://{RAW}/tables/"}
    with pytest.raises(pipeline.PipelineError, match="no train_identity file"):
        ingest.handler(event, lambda_context)


def test_a_failing_step_is_counted_logged_and_raised(aws, lambda_context, capsys, monkeypatch):
    """Every handler counts errors through one decorator (``vigil.lambda_handler``)."""
    logged = []
    monkeypatch.setattr(ingest.logger, "exception", lambda message, **_: logged.append(message))
    aws.put_object(Bucket=RAW, Key="incoming/train_transaction.csv", Body=b"x")
    event = {"location": f"s3://{RAW}/incoming/", "tables": f"s3://{RAW}/tables/"}
    with pytest.raises(pipeline.PipelineError):
        ingest.handler(event, lambda_context)
    assert '"PipelineStepErrors":[1.0]' in capsys.readouterr().out  # the flushed EMF metric
    assert logged == ["pipeline step failed"]  # logged with its traceback (logger.exception)


def test_a_malformed_event_is_not_a_step_error(aws, lambda_context, capsys):
    with pytest.raises(Exception, match="location"):
        ingest.handler({"tables": f"s3://{RAW}/tables/"}, lambda_context)
    assert "PipelineStepErrors" not in capsys.readouterr().out


# --- Neptune bulk load --------------------------------------------------------------------------
@pytest.fixture
def neptune(monkeypatch):
    """boto3's real neptunedata client (request/response shapes checked against the service
    model by botocore's Stubber); the loader HTTP API itself has no local engine."""
    monkeypatch.setenv("NEPTUNE_ENDPOINT", "neptune.cluster.local")
    monkeypatch.setenv("NEPTUNE_LOAD_ROLE_ARN", "arn:aws:iam::123456789012:role/load")
    client = pipeline.neptune_client("neptune.cluster.local")
    assert client.meta.endpoint_url == "https://neptune.cluster.local:8182"
    monkeypatch.setattr(pipeline, "neptune_client", lambda endpoint: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_graph_load_start_sends_the_documented_loader_request(neptune, lambda_context):
    source = f"s3://{PROCESSED}/runs/r1/processed/neptune/"
    neptune.add_response(
        "start_loader_job",
        {"status": "200 OK", "payload": {"loadId": "load-42"}},
        expected_params={
            "source": source,
            "format": "opencypher",
            "s3BucketRegion": "us-east-1",
            "iamRoleArn": "arn:aws:iam::123456789012:role/load",
            "mode": "AUTO",
            "failOnError": True,
            "parallelism": "MEDIUM",
            "updateSingleCardinalityProperties": True,
            "queueRequest": True,
        },
    )
    event = {"action": "start", "source": source, "format": "opencypher"}
    assert graph_load.handler(event, lambda_context) == {"loadId": "load-42"}


def test_graph_load_status_reports_progress_then_completion(neptune, lambda_context):
    for status in ("LOAD_IN_PROGRESS", "LOAD_COMPLETED"):
        neptune.add_response(
            "get_loader_job_status",
            {
                "status": "200 OK",
                "payload": {"overallStatus": {"status": status, "totalRecords": 9}},
            },
            expected_params={"loadId": "load-42", "details": True, "errors": True},
        )
    event = {"action": "status", "loadId": "load-42"}
    first = graph_load.handler(event, lambda_context)
    second = graph_load.handler(event, lambda_context)
    assert (first["done"], first["status"]) == (False, "LOAD_IN_PROGRESS")
    assert (second["done"], second["records"]) == (True, 9)


def test_graph_load_failure_raises_with_the_loader_errors(neptune, lambda_context):
    neptune.add_response(
        "get_loader_job_status",
        {
            "status": "200 OK",
            "payload": {
                "overallStatus": {"status": "LOAD_FAILED", "parsingErrors": 1},
                "errors": {
                    "errorLogs": [
                        {
                            "errorCode": "PARSING_ERROR",
                            "errorMessage": "bad header",
                            "fileName": "nodes_card1/part-0.csv",
                            "recordNum": 0,
                        }
                    ]
                },
            },
        },
    )
    with pytest.raises(pipeline.GraphLoadFailed, match="LOAD_FAILED: PARSING_ERROR: bad header"):
        graph_load.handler({"action": "status", "loadId": "load-42"}, lambda_context)


def test_graph_load_rejects_an_incomplete_request(neptune, lambda_context):
    with pytest.raises(pipeline.PipelineError, match="needs 'loadId'"):
        graph_load.handler({"action": "status"}, lambda_context)


# --- package model ------------------------------------------------------------------------------
def test_package_model_merges_model_files_with_the_inference_bundle(
    aws, lambda_context, monkeypatch
):
    model = _tar({"model.pt": b"weights", "code/inference.py": b"# stale code from training"})
    bundle = _tar(
        {
            "code/inference.py": b"def model_fn(d): ...",
            "code/vigil/fraud/model.py": b"# model",
            "code/requirements.txt": b"dgl==2.4.0\n",
        }
    )
    aws.put_object(Bucket=PROCESSED, Key="runs/r1/model/job/output/model.tar.gz", Body=model)
    aws.put_object(Bucket=PROCESSED, Key="bundles/code.tar.gz", Body=bundle)
    monkeypatch.setenv("CODE_BUNDLE_URI", f"s3://{PROCESSED}/bundles/code.tar.gz")
    event = {
        "modelUri": f"s3://{PROCESSED}/runs/r1/model/job/output/model.tar.gz",
        "outputUri": f"s3://{PROCESSED}/runs/r1/packaged/model.tar.gz",
    }
    result = package_model.handler(event, lambda_context)
    assert result["modelDataUrl"] == event["outputUri"]
    packaged = aws.get_object(Bucket=PROCESSED, Key="runs/r1/packaged/model.tar.gz")["Body"].read()
    assert len(packaged) == result["bytes"]
    members = _members(packaged)
    assert members["model.pt"] == b"weights"
    assert members["code/inference.py"] == b"def model_fn(d): ..."
    assert set(members) == {
        "model.pt",
        "code/inference.py",
        "code/vigil/fraud/model.py",
        "code/requirements.txt",
    }


def test_package_model_names_a_missing_artifact(aws, lambda_context, monkeypatch):
    monkeypatch.setenv("CODE_BUNDLE_URI", f"s3://{PROCESSED}/bundles/code.tar.gz")
    event = {
        "modelUri": f"s3://{PROCESSED}/runs/r1/nothing.tar.gz",
        "outputUri": f"s3://{PROCESSED}/runs/r1/packaged/model.tar.gz",
    }
    with pytest.raises(pipeline.PipelineError, match="cannot read s3://vigil-processed/runs/r1"):
        package_model.handler(event, lambda_context)


# --- publish featurizer -------------------------------------------------------------------------
def _spec_json() -> bytes:
    from vigil.fraud.features import CategoricalFeature, FeaturizerSpec, NumericFeature

    spec = FeaturizerSpec(
        numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
        categorical=[CategoricalFeature("ProductCD", ["W", "C"])],
        entity_columns=["card1"],
    )
    return spec.to_json().encode()


def test_publish_featurizer_copies_the_runs_spec_to_the_scoring_key(aws, lambda_context):
    spec = _spec_json()
    aws.put_object(Bucket=PROCESSED, Key="runs/r1/processed/featurizer.json", Body=spec)
    aws.put_object(Bucket=PROCESSED, Key="current/featurizer.json", Body=b'{"stale": true}')
    event = {
        "action": "publishFeaturizer",
        "source": f"s3://{PROCESSED}/runs/r1/processed/featurizer.json",
        "destination": f"s3://{PROCESSED}/current/featurizer.json",
    }
    result = package_model.handler(event, lambda_context)
    assert result["dim"] == 3 and result["bytes"] == len(spec)
    published = aws.get_object(Bucket=PROCESSED, Key="current/featurizer.json")
    assert published["Body"].read() == spec
    assert published["ContentType"] == "application/json"


def test_publish_featurizer_leaves_the_published_spec_on_a_bad_or_missing_source(aws):
    aws.put_object(Bucket=PROCESSED, Key="current/featurizer.json", Body=b"previous")
    aws.put_object(Bucket=PROCESSED, Key="runs/r2/processed/featurizer.json", Body=b"[1, 2]")
    destination = f"s3://{PROCESSED}/current/featurizer.json"
    with pytest.raises(pipeline.PipelineError, match="is not a valid featurizer spec"):
        pipeline.publish_featurizer(
            f"s3://{PROCESSED}/runs/r2/processed/featurizer.json", destination
        )
    with pytest.raises(pipeline.PipelineError, match="cannot read the run's featurizer spec"):
        pipeline.publish_featurizer(
            f"s3://{PROCESSED}/runs/r3/processed/featurizer.json", destination
        )
    body = aws.get_object(Bucket=PROCESSED, Key="current/featurizer.json")["Body"].read()
    assert body == b"previous"


def test_package_model_event_needs_the_fields_of_its_action(lambda_context):
    from lambdas.fraud.pipeline_package_model.handler import PackageModelEvent

    with pytest.raises(ValueError, match="needs source, destination"):
        PackageModelEvent.model_validate({"action": "publishFeaturizer"})
    with pytest.raises(ValueError, match="needs outputUri"):
        PackageModelEvent.model_validate({"modelUri": "s3://b/model.tar.gz"})


# --- endpoint status ----------------------------------------------------------------------------
def test_endpoint_status_missing_then_in_service(aws, lambda_context):
    event = {"endpointName": "vigil-fraud-rgcn"}
    assert endpoint_status.handler(event, lambda_context)["exists"] is False
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    sagemaker.create_model(
        ModelName="m",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/m",
        PrimaryContainer={"Image": "img", "ModelDataUrl": f"s3://{PROCESSED}/m.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="cfg-1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="vigil-fraud-rgcn", EndpointConfigName="cfg-1")
    status = endpoint_status.handler(event, lambda_context)
    assert status["exists"] is True
    assert status["status"] == "InService"
    assert status["configName"] == "cfg-1"
