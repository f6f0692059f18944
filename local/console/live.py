"""The console with the three systems live on local stand-ins, until Ctrl-C (what `make demo`
ends with).

* fraud: the model the fraud demo trained (``build/demo_fraud``, built here when missing) served by
  the real SageMaker serving stack, the Neptune stand-in loaded with its graph, the real scoring
  handler behind the local API front writing each answer to the recent-scores table on moto
  server; the page's simulator streams new generated transactions through it, and a
  transaction's detail reads its entities' degree and known fraud count from the stand-in;
* air quality: the real detector learns a week of generated readings for three places, then
  scores a live day with injected spikes, dips and a level shift; its anomalies and state are in
  the Anomalies and state tables on moto server;
* toxicity: the model the toxicity demo served (``build/demo/toxicity``), when there is one,
  behind the real moderation handler on its own process (``local/console/moderation_api.py``).

``python -m local.console.live [--port 8765] [--seconds N] [--toxicity-model PATH]``:
``--seconds`` stops after N seconds (scripts and tests); without it the console runs until
interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAUD_WORKDIR = REPO_ROOT / "build" / "demo_fraud"
TOXICITY_WORKDIR = REPO_ROOT / "build" / "demo" / "toxicity"
DETECTOR = "vigil-console"
DEFAULT_PORT = 8765


def air_quality_anomalies() -> dict:
    """Learn a week for three places, then score a live day with anomalies injected."""
    import pandas as pd

    from local.standins.air_quality_pipeline import learnt_detector
    from vigil.air_quality.config import DetectorConfig, Measure
    from vigil.air_quality.simulator import generate

    config = DetectorConfig(
        name=DETECTOR,
        measures=[Measure(name=m) for m in ("CO", "SO2", "NO2")],
        dimensions=["LOCATION_ID"],
        interval_minutes=5,
        lateness_minutes=1,
        severity_threshold=40,
    )
    history_steps = 12 * 24 * 7
    start = datetime.now().replace(second=0, microsecond=0) - timedelta(days=8)
    start -= timedelta(minutes=start.minute % 5)
    injected = [
        (0, "NO2", "spike", history_steps + 40, 1),
        (1, "CO", "spike", history_steps + 90, 2),
        (2, "SO2", "dip", history_steps + 150, 3),
        (0, "CO", "level_shift", history_steps + 200, 40),
    ]
    records, _ = generate(3, start, history_steps + 12 * 24, 5, anomalies=injected)
    cut = (start + timedelta(minutes=5 * history_steps)).strftime("%Y-%m-%d %H:%M")
    history = pd.DataFrame([r for r in records if r["TIMESTAMP"] < cut])
    live = [r for r in records if r["TIMESTAMP"] >= cut]
    local = learnt_detector(config, history, "vigil-console", setenv=lambda k, v: None)
    body = "\n".join(json.dumps(r) for r in live).encode()
    result = local.service.process_records(body, source="console", bucket=local.resources.bucket)
    return {"resources": local.resources, "anomalies": result.anomalies}


@contextlib.contextmanager
def moderation_process(model: Path, port: int) -> Iterator[str | None]:
    """The moderation API on its own process; None when it did not come up."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.console.moderation_api",
            "--model",
            str(model),
            "--port",
            str(port),
        ],
        cwd=REPO_ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                request = urllib.request.Request(f"{url}/ping", data=b"{}", method="POST")
                urllib.request.urlopen(request, timeout=2).read()
                ready = True
                break
            except OSError:
                time.sleep(0.5)
        yield f"{url}/moderate" if ready else None
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.console.live", description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the console's port")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument(
        "--toxicity-model",
        type=Path,
        default=None,
        help="model.tar.gz or model directory to moderate with (default: the toxicity demo's)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    # stopped like Ctrl-C, so every stand-in process is stopped on the way out
    signal.signal(signal.SIGTERM, _interrupt)

    from local.console.server import ConsoleServer
    from local.console.stores import create_recent_scores_table
    from local.standins.api_gateway import LocalApi
    from local.standins.fraud_scoring import local_scoring
    from local.standins.fraud_training import build_artifacts, stream_rows
    from local.standins.loopback_process import free_port
    from local.standins.moto_server import running_moto_server
    from vigil.aws import client, reset_clients
    from vigil.console.contract import ConsoleSettings
    from vigil.fraud.features import FeaturizerSpec
    from vigil.fraud.scoring import transaction_event
    from vigil.toxicity.contract import SERVED_MODEL

    print("[console] fraud model (the fraud demo's, trained here if missing)", flush=True)
    artifacts = build_artifacts(FRAUD_WORKDIR, transactions=3000, seed=7, epochs=30)
    tarball = args.toxicity_model or TOXICITY_WORKDIR / f"{SERVED_MODEL}.tar.gz"
    with contextlib.ExitStack() as stack:
        moto = stack.enter_context(running_moto_server())
        os.environ.update(moto.environment())
        reset_clients()
        table = create_recent_scores_table("vigil-console-recent-scores")
        print("[console] air quality: learning a week, scoring a live day", flush=True)
        air = air_quality_anomalies()
        moderation_url = None
        if tarball.exists():
            print(f"[console] toxicity: serving {tarball.name} on its own process", flush=True)
            moderation_url = stack.enter_context(moderation_process(tarball, free_port()))
        else:
            print(f"[console] toxicity: no {tarball} (run `make demo-toxicity`); box disabled")
        print("[console] fraud: Neptune stand-in + SageMaker serving stack", flush=True)
        local = stack.enter_context(
            local_scoring(
                bulk_dir=artifacts.bulk_dir,
                model_dir=artifacts.model_dir,
                featurizer=artifacts.featurizer,
                settings={
                    "POWERTOOLS_METRICS_DISABLED": "true",
                    "RECENT_SCORES_TABLE": table,
                },
            )
        )
        stack.enter_context(local.activated())
        from lambdas.fraud.score_transaction import handler as scoring_handler

        scoring_handler.scorer.cache_clear()

        def score(event, context):
            answer = scoring_handler.handler(event, context)
            # metrics flushing is off here, but Powertools prints its buffer every 100 values
            scoring_handler.metrics.clear_metrics()
            return answer

        api = LocalApi({("POST", "/transactions"): score}).serve_in_thread()
        stack.callback(api.stop)
        rows = (transaction_event(row) for row in stream_rows(20_000, 8))
        spec = FeaturizerSpec.from_json(artifacts.featurizer.read_text())
        console_options = dict(
            settings=ConsoleSettings(
                recent_scores_table=table,
                anomaly_table=air["resources"].anomaly_table,
                state_table=air["resources"].state_table,
                detector_name=DETECTOR,
                graph_endpoint=local.standin.endpoint_url,
                graph_entity_columns=",".join(spec.entity_columns) or None,
            ),
            dynamodb=client("dynamodb"),
            scoring_url=f"{api.url}/transactions",
            moderation_url=moderation_url,
            transactions=rows,
        )
        try:
            console = ConsoleServer(**console_options, port=args.port).serve_in_thread()
        except OSError:  # the port is taken: any free one
            console = ConsoleServer(**console_options).serve_in_thread()
        stack.callback(console.stop)
        console.simulator.start(2.0)  # the page opens on live traffic; its buttons stop it
        print(f"\nVigil console: {console.url}  ({air['anomalies']} anomalies stored)", flush=True)
        if args.seconds is None:
            print("Ctrl-C stops the console and every stand-in.", flush=True)
        try:
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\n[console] stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
