"""Local SageMaker PyTorch serving stack: start-up time and /invocations latency, tiny model.

Packages the example ``nn.Linear(3, 2)`` (``local/standins/example_model.py``) with ``vigil.packaging``,
serves the ``model.tar.gz`` with ``local.standins.model_server`` (toolkit + TorchServe + Java, one worker),
then sends sequential ``/invocations`` requests from one client. Start-up is measured from process
launch to the first ``/ping`` 200, and to ``/ping`` 200 with the worker READY (``model_fn`` done).
Usage: ``python benchmarks/model_server.py [--requests 300]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local.standins.example_model import write_linear_model
from local.standins.model_server import start_model_server
from vigil.packaging import package_model


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vigil-bench-serving-") as tmp:
        model_files, entry_point = write_linear_model(tmp)
        tar = package_model(
            model_files,
            Path(tmp, "model.tar.gz"),
            entry_point=entry_point,
            packages=["vigil.serving_errors", "vigil.dgl_compat"],
        )
        server = start_model_server(tar)
        try:
            body = json.dumps({"inputs": [[0.5, -1.0, 2.0]]}).encode()
            for _ in range(args.warmup):
                server.invoke(body)
            latencies = []
            for _ in range(args.requests):
                began = time.perf_counter()
                server.invoke(body)
                latencies.append((time.perf_counter() - began) * 1000)
            bad = server.invoke(b"{", check=False)
        finally:
            stop_began = time.monotonic()
            server.stop()
            stop_seconds = time.monotonic() - stop_began

    result = {
        "benchmark": "local_sagemaker_pytorch_serving",
        "model": "nn.Linear(3, 2), 1 TorchServe worker, OMP_NUM_THREADS=1",
        "startup_to_first_ping_200_s": round(server.first_ping_seconds, 2),
        "startup_to_ready_s": round(server.startup_seconds, 2),
        "stop_s": round(stop_seconds, 2),
        "requests": args.requests,
        "invocations_p50_ms": round(statistics.median(latencies), 2),
        "invocations_p95_ms": round(_percentile(latencies, 0.95), 2),
        "invocations_mean_ms": round(statistics.fmean(latencies), 2),
        "malformed_request_status": bad.status,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
