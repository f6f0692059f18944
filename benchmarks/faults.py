"""Fault campaign on the local stack: nothing lost, nothing half-written, every alert once.

Fraud scoring (the local HTTP API in front of the real scoring handler, the Neptune stand-in on
an on-disk database, the real SageMaker serving stack behind the runtime proxy; the machinery of
``benchmarks/load.py``). Each phase posts a stream of new transactions from ``--concurrency``
clients while one fault happens:

* ``graph_killed``: the graph stand-in is killed (SIGKILL) mid-stream and restarted from its
  database on the same port;
* ``graph_throttled`` / ``graph_failing``: the stand-in answers 429 / 500 to a run of queries;
* ``endpoint_throttled`` / ``endpoint_failing``: the runtime proxy answers 429 / 503;
* ``same_transaction_8_clients``: each of ``--duplicates`` transactions is posted by 8 clients
  at once;
* ``model_server_killed``: the model server's process group is killed mid-stream, then started
  again on its port; a stream after the restart must be scored again.

After each phase: every request has an answer (a score, or the configured fallback with its
reason: ``unanswered`` counts the others), no transaction is half-written (``half_writes``: a
stored transaction without the edge to an entity its body names, other than a link-only one; a
stored answer that differs from the one the client got), entity degrees equal their edge counts
(``degree_violations``).

Air quality (moto server behind a fault proxy, ``local/standins/fault_injection.py``, the real
detector handler, SNS → SQS to read alerts back). The same objects (UCI readings with injected
anomalies and two malformed lines each) go through a fault-free detector and then through a
second one while DynamoDB and SNS fail or throttle and S3 redelivers objects; a failed invocation
is retried as Lambda retries an asynchronous event (up to ``--lambda-retries`` times).
``records_lost`` counts readings that are neither processed nor in the error prefix,
``alerts_lost`` / ``alerts_duplicated`` compare the alerts received with the fault-free run's.

``python benchmarks/faults.py [--transactions 160] [--skip-fraud] [--skip-air]``; JSON last
line (``faults_tried``, ``requests``, then counters that must all be 0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.load import Clients, run_pass  # noqa: E402
from local.standins.fraud_scoring import (  # noqa: E402
    ENDPOINT_NAME,
    degree_violations,
    http_execute,
    scoring_environment,
)

FLAGS = {"fraud", "legit"}
WITHOUT_FAULT = {"no_fault", "after_model_restart"}  # the warm-up and the recovery check


# --- fraud scoring -------------------------------------------------------------------------------
class FraudStack:
    """The scoring path's processes, each restartable on its port."""

    def __init__(self, artifacts, database: Path):
        from local.standins.model_server import start_model_server
        from local.standins.neptune_standin import start_neptune_standin
        from local.standins.sagemaker_runtime_proxy import start_sagemaker_proxy

        self.artifacts = artifacts
        self.database = database
        self.standin = start_neptune_standin(artifacts.bulk_dir, database=database)
        self.model_server = start_model_server(artifacts.model_dir)
        self.proxy = start_sagemaker_proxy(self.model_server.url, ENDPOINT_NAME)

    def kill_graph(self) -> None:
        self.standin.process.send_signal(signal.SIGKILL)
        self.standin.process.wait(timeout=30)

    def restart_graph(self) -> None:
        from local.standins.neptune_standin import start_neptune_standin

        self.standin = start_neptune_standin(database=self.database, port=self.standin.port)

    def kill_model_server(self) -> None:
        for pid in self.model_server.pids():  # the serving stack's own processes, by PID
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.model_server.process.wait(timeout=30)

    def restart_model_server(self) -> None:
        from local.standins.model_server import start_model_server

        port = self.model_server.port
        self.model_server.stop()  # its work folder; the processes are gone already
        self.model_server = start_model_server(self.artifacts.model_dir, port=port)

    def stop(self) -> None:
        for running in (self.proxy, self.model_server, self.standin):
            with contextlib.suppress(Exception):
                running.stop()


def answer_problem(status: int | None, text: str, fallback_flag: str) -> str | None:
    """Why an HTTP answer is not a score or the configured fallback (None when it is one)."""
    if status != 200:
        return f"status {status}: {text[:200]}"
    try:
        body = json.loads(text)
    except ValueError:
        return f"not JSON: {text[:200]}"
    if body.get("pred_prob") is None:
        if body.get("fallback") and body.get("flag") == fallback_flag:
            return None
        return f"neither a score nor the configured fallback: {body}"
    if body.get("flag") in FLAGS and 0.0 <= body["pred_prob"] <= 1.0:
        return None
    return f"not a valid score: {body}"


def half_writes(execute, layout, settings, bodies: dict[int, str], answers: dict) -> list[dict]:
    """Stored transactions missing an edge their body names, or storing another answer."""
    posted = {str(tid) for tid in bodies}
    stored = {
        row["id"]: row
        for row in execute(
            "MATCH (t:Transaction) RETURN t.id AS id, t.pred_prob AS p, t.flag AS f", {}
        )
        if str(row["id"]) in posted
    }
    edges: dict[str, set[str]] = {tid: set() for tid in stored}
    for entity in layout.entity_types:
        rows = execute(
            f"MATCH (t:Transaction)-[:{entity.edge}]->(e:{entity.label}) RETURN t.id AS id", {}
        )
        for row in rows:
            if row["id"] in edges:
                edges[row["id"]].add(entity.column)
    from vigil.fraud import schema

    problems = []
    for tid, row in stored.items():
        transaction = json.loads(bodies[int(tid)])
        named = {
            e.column
            for e in layout.entity_types
            if e.column not in settings.link_only_columns
            and schema.canonical_key(transaction.get(e.column)) is not None
        }
        missing = named - edges[tid]
        if missing:
            problems.append({"id": tid, "missing_edges": sorted(missing)})
        status, text = answers.get(int(tid), (None, ""))
        answer = json.loads(text) if status == 200 else {}
        both = row["p"] is not None and answer.get("pred_prob") is not None
        if both and (abs(row["p"] - answer["pred_prob"]) > 1e-6 or row["f"] != answer["flag"]):
            problems.append({"id": tid, "stored": [row["p"], row["f"]], "answered": answer})
    return problems


def fraud_campaign(args) -> dict:
    from local.standins.api_gateway import LocalApi
    from local.standins.fraud_training import build_artifacts, stream_rows
    from vigil.fraud import schema
    from vigil.fraud.contract import ScoringSettings
    from vigil.fraud.scoring import transaction_event

    artifacts = build_artifacts(
        args.workdir, transactions=args.graph_transactions, seed=args.seed, epochs=args.epochs
    )
    phases = [
        "no_fault",
        "graph_killed",
        "graph_throttled",
        "graph_failing",
        "endpoint_throttled",
        "endpoint_failing",
        "same_transaction_8_clients",
        "model_server_killed",
        "after_model_restart",
    ]
    rows = stream_rows(args.transactions * len(phases), args.seed + 2)
    bodies = [json.dumps(transaction_event(r)) for r in rows]
    ids = [int(r[schema.ID_COLUMN]) for r in rows]
    folder = args.workdir / "faults-graph"  # ladybug keeps its WAL beside the database file
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    database = folder / "graph"
    stack = FraudStack(artifacts, database)
    environment = scoring_environment(
        graph_endpoint=stack.standin.endpoint_url,
        runtime_endpoint=stack.proxy.endpoint_url,
        featurizer=artifacts.featurizer,
        # each fallback logs an error by design: hundreds here, none of them news
        settings={"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "CRITICAL"},
    )
    saved = dict(os.environ)
    os.environ.update(environment)
    from vigil.aws import reset_clients

    reset_clients()
    report: dict = {"phases": {}, "unanswered": 0, "half_writes": 0, "degree_violations": 0}
    all_bodies: dict[int, str] = {}
    all_answers: dict[int, tuple] = {}
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            from lambdas.fraud.score_transaction import handler as lambda_handler

            lambda_handler.scorer.cache_clear()
            settings = ScoringSettings.from_environment()
            fallback_flag = "review" if settings.fallback == "review" else "fraud"
            layout = lambda_handler.scorer().graph.layout
            api = LocalApi({("POST", "/transactions"): lambda_handler.handler}).serve_in_thread()
            clients = Clients(api.httpd.server_address[1])
            try:
                for number, phase in enumerate(phases):
                    chunk = slice(number * args.transactions, (number + 1) * args.transactions)
                    batch = dict(zip(ids[chunk], bodies[chunk], strict=True))
                    all_bodies.update(batch)
                    started = time.monotonic()
                    answers, posted = run_phase(phase, stack, clients, batch, args)
                    all_answers.update({tid: a for tid, a in answers.items() if a[0] == 200})
                    problems = [
                        (tid, p)
                        for tid, (status, text) in posted
                        if (p := answer_problem(status, text, fallback_flag))
                    ]
                    execute = http_execute(stack.standin.endpoint_url)
                    halves = half_writes(execute, layout, settings, all_bodies, all_answers)
                    violations = degree_violations(
                        execute,
                        layout,
                        link_only_columns=settings.link_only_columns,
                        hub_threshold=settings.hub_threshold,
                    )
                    fallbacks = Counter(
                        json.loads(text).get("fallback")
                        for status, text in (a for _, a in posted)
                        if status == 200 and json.loads(text).get("pred_prob") is None
                    )
                    report["phases"][phase] = {
                        "requests": len(posted),
                        "unanswered": len(problems),
                        "fallbacks": dict(fallbacks),
                        "half_writes": len(halves),
                        "degree_violations": len(violations),
                        "seconds": round(time.monotonic() - started, 1),
                    }
                    for tid, problem in problems[:3]:
                        print(f"{phase}: unanswered {tid}: {problem}", file=sys.stderr)
                    for half in halves[:3]:
                        print(f"{phase}: half-write {half}", file=sys.stderr)
                    for violation in violations[:3]:
                        print(f"{phase}: degree violation {violation}", file=sys.stderr)
                    print(f"{phase}: {report['phases'][phase]}", file=sys.stderr)
                    report["unanswered"] += len(problems)
                    report["half_writes"] = len(halves)  # over everything posted so far
                    report["degree_violations"] = len(violations)
            finally:
                api.stop()
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_clients()
    report["requests"] = sum(p["requests"] for p in report["phases"].values())
    return report


def _during(action: Callable[[], None], after_s: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(after_s), action()), daemon=True)
    thread.start()
    return thread


def run_phase(phase: str, stack: FraudStack, clients: Clients, batch: dict[int, str], args):
    """Post ``batch`` while the phase's fault happens: ({id: answer}, [(id, answer)] of every
    request, duplicates included)."""
    fault = None
    if phase == "graph_killed":
        # killed while the first half is in flight, restarted from its database, then the
        # second half must find the graph (and everything committed before the kill) again
        def kill_and_restart():
            stack.kill_graph()
            time.sleep(1.0)
            stack.restart_graph()

        items = list(batch.items())
        half = len(items) // 2
        fault = _during(kill_and_restart, 0.5)
        answers, _, _ = run_pass(clients, dict(items[:half]), args.concurrency, "graph killed")
        fault.join()
        after, _, _ = run_pass(clients, dict(items[half:]), args.concurrency, "graph restarted")
        answers.update(after)
        return answers, list(answers.items())
    if phase == "graph_throttled":
        stack.standin.inject_faults(status=429, code="ThrottlingException", count=60)
    elif phase == "graph_failing":
        stack.standin.inject_faults(status=500, code="InternalFailureException", count=60)
    elif phase == "endpoint_throttled":
        stack.proxy.inject_faults(status=429, code="ThrottlingException", count=40)
    elif phase == "endpoint_failing":
        stack.proxy.inject_faults(status=503, code="ServiceUnavailable", count=40)
    elif phase == "model_server_killed":
        fault = _during(stack.kill_model_server, 0.3)
    if phase == "same_transaction_8_clients":
        chosen = list(batch.items())[: args.duplicates]
        posted = []
        answers = {}
        for tid, body in chosen:
            again, _, _ = run_pass(clients, {i: body for i in range(8)}, 8, f"{tid} x8")
            posted += [(tid, answer) for answer in again.values()]
            answers[tid] = next(iter(again.values()))
            scored = {
                text
                for status, text in again.values()
                if status == 200 and json.loads(text).get("pred_prob") is not None
            }
            if len(scored) > 1:
                posted.append((tid, (None, f"8 clients got {len(scored)} different scores")))
        return answers, posted
    answers, _, _ = run_pass(clients, batch, args.concurrency, phase)
    if fault is not None:
        fault.join()
    stack.standin.inject_faults()  # disarm whatever is left
    stack.proxy.inject_faults()
    if phase == "model_server_killed":
        stack.restart_model_server()
    return answers, list(answers.items())


# --- air quality ---------------------------------------------------------------------------------
AIR_FAULTS = [
    # (name, where, spec). ``where``: an object index, or "alert" / "alerts" for the first
    # object whose fault-free run published at least one / two alerts. A count beyond
    # botocore's 4 attempts (max_attempts 3 retries) fails the invocation; Lambda's retry meets
    # the rest of them.
    (
        "sns_throttled",
        "alert",
        {"status": 400, "code": "Throttling", "count": 2, "match": "Publish"},
    ),
    (
        "sns_failing",
        "alert",
        {"status": 500, "code": "InternalError", "count": 6, "match": "Publish"},
    ),
    (
        "sns_failing_after_one_alert",
        "alerts",
        {"status": 500, "code": "InternalError", "count": 4, "match": "Publish", "skip": 1},
    ),
    (
        "dynamodb_throttled",
        11,
        {"status": 400, "code": "ThrottlingException", "count": 2, "match": "DynamoDB_"},
    ),
    (
        "dynamodb_failing",
        14,
        {"status": 500, "code": "InternalServerError", "count": 6, "match": "DynamoDB_"},
    ),
    (
        "dynamodb_failing_late",
        17,
        {"status": 500, "code": "InternalServerError", "count": 6, "match": "DynamoDB_", "skip": 4},
    ),
]
REDELIVERED = (3, 9, 15)  # objects S3 delivers twice (after their first delivery succeeded)
MALFORMED = [b"{broken\n", b"[1, 2]\n"]


def air_objects(hours_per_object: int) -> tuple:
    """(config, history frame, [object bodies]) from the demo's UCI replay with anomalies."""
    import numpy as np
    import pandas as pd

    from local.demos.air_quality import MEASURES, REPLAY_ROWS, demo_config
    from vigil.air_quality.uci import inject, load_uci

    np.seterr(all="ignore")
    frame = load_uci()
    split = int(len(frame) * 0.6)
    injected, _ = inject(
        frame.iloc[: split + REPLAY_ROWS], MEASURES, seed=11, start_row=split, per_kind=1, gap=24
    )
    history, replay = injected.iloc[:split], injected.iloc[split:]
    lines = []
    for row in replay.to_dict("records"):
        record = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        lines.append(json.dumps(record, default=str).encode() + b"\n")
    objects = [
        b"".join(lines[i : i + hours_per_object]) + b"".join(MALFORMED)
        for i in range(0, len(lines), hours_per_object)
    ]
    return demo_config(), history, objects


def place_faults(alerts_by_object: dict[int, int], objects: int) -> dict[int, tuple[str, dict]]:
    """Object index → (fault, spec), each fault on its own object (see ``AIR_FAULTS``)."""
    placed: dict[int, tuple[str, dict]] = {}
    for name, where, spec in AIR_FAULTS:
        if isinstance(where, int):
            candidates = [where % objects]
        else:
            least = 1 if where == "alert" else 2
            candidates = [i for i, n in sorted(alerts_by_object.items()) if n >= least]
        free = [i for i in candidates if i not in placed and i not in REDELIVERED]
        if free:
            placed[free[0]] = (name, spec)
        else:
            print(f"fault {name}: no object fits ({where})", file=sys.stderr)
    return placed


def air_campaign(args) -> dict:
    from local.demos.air_quality import CONTEXT
    from local.standins.air_quality_pipeline import learnt_detector, read_alerts, s3_event
    from local.standins.fault_injection import AwsFaultProxy, inject_faults
    from local.standins.moto_server import running_moto_server
    from vigil.aws import client, reset_clients

    config, history, objects = air_objects(args.hours_per_object)
    faults: dict[int, tuple[str, dict]] = {}
    alerts_by_object: dict[int, int] = {}
    saved = dict(os.environ)
    report: dict = {"faults": [], "objects": len(objects)}
    try:
        with (
            running_moto_server() as moto,
            open(os.devnull, "w") as devnull,
            contextlib.redirect_stdout(devnull),
        ):
            os.environ.update(moto.environment())
            proxy = AwsFaultProxy(moto.environment()["AWS_ENDPOINT_URL"]).start()
            os.environ["AWS_ENDPOINT_URL_SNS"] = proxy.endpoint_url
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.endpoint_url
            reset_clients()
            from lambdas.air_quality.detector import handler as detector

            runs = {}
            for run in ("fault-free", "faulted"):
                if run == "faulted":
                    faults = place_faults(alerts_by_object, len(objects))
                prefix = f"vigil-faults-{'a' if run == 'fault-free' else 'b'}"
                local = learnt_detector(config, history, prefix)
                resources = local.resources
                s3 = client("s3")
                received = processed = rejected = failures = 0
                lines_sent = 0
                for index, body in enumerate(objects):
                    key = f"readings/2026/01/01/00/object-{index:04d}"
                    s3.put_object(Bucket=resources.bucket, Key=key, Body=body)
                    lines_sent += body.count(b"\n")
                    event = s3_event(resources.bucket, key, len(body))
                    fault = faults.get(index) if run == "faulted" else None
                    if fault:
                        proxy.failed = 0
                        inject_faults(proxy.endpoint_url, **fault[1])
                    totals, attempts = None, 0
                    while totals is None and attempts <= args.lambda_retries:
                        attempts += 1
                        try:
                            totals = detector.handler(event, CONTEXT)
                        except Exception as exc:  # Lambda retries the event, then dead-letters
                            failures += 1
                            print(f"{run} {key}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    inject_faults(proxy.endpoint_url)
                    if fault:
                        report["faults"].append(
                            {
                                "fault": fault[0],
                                "object": index,
                                "requests_failed": proxy.failed,
                                "invocations": attempts,
                                "dead_lettered": totals is None,
                            }
                        )
                    if run == "fault-free":
                        alerts_by_object[index] = (totals or {}).get("alerts_published", 0)
                    if totals is None:
                        continue  # dead-lettered: its readings count as lost below
                    received += totals.get("received", 0)
                    processed += totals.get("processed", 0)
                    rejected += totals.get("rejected", 0)
                    if run == "faulted" and index in REDELIVERED:
                        again = detector.handler(event, CONTEXT)
                        received += again.get("received", 0)
                        processed += again.get("processed", 0)
                        rejected += again.get("rejected", 0)
                errors = 0
                paginator = s3.get_paginator("list_objects_v2")
                for page in paginator.paginate(Bucket=resources.bucket, Prefix="errors/"):
                    for item in page.get("Contents", []):
                        text = s3.get_object(Bucket=resources.bucket, Key=item["Key"])["Body"]
                        errors += sum(1 for line in text.read().splitlines() if line.strip())
                alerts = Counter(a["subject"] for a in read_alerts(resources.queue_url, wait_s=2.0))
                runs[run] = {
                    "lines": lines_sent,
                    "received": received,
                    "processed": processed,
                    "rejected": rejected,
                    "error_records": errors,
                    "failed_invocations": failures,
                    "alerts": alerts,
                }
                print(
                    f"air {run}: { {k: v for k, v in runs[run].items() if k != 'alerts'} }",
                    file=sys.stderr,
                )
            proxy.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_clients()
    clean, faulted = runs["fault-free"], runs["faulted"]
    lost = faulted["lines"] - faulted["processed"] - faulted["rejected"]
    lost += abs(faulted["rejected"] - faulted["error_records"])  # rejected but not in errors/
    expected, got = clean["alerts"], faulted["alerts"]
    report.update(
        {
            "records": faulted["lines"],
            "records_lost": max(0, lost),
            "records_counted_twice": max(0, -lost),
            "alerts_expected": sum(expected.values()),
            "alerts_lost": sum((expected - got).values()),
            "alerts_duplicated": sum((got - expected).values()),
            "failed_invocations": faulted["failed_invocations"],
            "redelivered": len(REDELIVERED),
        }
    )
    for subject in (expected - got) | (got - expected):
        print(
            f"air alert differs: {subject} (fault-free {expected[subject]}, faulted {got[subject]})",
            file=sys.stderr,
        )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=160, help="new rows per fraud phase")
    parser.add_argument("--duplicates", type=int, default=12, help="transactions sent 8 times")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--graph-transactions", type=int, default=3_000, help="rows in the graph")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hours-per-object", type=int, default=24)
    parser.add_argument("--lambda-retries", type=int, default=2, help="as an async invoke")
    parser.add_argument("--skip-fraud", action="store_true")
    parser.add_argument("--skip-air", action="store_true")
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "build" / "bench_load")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    fraud = {} if args.skip_fraud else fraud_campaign(args)
    air = {} if args.skip_air else air_campaign(args)
    result = {
        "faults_tried": len(set(fraud.get("phases", {})) - WITHOUT_FAULT)
        + len(air.get("faults", []))
        + (1 if air else 0),  # the redeliveries are one more fault
        "requests": fraud.get("requests", 0),
        "unanswered": fraud.get("unanswered", 0),
        "half_writes": fraud.get("half_writes", 0),
        "degree_violations": fraud.get("degree_violations", 0),
        "records_lost": air.get("records_lost", 0),
        "alerts_lost": air.get("alerts_lost", 0),
        "alerts_duplicated": air.get("alerts_duplicated", 0),
        "records": air.get("records", 0),
        "alerts_expected": air.get("alerts_expected", 0),
        "fraud_phases": fraud.get("phases", {}),
        "air_faults": air.get("faults", []),
        "air_failed_invocations": air.get("failed_invocations", 0),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))
    must_be_zero = ("unanswered", "half_writes", "degree_violations", "records_lost")
    zero = all(result[k] == 0 for k in (*must_be_zero, "alerts_lost", "alerts_duplicated"))
    return 0 if zero else 1


if __name__ == "__main__":
    sys.exit(main())
