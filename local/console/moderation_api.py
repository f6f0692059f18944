"""The moderation API on its own process for the live console: the real moderation handler
behind the local API front, on the real SageMaker serving stack serving ``--model``.

Its own process because boto3's SageMaker runtime endpoint is one variable per process
(``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``), and the console's process points it at the fraud model.
``python -m local.console.moderation_api --model model.tar.gz --port 8766``; ``GET /ping`` is
answered once the model is served.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="model directory or model.tar.gz")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    from lambdas.toxicity.moderate import handler
    from local.demos.toxicity import moderation_endpoint
    from local.standins.api_gateway import LocalApi

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with moderation_endpoint(args.model):
        api = LocalApi(
            {("POST", "/moderate"): handler.handler, ("POST", "/ping"): _ping}, port=args.port
        ).serve_in_thread()
        print(f"moderation API on {api.url}/moderate", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        api.stop()
    return 0


def _ping(event, context) -> dict:
    return {"statusCode": 200, "body": "{}"}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
