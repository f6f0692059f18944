"""Template assertions for the fraud data layer and training pipeline (cdk/fraud/data.py,
cdk/fraud/training_pipeline.py): encryption, Glue settings, the state machine's shape, IAM."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from cdk.fraud.stack import PIPELINE_STATE_MACHINE
from local.standins.stepfunctions_runner import LocalPipeline
from vigil.fraud.pipeline import Hyperparameters, metric_definitions

pytestmark = pytest.mark.infra

MY_PREFIXES = ("NetworkGraph", "Data", "Pipeline")
STATE_ORDER = [
    "NormalizeParameters",
    "IngestData",
    "StartCrawler",
    "ProcessData",
    "BuildHyperparameters",
    "TrainModel",
    "StartGraphLoad",
    "PackageModel",
    "CreateModel",
    "CreateEndpointConfig",
    "CheckEndpoint",
    "CreateEndpoint",
    "UpdateEndpoint",
    "GetEndpointStatus",
]


@pytest.fixture(scope="module")
def fraud(templates) -> dict:
    return templates["Vigil-Fraud"]


@pytest.fixture(scope="module")
def definition(fraud) -> dict:
    return LocalPipeline(fraud, PIPELINE_STATE_MACHINE).synthesized_definition()


def _of_type(template: dict, kind: str, prefix: str = "") -> dict[str, dict]:
    return {
        k: r for k, r in template["Resources"].items() if r["Type"] == kind and k.startswith(prefix)
    }


def _one(template: dict, kind: str, prefix: str = "") -> dict:
    found = _of_type(template, kind, prefix)
    assert len(found) == 1, sorted(found)
    return next(iter(found.values()))["Properties"]


# --- data ---------------------------------------------------------------------------------------
def test_raw_and_processed_buckets_are_kms_tls_versioned_and_logged(fraud):
    buckets = _of_type(fraud, "AWS::S3::Bucket", "Data")
    assert len(buckets) == 2
    for bucket in buckets.values():
        props = bucket["Properties"]
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert "LoggingConfiguration" in props
    policies = [p["Properties"] for p in _of_type(fraud, "AWS::S3::BucketPolicy", "Data").values()]
    assert len(policies) == 2
    for policy in policies:
        deny = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in deny)


def test_glue_job_version_workers_bookmarks_logging_and_encryption(fraud):
    job = _one(fraud, "AWS::Glue::Job")
    assert job["GlueVersion"] == "5.0"
    assert job["Command"]["Name"] == "glueetl"
    assert "cdk-hnb659fds-assets" in json.dumps(job["Command"]["ScriptLocation"])  # an asset
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 2)
    assert job["Timeout"] == 120 and job["MaxRetries"] == 0
    args = job["DefaultArguments"]
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert args["--enable-continuous-cloudwatch-log"] == "true"
    assert '.zip"' in json.dumps(args["--extra-py-files"])  # the vigil package
    config = _one(fraud, "AWS::Glue::SecurityConfiguration")
    assert job["SecurityConfiguration"] == config["Name"]
    encryption = config["EncryptionConfiguration"]
    assert encryption["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    crawler = _one(fraud, "AWS::Glue::Crawler")
    assert crawler["CrawlerSecurityConfiguration"] == config["Name"]
    assert crawler["Targets"]["S3Targets"][0]["Path"]["Fn::Join"][1][-1] == "/tables/"
    database = _one(fraud, "AWS::Glue::Database")
    assert crawler["DatabaseName"] == database["DatabaseInput"]["Name"]


# --- the state machine ---------------------------------------------------------------------------
def test_state_machine_logs_traces_and_times_out(fraud):
    machine = _one(fraud, "AWS::StepFunctions::StateMachine", PIPELINE_STATE_MACHINE)
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    local = LocalPipeline(fraud, PIPELINE_STATE_MACHINE)
    definition = json.loads(local.resolver.resolve(machine["DefinitionString"]))
    assert definition["TimeoutSeconds"] == 24 * 3600


def _successors(definition: dict, name: str) -> set[str]:
    state = definition["States"][name]
    nexts = {state.get("Next"), state.get("Default")}
    nexts |= {c["Next"] for c in state.get("Choices", [])}
    return {n for n in nexts if n}


def test_states_are_reachable_in_the_documented_order(definition):
    """Happy-path reachability: each state of the order reaches the next without the catch edges."""
    for first, second in itertools.pairwise(STATE_ORDER):
        seen, frontier = set(), [first]
        while frontier:
            for nxt in _successors(definition, frontier.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        if second == "UpdateEndpoint" and first == "CreateEndpoint":
            continue  # the two branches of EndpointExists
        assert second in seen, f"{second} is not reachable from {first}"
    choice = definition["States"]["EndpointExists"]
    assert choice["Choices"][0]["Next"] == "UpdateEndpoint"
    assert choice["Default"] == "CreateEndpoint"


def test_every_task_retries_throttling_and_catches_into_the_notification(definition):
    tasks = {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}
    assert len(tasks) >= 15
    for name, state in tasks.items():
        errors = [e for retry in state.get("Retry", []) for e in retry["ErrorEquals"]]
        assert any(re.search(r"Throttl|TooManyRequests", e) for e in errors), name
        if name == "NotifyFailure":
            assert state["Catch"][-1]["Next"] == "PipelineFailed"
            continue
        catch_all = [c for c in state["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
        assert catch_all and catch_all[0]["Next"] == "NotifyFailure", name
        assert catch_all[0]["ResultPath"] == "$.error", name
    notify = definition["States"]["NotifyFailure"]
    assert notify["Resource"].endswith(":states:::sns:publish")
    assert notify["Parameters"]["Message"]["cause.$"] == "$.error.Cause"
    assert notify["Next"] == "PipelineFailed"
    assert definition["States"]["PipelineFailed"]["Type"] == "Fail"


def test_long_running_steps_use_sync_integrations_and_lambdas_have_timeouts(definition):
    states = definition["States"]
    assert states["ProcessData"]["Resource"].endswith(":states:::glue:startJobRun.sync")
    assert states["TrainModel"]["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    for name, state in states.items():
        if ":lambda:" in state.get("Resource", ""):
            assert 30 <= state["TimeoutSeconds"] <= 900, name
    for wait in ("WaitForCrawler", "WaitForGraphLoad", "WaitForEndpoint"):
        assert states[wait]["Type"] == "Wait" and states[wait]["Seconds"] >= 30


def test_training_job_image_metrics_hyperparameters_and_limits(fraud, definition):
    params = definition["States"]["TrainModel"]["Parameters"]
    image = params["AlgorithmSpecification"]["TrainingImage"]
    # the region's image from the synth-time mapping (resolved here for the local region)
    assert image == fraud["Mappings"][_mapping(fraud)]["us-east-1"]["trainingGpu"]
    assert re.fullmatch(
        r"\d+\.dkr\.ecr\.us-east-1\.amazonaws\.com/pytorch-training:2\.3-gpu-py311", image
    )
    assert params["AlgorithmSpecification"]["MetricDefinitions"] == metric_definitions()
    hp = params["HyperParameters"]
    for name, alias in Hyperparameters.aliases().items():
        assert hp[f"{Hyperparameters.flag(name)}.$"] == f"$.hyperparameters.{alias}"
    assert hp["sagemaker_program"] == "train.py"
    # network isolated: the code bundle arrives as the "code" channel (an asset object)
    assert hp["sagemaker_submit_directory"].startswith("/opt/ml/input/data/code/")
    (code,) = [c for c in params["InputDataConfig"] if c["ChannelName"] == "code"]
    assert "cdk-" in code["DataSource"]["S3DataSource"]["S3Uri"]
    assert params["StoppingCondition"]["MaxRuntimeInSeconds"] == 6 * 3600
    assert params["ResourceConfig"]["VolumeKmsKeyId"].startswith("arn:aws:kms:")
    assert params["OutputDataConfig"]["KmsKeyId"].startswith("arn:aws:kms:")


def _mapping(fraud: dict) -> str:
    (name,) = [m for m in fraud.get("Mappings", {}) if "DlcImages" in m]
    return name


def test_every_region_maps_to_its_own_images(fraud):
    mapping = fraud["Mappings"][_mapping(fraud)]
    assert len(mapping) >= 20 and "eu-west-1" in mapping and "cn-north-1" in mapping
    for region, images in mapping.items():
        assert region in images["trainingGpu"] and region in images["inference"]
        assert images["inference"].endswith("pytorch-inference:2.3-cpu-py311")


def test_endpoint_name_is_the_setting_and_the_model_uses_the_packaged_artifact(definition):
    states = definition["States"]
    assert states["CreateEndpoint"]["Parameters"]["EndpointName"] == "vigil-fraud-rgcn"
    assert states["UpdateEndpoint"]["Parameters"]["EndpointName"] == "vigil-fraud-rgcn"
    container = states["CreateModel"]["Parameters"]["PrimaryContainer"]
    assert container["ModelDataUrl.$"] == "$.package.modelDataUrl"
    assert container["Image"].endswith("pytorch-inference:2.3-cpu-py311")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"


def test_failure_topic_is_kms_encrypted_and_tls_only(fraud):
    topic = _one(fraud, "AWS::SNS::Topic", "Pipeline")
    assert "KmsMasterKeyId" in topic
    (policy,) = _of_type(fraud, "AWS::SNS::TopicPolicy", "Pipeline").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in statements)


# --- IAM ----------------------------------------------------------------------------------------
def _statements(fraud: dict):
    for logical_id, policy in _of_type(fraud, "AWS::IAM::Policy").items():
        if logical_id.startswith(MY_PREFIXES):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def test_no_wildcard_actions_in_any_pipeline_policy(fraud):
    offenders = [
        (logical_id, action)
        for logical_id, statement in _statements(fraud)
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if "*" in action
    ]
    assert offenders == []


RESOURCE_STAR_ALLOWED = {
    # actions without resource-level permissions (AWS service authorization reference)
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "sagemaker:ListTags",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    # SageMaker places training and endpoint instances in the subnets with the execution role
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    # the deploy-time lookup of the S3 prefix list id for the SageMaker security group
    "ec2:DescribeManagedPrefixLists",
}


def test_star_resources_only_for_actions_that_have_no_resource_scope(fraud):
    for logical_id, statement in _statements(fraud):
        if statement["Resource"] == "*":
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert set(actions) <= RESOURCE_STAR_ALLOWED, (logical_id, actions)


def test_helper_lambdas_reach_only_their_named_resources(fraud):
    by_role = {}
    for logical_id, statement in _statements(fraud):
        if "PipelineFunctions" in logical_id:
            by_role.setdefault(logical_id.split("Role")[0], []).append(statement)
    normalize = next(v for k, v in by_role.items() if "Normalize" in k)
    assert {a for s in normalize for a in _as_list(s["Action"])} <= {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:Decrypt",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    status = next(v for k, v in by_role.items() if "EndpointStatus" in k)
    describe = [s for s in status if "sagemaker:DescribeEndpoint" in _as_list(s["Action"])]
    assert json.dumps(describe[0]["Resource"]).endswith(':endpoint/vigil-fraud-rgcn"]]}')
    graph = next(v for k, v in by_role.items() if "GraphLoad" in k)
    loader = [s for s in graph if "neptune-db:StartLoaderJob" in _as_list(s["Action"])]
    assert "ClusterResourceId" in json.dumps(loader[0]["Resource"])


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_graph_load_lambda_runs_in_the_isolated_subnets(fraud):
    functions = _of_type(fraud, "AWS::Lambda::Function", "PipelineFunctionsGraphLoad")
    (function,) = functions.values()
    vpc = function["Properties"]["VpcConfig"]
    assert {s["Ref"] for s in vpc["SubnetIds"]} == set(
        _of_type(fraud, "AWS::EC2::Subnet", "NetworkGraph")
    )
    others = _of_type(fraud, "AWS::Lambda::Function", "PipelineFunctions")
    assert sum("VpcConfig" in f["Properties"] for f in others.values()) == 1
