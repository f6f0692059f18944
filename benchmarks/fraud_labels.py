"""Fraud label feedback: latency of ``POST /transactions/{id}/label`` and that nothing is lost.

The label Lambda handler behind the local API front (HTTP on 127.0.0.1), writing the S3 label
log to moto server and the graph to the Neptune stand-in (ladybug, on a thread). ``--transactions``
transactions are put in the graph (a third with a training-data label, the rest scored online
without one), then labelled over HTTP: a first label each, then repeats, conflicting labels,
overrides, unknown ids and bad bodies. At the end the log (its latest version per transaction,
the rule training uses) is compared with the graph: every accepted change must be in both.

    python benchmarks/fraud_labels.py [--transactions 300]   # last line: one JSON object
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

BUCKET = "vigil-fraud-processed"


def _percentile(values: list[float], q: float) -> float | None:
    from local.standins.fraud_scoring import percentile

    return round(percentile(values, q), 2) if values else None


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    from local.standins.api_gateway import LocalApi
    from local.standins.moto_server import start_moto_server
    from local.standins.neptune_standin import GraphEngine, NeptuneStandin
    from vigil.fraud.graph import graph_layout

    moto = start_moto_server()
    standin = NeptuneStandin(GraphEngine(graph_layout())).serve_in_thread()
    os.environ.update(
        {
            **moto.environment(),
            "GRAPH_ENDPOINT": standin.endpoint_url,
            "LABEL_BUCKET": BUCKET,
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    from lambdas.fraud.label_transaction import handler
    from vigil import aws
    from vigil.fraud import label_log

    aws.reset_clients()
    aws.client("s3").create_bucket(Bucket=BUCKET)
    ids = [str(5_000_000 + i) for i in range(args.transactions)]
    training = {t: rng.randint(0, 1) for t in ids[: len(ids) // 3]}
    for t in ids:
        standin.engine.execute(
            f"CREATE (x:Transaction {{id: '{t}', TransactionDT: 1, isFraud: {training.get(t, -1)}}})"
        )
    api = LocalApi({("POST", "/transactions/{id}/label"): handler.handler}).serve_in_thread()
    connection = http.client.HTTPConnection("127.0.0.1", api.httpd.server_address[1], timeout=30)
    latencies: dict[str, list[float]] = defaultdict(list)
    results: Counter = Counter()
    accepted = 0

    def post(transaction_id: str, body) -> tuple[int, dict]:
        nonlocal accepted
        data = body if isinstance(body, str) else json.dumps(body)
        started = time.perf_counter()
        connection.request(
            "POST",
            f"/transactions/{transaction_id}/label",
            body=data,
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        ms = (time.perf_counter() - started) * 1000
        # metrics flushing is off; Powertools still prints its buffer every 100 values
        handler.metrics.clear_metrics()
        kind = answer.get("result") or str(response.status)
        latencies[kind].append(ms)
        results[f"{response.status} {kind}"] += 1
        if kind in ("labelled", "relabelled"):
            accepted += 1
        return response.status, answer

    started = time.perf_counter()
    try:
        post(ids[0], {"label": "legit", "source": "analyst"})  # warm-up (counted)
        current: dict[str, str] = {}
        for t in ids:
            label = rng.choice(["fraud", "legit"])
            source = rng.choice(["chargeback", "analyst"])
            _, answer = post(t, {"label": label, "source": source})
            current[t] = answer.get("label") or label
        for t in rng.sample(ids, len(ids) // 5):  # repeats: unchanged
            post(t, {"label": current[t], "source": "analyst"})
        for t in rng.sample(ids, len(ids) // 10):  # conflicts without override: 409
            other = "legit" if current[t] == "fraud" else "fraud"
            post(t, {"label": other, "source": "chargeback"})
        for t in rng.sample(ids, len(ids) // 10):  # overrides: relabelled
            other = "legit" if current[t] == "fraud" else "fraud"
            post(t, {"label": other, "source": "analyst", "override": True})
            current[t] = other
        for i in range(max(10, len(ids) // 20)):  # unknown ids and bad bodies
            post(str(9_000_000 + i), {"label": "fraud", "source": "chargeback"})
            post(ids[i], rng.choice(['{"label": "maybe", "source": "x"}', "not json", "[]"]))
    finally:
        connection.close()
        api.stop()
    seconds = time.perf_counter() - started

    s3 = aws.client("s3")
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=label_log.LABEL_LOG_PREFIX
    ):
        for item in page.get("Contents", []):
            records.append(json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()))
    latest = label_log.latest_labels(records)
    rows = standin.engine.execute(
        "MATCH (t:Transaction) WHERE t.label_version > 0 "
        "RETURN t.id AS id, t.isFraud AS y, t.label_version AS v"
    )
    graph = {int(r["id"]): (r["y"], r["v"]) for r in rows}
    log_view = {t: (r["isFraud"], r["version"]) for t, r in latest.items()}
    standin.stop()
    moto.stop()
    every = [ms for values in latencies.values() for ms in values]
    return {
        "transactions": len(ids),
        "requests": sum(results.values()),
        "answers": dict(sorted(results.items())),
        "requests_per_s": round(sum(results.values()) / seconds, 1),
        "p50_ms": _percentile(every, 50),
        "p99_ms": _percentile(every, 99),
        "p50_ms_by_result": {k: _percentile(v, 50) for k, v in sorted(latencies.items())},
        "log_objects": len(records),
        "accepted_changes": accepted,
        "lost_changes": accepted - len(records),
        "graph_differs_from_log": sum(
            1 for t in set(graph) | set(log_view) if graph.get(t) != log_view.get(t)
        ),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
