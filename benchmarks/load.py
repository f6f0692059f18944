"""Load through the local HTTP scoring API: errors, replays and graph invariants under concurrency.

Builds the local pipeline as the demo does (generate → Spark ETL → train → Neptune stand-in
loaded from the bulk-load files → real SageMaker serving stack behind the runtime proxy → the
local API front invoking the scoring Lambda handler), then

* posts ``--transactions`` (default 10,000) newly generated IEEE-CIS transactions to
  ``POST /transactions`` from ``--concurrency`` (default 8) clients, each on its own keep-alive
  connection: ``errors`` counts answers other than 200 and failed requests, ``fallbacks`` the
  200s that carry no score (the fail-open answer when the graph or the endpoint kept failing,
  ``fallback_reasons`` by reason: under concurrency mostly insert guards that kept missing);
* replays ``--replays`` (default 1,000) of the scored transactions with the same bodies, at the
  same concurrency: ``replay_mismatches`` counts answers that differ from the first one,
  ``replay_writes`` how far the graph's node and edge counts and entity degree totals moved
  during the replays (an idempotent insert writes nothing). ``unstored_replays`` is the part of
  them whose first answer the graph did not hold (its insert kept failing): such a replay is
  scored again and inserted, so it may answer differently and writes;
* checks the graph: ``invariant_violations`` counts entities whose degree is not their edge
  count (link-only and hub entities: at most it; ``degree_violations`` in
  ``local/standins/fraud_scoring.py``, also run by the fuzz test).

``throughput_per_s``, ``p50_ms`` and ``p99_ms`` are those of the first pass (client-side wall time
per request). Everything — the clients, the API front and the handler — shares this process, and
the stand-ins theirs, on the same cores: the figures are the local stack's, not Lambda's.

``python benchmarks/load.py [--transactions 10000] [--replays 1000] [--concurrency 8]``;
JSON on the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from local.standins.fraud_scoring import (  # noqa: E402
    degree_violations,
    graph_size,
    http_execute,
    local_scoring,
    percentile,
)
from local.standins.fraud_training import build_artifacts, stream_rows  # noqa: E402
from vigil.fraud import schema  # noqa: E402
from vigil.fraud.contract import ScoringSettings  # noqa: E402
from vigil.fraud.scoring import transaction_event  # noqa: E402


class Clients:
    """One keep-alive connection per worker thread to the local API front."""

    def __init__(self, port: int):
        self.port = port
        self.local = threading.local()

    def post(self, body: str) -> tuple[int | None, str, float]:
        """(status or None when the request failed, response body or error, ms)."""
        started = time.perf_counter()
        try:
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = self.local.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=60
                )
            connection.request(
                "POST", "/transactions", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            status, text = response.status, response.read().decode()
        except (OSError, http.client.HTTPException) as exc:
            self.local.connection = None  # a fresh connection for this worker's next request
            status, text = None, f"{type(exc).__name__}: {exc}"
        return status, text, (time.perf_counter() - started) * 1000


def run_pass(clients: Clients, bodies: dict[int, str], concurrency: int, label: str):
    """Post every body from ``concurrency`` workers: ({id: (status, text)}, [ms], seconds)."""
    answers: dict[int, tuple[int | None, str]] = {}
    latencies: list[float] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = {pool.submit(clients.post, body): tid for tid, body in bodies.items()}
        for future in tqdm(as_completed(futures), total=len(futures), desc=label, unit="req"):
            status, text, ms = future.result()
            answers[futures[future]] = (status, text)
            latencies.append(ms)
    return answers, latencies, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=10_000, help="new rows posted")
    parser.add_argument("--replays", type=int, default=1_000, help="scored rows posted again")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--graph-transactions", type=int, default=3_000, help="rows in the graph")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "build" / "bench_load")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    artifacts = build_artifacts(
        args.workdir, transactions=args.graph_transactions, seed=args.seed, epochs=args.epochs
    )
    rows = stream_rows(args.transactions, args.seed + 1)
    bodies = {int(r[schema.ID_COLUMN]): json.dumps(transaction_event(r)) for r in rows}

    from local.standins.api_gateway import LocalApi

    with (
        local_scoring(
            bulk_dir=artifacts.bulk_dir,
            model_dir=artifacts.model_dir,
            featurizer=artifacts.featurizer,
            # no EMF metric line per request on the console (the handler still records them)
            settings={"POWERTOOLS_METRICS_DISABLED": "true"},
        ) as local,
        local.activated(),
        # Powertools still prints its metric buffer (EMF, on stdout) every 100 values with
        # metrics disabled; the demo clears it after each request, which concurrent requests
        # cannot do safely, so stdout stays for the result line only
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
    ):
        from lambdas.fraud.score_transaction import handler as lambda_handler

        lambda_handler.scorer.cache_clear()
        api = LocalApi({("POST", "/transactions"): lambda_handler.handler}).serve_in_thread()
        settings = ScoringSettings.from_environment()
        execute = http_execute(local.standin.endpoint_url)
        layout = lambda_handler.scorer().graph.layout
        clients = Clients(api.httpd.server_address[1])
        try:
            first, latencies, seconds = run_pass(clients, bodies, args.concurrency, "score")
            errors = [tid for tid, (status, _) in first.items() if status != 200]
            answered = {
                tid: json.loads(text) for tid, (status, text) in first.items() if status == 200
            }
            fallbacks = Counter(
                a.get("fallback") for a in answered.values() if a.get("pred_prob") is None
            )
            scored = sorted(tid for tid, a in answered.items() if a.get("pred_prob") is not None)
            replay_ids = random.Random(args.seed).sample(scored, min(args.replays, len(scored)))

            # a scored answer whose insert kept failing is not in the graph ("graph write
            # failed after scoring"): its replay inserts it and scores again, by design. Those
            # replay in a pass of their own, so the stored answers' pass shows its writes alone.
            stored = {
                int(row["id"])
                for row in execute(
                    "MATCH (t:Transaction) WHERE t.pred_prob IS NOT NULL RETURN t.id AS id", {}
                )
            }
            replays = {}
            for kind, ids in (
                ("stored", [t for t in replay_ids if t in stored]),
                ("unstored", [t for t in replay_ids if t not in stored]),
            ):
                before = graph_size(execute, layout)
                again, _, _ = run_pass(
                    clients, {tid: bodies[tid] for tid in ids}, args.concurrency, f"replay {kind}"
                )
                after = graph_size(execute, layout)
                replays[kind] = {
                    "replays": len(again),
                    "mismatches": sum(
                        1
                        for tid, (status, text) in again.items()
                        if status != 200 or json.loads(text) != answered[tid]
                    ),
                    "writes": sum(abs(after[k] - before[k]) for k in before),
                }
            violations = degree_violations(
                execute,
                layout,
                link_only_columns=settings.link_only_columns,
                hub_threshold=settings.hub_threshold,
            )
        finally:
            api.stop()

    for tid in errors[:5]:
        print(f"error: transaction {tid}: {first[tid]}", file=sys.stderr)
    for violation in violations[:5]:
        print(f"invariant violation: {violation}", file=sys.stderr)
    result = {
        "requests": len(first),
        "errors": len(errors),
        "fallbacks": sum(fallbacks.values()),
        "fallback_reasons": dict(fallbacks),  # 200s without a score, by the answer's reason
        "replays": sum(r["replays"] for r in replays.values()),
        "replay_mismatches": sum(r["mismatches"] for r in replays.values()),
        "replay_writes": sum(r["writes"] for r in replays.values()),
        "unstored_replays": replays["unstored"],  # first insert failed: rescored and inserted
        "invariant_violations": len(violations),
        "throughput_per_s": round(len(first) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "concurrency": args.concurrency,
        "graph_nodes": after["nodes"],
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))
    clean = replays["stored"]["mismatches"] == replays["stored"]["writes"] == 0
    return 0 if clean and not errors and not violations else 1


if __name__ == "__main__":
    sys.exit(main())
