"""With stateShards > 1 (and the state in S3): Firehose writes each shard under its own prefix, the
detector scales out, and the stack stays cdk-nag and cfn-lint clean."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from cdk.app_builder import build_app
from local.standins.synth import new_app, synthesize
from tests.infra.test_gates import _cfn_lint
from vigil.air_quality.sharding import shard_of

pytestmark = pytest.mark.infra

SHARDS = 32


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("cdk.out.sharded")
    app = new_app(
        outdir,
        **{
            "vigil:systems": ["air-quality"],
            "vigil:air-quality:stateShards": SHARDS,
            "vigil:air-quality:stateStore": "s3",
        },
    )
    build_app(app)
    synthesis = synthesize(app, outdir)
    assert synthesis.error is None, synthesis.error
    return synthesis


def _resources(synthesis, kind: str) -> list[dict]:
    template = synthesis.templates()["Vigil-AirQuality"]
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def _stream(synthesis) -> dict:
    (stream,) = _resources(synthesis, "AWS::KinesisFirehose::DeliveryStream")
    return stream["ExtendedS3DestinationConfiguration"]


def test_firehose_partitions_readings_by_shard(sharded):
    s3 = _stream(sharded)
    assert s3["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert s3["Prefix"].startswith("readings/shard=!{partitionKeyFromQuery:shard}/year=")
    assert s3["BufferingHints"]["SizeInMBs"] >= 64  # dynamic partitioning's minimum


@pytest.mark.skipif(shutil.which("jq") is None, reason="the jq binary is not installed")
def test_the_deployed_jq_query_puts_a_place_in_the_detectors_shard(sharded):
    (processor,) = _stream(sharded)["ProcessingConfiguration"]["Processors"]
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert parameters["JsonParsingEngine"] == "JQ-1.6"
    places = [f"B-{i}" for i in range(100, 140)]
    lines = "\n".join(json.dumps({"LOCATION_ID": p, "CO": 1.0}) for p in places)
    out = subprocess.run(
        ["jq", "-c", parameters["MetadataExtractionQuery"]],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [int(json.loads(line)["shard"]) for line in out] == [shard_of(p, SHARDS) for p in places]


def test_the_detector_scales_out_and_knows_the_shard_count(sharded):
    functions = [
        f
        for f in _resources(sharded, "AWS::Lambda::Function")
        if f.get("Description", "").startswith("Vigil air quality: score")
    ]
    (detector,) = functions
    assert detector["ReservedConcurrentExecutions"] == SHARDS
    # the configuration is joined with the bucket's name (its history prefix) at deploy time
    config = json.dumps(detector["Environment"]["Variables"]["DETECTOR_CONFIG"])
    assert f'\\"state_shards\\":{SHARDS}' in config


def test_state_in_s3_is_read_and_written_under_its_prefix_only(sharded):
    (detector,) = [
        f
        for f in _resources(sharded, "AWS::Lambda::Function")
        if f.get("Description", "").startswith("Vigil air quality: score")
    ]
    assert "STATE_BUCKET" in detector["Environment"]["Variables"]
    statements = [
        statement
        for policy in _resources(sharded, "AWS::IAM::Policy")
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    state = [s for s in statements if "state/detector/*" in json.dumps(s.get("Resource"))]
    actions = sorted(
        a for s in state for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]


def test_sharded_stack_is_nag_and_cfn_lint_clean(sharded):
    assert sharded.findings() == []
    problems = [
        f"{m['Rule']['Id']} {m['Message']}"
        for m in _cfn_lint(sharded.outdir / "Vigil-AirQuality.template.json")
    ]
    assert problems == []
