"""The SYNTHESIZED fraud pipeline state machine, executed offline by moto's ASL interpreter.

``local/standins/stepfunctions_runner.py`` resolves the template's definition, deploys the buckets, topic,
Glue resources and Lambda handlers it references into moto, publishes the stack's assets (the
inference code bundle the package step reads) and runs executions. What moto cannot run is
overridden in a copy of the definition (listed in ``pipeline.localizations``): the SageMaker
``.sync`` training job, ``UpdateEndpoint`` and the Glue ``.sync`` run act on moto's backends.
The Neptune loader HTTP API has no local engine: the graph-load Lambda talks to boto3's real
``neptunedata`` client with botocore's Stubber checking every request against the API model.
"""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from botocore.stub import ANY, Stubber

from cdk.fraud.stack import PIPELINE_ID, PIPELINE_STATE_MACHINE
from local.standins.stepfunctions_runner import (
    GlueJobRunInMoto,
    TaskFailure,
    TrainingJobInMoto,
    model_tarball,
    started,
)
from vigil.fraud import pipeline

pytestmark = [pytest.mark.infra, pytest.mark.slow]
REGION = "us-east-1"
ENDPOINT = "vigil-fraud-rgcn"


@pytest.fixture(scope="module")
def fraud(templates, vigil_synth):
    return templates["Vigil-Fraud"], vigil_synth.outdir / "Vigil-Fraud.assets.json"


@pytest.fixture
def neptune(monkeypatch):
    client = boto3.client(
        "neptunedata", endpoint_url="https://neptune.local:8182", region_name=REGION
    )
    monkeypatch.setattr(pipeline, "neptune_client", lambda endpoint: client)
    with Stubber(client) as stubber:
        yield stubber


def _loads_then_completes(stubber: Stubber, source_prefix: str) -> None:
    stubber.add_response(
        "start_loader_job",
        {"status": "200 OK", "payload": {"loadId": "load-1"}},
        expected_params={
            "source": source_prefix,
            "format": "opencypher",
            "s3BucketRegion": REGION,
            "iamRoleArn": ANY,
            "mode": "AUTO",
            "failOnError": True,
            "parallelism": "MEDIUM",
            "updateSingleCardinalityProperties": True,
            "queueRequest": True,
        },
    )
    for status in ("LOAD_IN_PROGRESS", "LOAD_COMPLETED"):
        stubber.add_response(
            "get_loader_job_status",
            {"status": "200 OK", "payload": {"overallStatus": {"status": status}}},
            expected_params={"loadId": "load-1", "details": True, "errors": True},
        )


@pytest.fixture
def local(fraud):
    template, assets = fraud
    with started(
        template,
        assets=assets,
        only_assets=lambda name: name.startswith(f"{PIPELINE_ID}/"),
        state_machine=PIPELINE_STATE_MACHINE,
    ) as local_pipeline:
        raw = local_pipeline.name_of("DataRawBucket")
        s3 = boto3.client("s3", region_name=REGION)
        s3.put_object(Bucket=raw, Key="incoming/train_transaction.csv", Body=b"TransactionID\n1\n")
        s3.put_object(Bucket=raw, Key="incoming/train_identity.csv", Body=b"TransactionID\n1\n")
        yield local_pipeline


def _subscribe_queue(local):
    """Subscribe an SQS queue to the failure topic (before running) → a reader of its messages."""
    sqs = boto3.client("sqs", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="pipeline-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    topic = local.name_of("PipelineFailureTopic")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    def read() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(m["Body"]) for m in messages]

    return read


CURRENT_FEATURIZER = "current/featurizer.json"  # vigil:fraud:scoringFeaturizerKey's default


def _etl_featurizer(local, run_id: str) -> bytes:
    """What the Glue ETL writes beside the run's processed data (glue/fraud_etl.py)."""
    from vigil.fraud.features import CategoricalFeature, FeaturizerSpec, NumericFeature

    spec = FeaturizerSpec(
        numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
        categorical=[CategoricalFeature("ProductCD", ["W", run_id])],
        entity_columns=["card1"],
    ).to_json()
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=local.name_of("DataProcessedBucket"),
        Key=f"runs/{run_id}/processed/featurizer.json",
        Body=spec.encode(),
    )
    return spec.encode()


def _published_featurizer(local) -> bytes | None:
    s3 = boto3.client("s3", region_name=REGION)
    try:
        obj = s3.get_object(Bucket=local.name_of("DataProcessedBucket"), Key=CURRENT_FEATURIZER)
    except s3.exceptions.NoSuchKey:
        return None
    return obj["Body"].read()


def _trained_model() -> bytes:
    return model_tarball({"model.pt": b"rgcn weights", "featurizer.json": b"{}"})


def _members(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name for m in tar.getmembers() if m.isfile()}


def test_create_endpoint_path(local, neptune):
    processed = local.name_of("DataProcessedBucket")
    _loads_then_completes(neptune, f"s3://{processed}/runs/first/processed/neptune/")
    training = TrainingJobInMoto(_trained_model())
    glue = GlueJobRunInMoto()
    raw = local.name_of("DataRawBucket")
    spec = _etl_featurizer(local, "first")
    run = local.run(
        {
            "dataLocation": f"s3://{raw}/incoming/",
            "runId": "first",
            "hyperparameters": {"nEpochs": 3},
        },
        overrides={"TrainModel": training, "ProcessData": glue},
    )
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.entered("CreateEndpoint") and not run.entered("UpdateEndpoint")
    assert run.states.count("GetGraphLoadStatus") == 2  # polled until LOAD_COMPLETED
    neptune.assert_no_pending_responses()

    s3 = boto3.client("s3", region_name=REGION)
    staged = s3.list_objects_v2(Bucket=raw, Prefix="tables/")["Contents"]
    assert sorted(o["Key"] for o in staged) == [
        "tables/identity/train_identity.csv",
        "tables/transaction/train_transaction.csv",
    ]
    (glue_request,) = glue.requests
    assert glue_request["Arguments"] == {
        "--transactions": f"s3://{raw}/tables/transaction/",
        "--identity": f"s3://{raw}/tables/identity/",
        "--output": f"s3://{processed}/runs/first/processed/",
        "--input-format": "csv",
    }
    (job,) = training.requests
    assert job["TrainingJobName"] == "vigil-fraud-first"
    assert job["HyperParameters"]["n-epochs"] == "3"
    assert job["HyperParameters"]["n-hidden"] == "32"
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"s3://{processed}/runs/first/processed/"
    )

    packaged = s3.get_object(Bucket=processed, Key="runs/first/packaged/model.tar.gz")["Body"]
    members = _members(packaged.read())
    assert {"model.pt", "featurizer.json", "code/inference.py"} <= members
    # serving needs torch only (in the image): the network-isolated container installs nothing
    assert "code/requirements.txt" not in members
    assert any(m.startswith("code/vigil/fraud/") for m in members)

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"] == "vigil-fraud-first"
    model = sagemaker.describe_model(ModelName="vigil-fraud-first")
    assert model["PrimaryContainer"]["ModelDataUrl"] == (
        f"s3://{processed}/runs/first/packaged/model.tar.gz"
    )
    # published for the scoring Lambda only after the endpoint reported InService
    assert run.states[-3:] == ["EndpointInService", "PublishFeaturizer", "PipelineSucceeded"]
    assert _published_featurizer(local) == spec


def _existing_endpoint(config_name: str) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model(
        ModelName="previous",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/previous",
        PrimaryContainer={"Image": "previous-image", "ModelDataUrl": "s3://x/model.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=config_name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "previous",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config_name)


def test_update_endpoint_path_without_graph_load_after_a_throttled_call(local, neptune):
    _existing_endpoint("previous-config")
    processed = local.name_of("DataProcessedBucket")
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=processed, Key=CURRENT_FEATURIZER, Body=b"previous run's spec")
    spec = _etl_featurizer(local, "second")
    throttled = []
    ingest = local.functions[local.name_of("PipelineFunctionsIngestFunction")]

    def ingest_throttled_once(event):
        if not throttled:
            throttled.append(event)
            raise TaskFailure("Lambda.TooManyRequestsException", "Rate exceeded")
        return ingest.invoke(event)

    raw = local.name_of("DataRawBucket")
    run = local.run(
        {"dataLocation": f"s3://{raw}/incoming/", "runId": "second", "graphLoad": False},
        overrides={
            "TrainModel": TrainingJobInMoto(_trained_model()),
            "IngestData": ingest_throttled_once,
        },
    )
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.states.count("IngestData") == 1 and len(throttled) == 1  # retried in the state
    assert run.entered("UpdateEndpoint") and not run.entered("CreateEndpoint")
    assert not run.entered("StartGraphLoad")
    endpoint = boto3.client("sagemaker", region_name=REGION).describe_endpoint(
        EndpointName=ENDPOINT
    )
    assert endpoint["EndpointConfigName"] == "vigil-fraud-second"
    assert any("UpdateEndpoint" in line for line in local.localizations)
    assert run.states[-2:] == ["PublishFeaturizer", "PipelineSucceeded"]
    assert _published_featurizer(local) == spec  # replaced the previous run's spec


def test_glue_failure_notifies_and_fails(local, neptune):
    read_messages = _subscribe_queue(local)
    training = TrainingJobInMoto(_trained_model())
    raw = local.name_of("DataRawBucket")
    _etl_featurizer(local, "third")  # even if the ETL got as far as writing its spec
    run = local.run(
        {"dataLocation": f"s3://{raw}/incoming/", "runId": "third"},
        overrides={
            "ProcessData": GlueJobRunInMoto(final_state="FAILED", error_message="Executor OOM"),
            "TrainModel": training,
        },
    )
    assert run.status == "FAILED"
    assert run.states[-3:] == ["ProcessData", "NotifyFailure", "PipelineFailed"]
    assert run.error == "FraudPipelineFailed"
    assert "Glue.JobRunFailed" in run.cause and "Executor OOM" in run.cause
    assert training.requests == []
    (message,) = read_messages()
    assert message["Subject"] == "Vigil fraud training pipeline failed"
    body = json.loads(message["Message"])
    assert body["error"] == "Glue.JobRunFailed"
    assert "Executor OOM" in body["cause"]
    assert body["execution"] == run.arn
    assert not run.entered("PublishFeaturizer") and _published_featurizer(local) is None


def test_training_failure_notifies_and_fails(local, neptune):
    read_messages = _subscribe_queue(local)
    raw = local.name_of("DataRawBucket")
    _etl_featurizer(local, "fourth")  # the ETL succeeded and wrote its spec; training failed
    run = local.run(
        {"dataLocation": f"s3://{raw}/incoming/", "runId": "fourth"},
        overrides={
            "TrainModel": TrainingJobInMoto(failure_reason="AlgorithmError: CUDA out of memory")
        },
    )
    assert run.status == "FAILED"
    assert run.states[-3:] == ["TrainModel", "NotifyFailure", "PipelineFailed"]
    assert not run.entered("PackageModel")
    (message,) = read_messages()
    body = json.loads(message["Message"])
    assert body["error"] == "SageMaker.TrainingJobFailed"
    assert "CUDA out of memory" in body["cause"]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert not run.entered("PublishFeaturizer") and _published_featurizer(local) is None


def test_failed_crawl_notifies_with_the_crawler_error(local):
    read_messages = _subscribe_queue(local)
    crawler = local.name_of("DataCrawler")

    def crawl_failed(params):  # GetCrawler's answer after a crawl that failed
        assert params == {"Name": crawler}
        return {
            "Crawler": {
                "Name": crawler,
                "State": "READY",
                "LastCrawl": {"Status": "FAILED", "ErrorMessage": "Access denied to tables/"},
            }
        }

    raw = local.name_of("DataRawBucket")
    run = local.run(
        {"dataLocation": f"s3://{raw}/incoming/"}, overrides={"GetCrawler": crawl_failed}
    )
    assert run.status == "FAILED"
    assert run.states[-5:] == [
        "CrawlerDone",
        "CrawlSucceeded",
        "CrawlFailed",
        "NotifyFailure",
        "PipelineFailed",
    ]
    body = json.loads(read_messages()[0]["Message"])
    assert body["error"] == "CrawlFailed" and "Access denied to tables/" in body["cause"]


def test_bad_input_fails_at_the_first_state_naming_the_field(local):
    read_messages = _subscribe_queue(local)
    run = local.run({"hyperparameters": {"nEpoch": 3}})
    assert run.status == "FAILED"
    assert run.states == ["NormalizeParameters", "NotifyFailure", "PipelineFailed"]
    (message,) = read_messages()
    body = json.loads(message["Message"])
    assert body["error"] == "PipelineError" and "nEpoch" in body["cause"]


def test_the_synthesized_definition_is_not_changed_by_localizing(local):
    before = json.dumps(local.synthesized_definition(), sort_keys=True)
    local.localized_definition({"TrainModel": lambda params: {}})
    assert json.dumps(local.synthesized_definition(), sort_keys=True) == before
    localized = local.localized_definition({})  # TrainModel (.sync) cannot run in moto alone
    assert localized["States"]["TrainModel"]["Resource"].endswith("override-TrainModel")
    assert (
        "TrainModel: arn:aws:states:::sagemaker:createTrainingJob.sync → fails: no override given"
        in (local.localizations)
    )
    with pytest.raises(KeyError, match="NoSuchState"):
        local.localized_definition({"NoSuchState": lambda params: {}})
