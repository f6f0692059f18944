"""Multi-worker training reaches the training job: the pipeline's ``trainingInstanceCount`` is
the job's instance count (one training process per host: vigil/fraud/distributed.py)."""

from __future__ import annotations

import pytest

from vigil.fraud.contract import PipelineEnvironment
from vigil.fraud.pipeline import normalize_input

pytestmark = pytest.mark.infra


def _definition(raw: dict) -> str:
    (machine,) = [
        r
        for logical_id, r in raw["Resources"].items()
        if logical_id.startswith("PipelineStateMachine")
        and r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "<token>" for p in parts)


def test_the_training_job_runs_on_as_many_hosts_as_the_run_asks(templates):
    definition = _definition(templates["Vigil-Fraud"])
    assert '"InstanceCount.$":"$.config.training.instanceCount"' in definition
    # every host gets the whole channel: each worker holds the graph and samples its share
    assert '"S3DataDistributionType":"FullyReplicated"' in definition


def test_the_run_input_carries_the_instance_count_through():
    env = PipelineEnvironment(raw_bucket="raw", processed_bucket="processed", endpoint_name="e")
    config = normalize_input({"trainingInstanceCount": 3}, "run-1", env)
    assert config["training"]["instanceCount"] == 3
