"""`make demo-fraud`: generate → ETL → train → load the local graph → serve → score over the API.

Every step is the project's real code on local stand-ins:

1. ``vigil.fraud.datagen`` writes IEEE-CIS-layout transactions with fraud rings;
2. the PySpark ETL (``glue/fraud_etl.py``, local Spark) writes features, labels, edge lists,
   ``featurizer.json`` and the Neptune bulk-load files;
3. ``training/fraud/train.py`` (tiny settings) trains the RGCN and the graph-feature GBDT; the
   better on validation, calibrated, with its operating threshold, becomes a SageMaker model
   directory with ``code/inference.py`` (the demo sets no threshold of its own);
4. the Neptune stand-in loads the bulk-load files; the real SageMaker serving stack serves the
   model behind the SageMaker runtime proxy (``local/standins/fraud_scoring.py``);
5. a second batch of generated transactions (new TransactionIDs, overlapping cards, devices and
   fraud rings) is streamed one by one as HTTP requests to a local API front
   (``local/standins/api_gateway.py``) that invokes the scoring Lambda handler; then a
   chargeback for each fraud among them goes, twice, to ``POST /transactions/{id}/label`` (the
   label Lambda: S3 label log on moto server, then the graph);
6. prints precision/recall at the model's threshold, p50/p99 latency and the explanation of one
   flagged transaction (``explain: true``), and writes plots
   (``build/demo_fraud/``: score distribution, precision-recall curve, latency histogram) with a
   ``metrics.json`` beside them.

``python -m local.demos.fraud [--transactions 3000] [--stream 300] [--workdir build/demo_fraud]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from pathlib import Path

from local.standins.fraud_scoring import percentile
from local.standins.fraud_training import build_artifacts, stream_rows

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPLAIN_ID_OFFSET = 20_000_000  # the explained copy of a streamed transaction gets its own id


def explanation_text(answer: dict) -> str:
    """The explained answer as an analyst would read it: the entities that moved the score."""
    explanation = answer["explanation"]
    lines = [
        f"explained: transaction {answer['id']}, pred_prob {answer['pred_prob']:.4f} "
        f"({answer['flag']}); logit {explanation['logit']:+.3f} = base "
        f"{explanation['base_logit']:+.3f} + entities + interaction "
        f"{explanation['interaction']:+.3f}"
    ]
    for entity in explanation["entities"][:6]:
        share = entity["fraud_share"]
        lines.append(
            f"  {entity['type']:<14} {entity['key']:<16} {entity['contribution']:+.3f}  "
            f"degree {entity['degree']}, labelled {entity['labelled']}"
            + (f", fraud share {share:.2f}" if share is not None else "")
        )
    return "\n".join(lines)


def post(connection: http.client.HTTPConnection, body: dict) -> tuple[int, dict, float]:
    payload = json.dumps(body).encode()
    started = time.perf_counter()
    connection.request(
        "POST", "/transactions", body=payload, headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    return response.status, answer, (time.perf_counter() - started) * 1000


def precision_recall(labels: list[int], flags: list[bool]) -> tuple[float, float]:
    tp = sum(1 for y, f in zip(labels, flags, strict=True) if y and f)
    fp = sum(1 for y, f in zip(labels, flags, strict=True) if not y and f)
    fn = sum(1 for y, f in zip(labels, flags, strict=True) if y and not f)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    return precision, recall


def plots(out: Path, labels: list[int], scores: list[float], latencies: list[float]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    written = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    fraud = [s for s, y in zip(scores, labels, strict=True) if y]
    legit = [s for s, y in zip(scores, labels, strict=True) if not y]
    axes[0].hist([legit, fraud], bins=30, label=["legit", "fraud"], density=True)
    axes[0].set(title="pred_prob by label (streamed)", xlabel="pred_prob")
    axes[0].legend()
    if fraud and legit:
        precision, recall, _ = precision_recall_curve(labels, scores)
        axes[1].plot(recall, precision)
    axes[1].set(title="precision-recall (streamed)", xlabel="recall", ylabel="precision")
    axes[2].hist(latencies, bins=40)
    axes[2].set(title="API latency per transaction", xlabel="ms")
    fig.tight_layout()
    path = out / "fraud_scoring.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    written.append(path)
    return written


def model_threshold(model_dir: Path) -> float | None:
    """The operating threshold the training job chose on validation and saved with the model
    (the scoring Lambda uses it, since the demo sets no ``FRAUD_THRESHOLD``)."""
    from vigil.fraud.model import CONFIG_FILE

    return json.loads((Path(model_dir) / CONFIG_FILE).read_text()).get("threshold")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demos.fraud", description=__doc__)
    parser.add_argument("--transactions", type=int, default=3000, help="rows in the graph")
    parser.add_argument("--stream", type=int, default=300, help="new rows scored over the API")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "build" / "demo_fraud")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)

    from local.standins.api_gateway import LocalApi
    from local.standins.fraud_scoring import local_scoring
    from local.standins.label_feedback import local_label_log, logged_labels, send_chargebacks
    from vigil.fraud import schema
    from vigil.fraud.scoring import transaction_event

    started = time.monotonic()
    print(f"[1-3/6] generate {args.transactions} transactions → ETL (Spark) → train", flush=True)
    artifacts = build_artifacts(
        args.workdir, transactions=args.transactions, seed=args.seed, epochs=args.epochs
    )
    print(f"        done in {time.monotonic() - started:.0f}s; model in {artifacts.model_dir}")
    print("[4/6] Neptune stand-in + SageMaker serving stack + runtime proxy", flush=True)
    with (
        local_scoring(
            bulk_dir=artifacts.bulk_dir,
            model_dir=artifacts.model_dir,
            featurizer=artifacts.featurizer,
            # a readable console: no EMF metric line per request (the handler still records
            # its metrics; in Lambda they go to CloudWatch)
            settings={"POWERTOOLS_METRICS_DISABLED": "true"},
        ) as local,
        local.activated(),
        local_label_log(),  # the label API's S3 log, on moto server
    ):
        from lambdas.fraud.label_transaction import handler as label_handler
        from lambdas.fraud.score_transaction import handler as lambda_handler

        lambda_handler.scorer.cache_clear()
        label_handler.feedback.cache_clear()
        routes = {
            ("POST", "/transactions"): lambda_handler.handler,
            ("POST", "/transactions/{id}/label"): label_handler.handler,
        }
        api = LocalApi(routes).serve_in_thread()
        threshold = lambda_handler.scorer().config.threshold or model_threshold(artifacts.model_dir)
        rows = stream_rows(args.stream, args.seed + 1)
        print(f"[5/6] streaming {len(rows)} new transactions to {api.url}/transactions", flush=True)
        connection = http.client.HTTPConnection("127.0.0.1", api.httpd.server_address[1])
        labels, scores, flags, latencies, fallbacks = [], [], [], [], 0
        explained = None
        try:
            post(connection, transaction_event(rows[0]))  # warm-up (not counted)
            for row in rows[1:]:
                status, answer, ms = post(connection, transaction_event(row))
                # metrics flushing is off for the demo; Powertools would still print its
                # buffer every 100 values, so drop them once the request is answered
                lambda_handler.metrics.clear_metrics()
                if status != 200 or answer.get("pred_prob") is None:
                    fallbacks += 1
                    continue
                if explained is None and answer["flag"] == "fraud":
                    # what an analyst sees for a flagged payment (not timed)
                    event = transaction_event(row) | {"explain": True}
                    event[schema.ID_COLUMN] += EXPLAIN_ID_OFFSET
                    explained = post(connection, event)[1]
                labels.append(int(row[schema.LABEL_COLUMN]))
                scores.append(answer["pred_prob"])
                flags.append(answer["flag"] == "fraud")
                latencies.append(ms)
            # chargebacks arrive for the frauds: the label log the next training run reads
            chargebacks = send_chargebacks(
                connection, rows[1:], after_each=label_handler.metrics.clear_metrics
            )
            chargebacks["logged"] = logged_labels()
        finally:
            connection.close()
            api.stop()
    precision, recall = precision_recall(labels, flags)
    from sklearn.metrics import average_precision_score, roc_auc_score

    ranking = {}
    if 0 < sum(labels) < len(labels):
        ranking = {
            "roc_auc": round(float(roc_auc_score(labels, scores)), 4),
            "average_precision": round(float(average_precision_score(labels, scores)), 4),
        }
    metrics = {
        "streamed": len(rows) - 1,
        "scored": len(scores),
        "fallbacks": fallbacks,
        "fraud_in_stream": sum(labels),
        "threshold": threshold,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        **ranking,
        "latency_p50_ms": round(percentile(latencies, 50), 2),
        "latency_p99_ms": round(percentile(latencies, 99), 2),
        "latency_mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
        "chargebacks": chargebacks,
    }
    out = args.workdir
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    written = plots(out, labels, scores, latencies)
    print("[6/6] results")
    width = max(len(k) for k in metrics)
    print("-" * (width + 14))
    for key, value in metrics.items():
        print(f"{key:<{width}}  {value}")
    print("-" * (width + 14))
    if explained and explained.get("explanation"):
        print(explanation_text(explained))
    print(f"plots: {', '.join(str(p) for p in written)}; metrics: {out / 'metrics.json'}")
    print(f"total {time.monotonic() - started:.0f}s")
    return 0 if scores else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
