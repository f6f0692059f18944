"""Fraud MLOps pipeline: synth time of the fraud stack and offline state-machine execution time.

Synth: the app with only the fraud system (``vigil:systems=fraud``), cdk-nag attached, synthesized
in-process ``--synth-runs`` times (the first includes jsii/aws-cdk-lib start-up; the SageMaker SDK's
image URIs are memoised on disk after the first synth on a machine).

Execution: the synthesized state machine run by ``local/standins/stepfunctions_runner.py`` (moto's ASL
interpreter, the real helper handlers) along the create-endpoint path (every state, 2 graph-load
polls) ``--runs`` times, each in a fresh moto; the first run includes importing the handlers.
The Neptune loader API is answered by botocore's Stubber (no local loader engine exists).

    python benchmarks/fraud_pipeline.py        # prints one JSON object as its last line
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "VigilBench")
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)


def synth_fraud(outdir: Path) -> tuple[float, dict, Path]:
    import cdk  # noqa: F401
    from cdk.app_builder import build_app
    from local.standins.synth import new_app, synthesize

    start = time.perf_counter()
    app = new_app(outdir, **{"vigil:systems": "fraud"})
    build_app(app)
    result = synthesize(app, outdir)
    seconds = time.perf_counter() - start
    if result.error or result.findings():
        raise SystemExit(f"synth failed: {result.error} {result.findings()}")
    template = json.loads((outdir / "Vigil-Fraud.template.json").read_text())
    return seconds, template, outdir / "Vigil-Fraud.assets.json"


def run_create_path(template: dict, assets: Path) -> tuple[float, int]:
    import boto3
    from botocore.stub import Stubber

    from cdk.fraud.stack import PIPELINE_ID, PIPELINE_STATE_MACHINE
    from local.standins.stepfunctions_runner import TrainingJobInMoto, model_tarball, started
    from vigil.fraud import pipeline
    from vigil.fraud.features import CategoricalFeature, FeaturizerSpec, NumericFeature

    neptune = boto3.client("neptunedata", endpoint_url="https://neptune.local:8182")
    pipeline.neptune_client = lambda endpoint: neptune
    with (
        Stubber(neptune) as stub,
        started(
            template,
            assets=assets,
            only_assets=lambda name: name.startswith(f"{PIPELINE_ID}/"),
            state_machine=PIPELINE_STATE_MACHINE,
        ) as local,
    ):
        stub.add_response("start_loader_job", {"status": "200 OK", "payload": {"loadId": "l"}})
        for status in ("LOAD_IN_PROGRESS", "LOAD_COMPLETED"):
            stub.add_response(
                "get_loader_job_status",
                {"status": "200 OK", "payload": {"overallStatus": {"status": status}}},
            )
        raw = local.name_of("DataRawBucket")
        s3 = boto3.client("s3")
        for name in ("train_transaction.csv", "train_identity.csv"):
            s3.put_object(Bucket=raw, Key=f"incoming/{name}", Body=b"TransactionID\n1\n")
        # what the Glue ETL (not run here) writes beside the run's data, published at the end
        spec = FeaturizerSpec(
            numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
            categorical=[CategoricalFeature("ProductCD", ["W"])],
            entity_columns=["card1"],
        )
        s3.put_object(
            Bucket=local.name_of("DataProcessedBucket"),
            Key="runs/bench/processed/featurizer.json",
            Body=spec.to_json().encode(),
        )
        run = local.run(
            {"dataLocation": f"s3://{raw}/incoming/", "runId": "bench"},
            overrides={"TrainModel": TrainingJobInMoto(model_tarball({"model.pt": b"w"}))},
        )
        if run.status != "SUCCEEDED":
            raise SystemExit(f"execution {run.status}: {run.error} {run.cause}")
        return run.seconds, len(run.states)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--synth-runs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    synth_seconds = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        for index in range(args.synth_runs):
            outdir = Path(tmp) / f"out{index}"
            outdir.mkdir()
            seconds, template, assets = synth_fraud(outdir)
            synth_seconds.append(seconds)
            print(f"synth {index + 1}: {seconds:.1f}s", flush=True)
        run_seconds, states = [], 0
        for index in range(args.runs):
            seconds, states = run_create_path(template, assets)
            run_seconds.append(seconds)
            print(f"execution {index + 1}: {seconds:.2f}s, {states} states entered", flush=True)
    result = {
        "benchmark": "fraud_pipeline",
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "synth_fraud_stack_seconds_first": round(synth_seconds[0], 2),
        "synth_fraud_stack_seconds_median": round(statistics.median(synth_seconds), 2),
        "execution_create_path_seconds_first": round(run_seconds[0], 2),
        "execution_create_path_seconds_median_warm": round(
            statistics.median(run_seconds[1:] or run_seconds), 2
        ),
        "execution_states_entered": states,
        "execution_seconds_per_state_warm": round(
            statistics.median(run_seconds[1:] or run_seconds) / max(states, 1), 3
        ),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
