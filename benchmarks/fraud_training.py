"""Benchmark: generated IEEE-CIS data → Glue ETL (local Spark) → RGCN training vs GBDT baseline.

``python benchmarks/fraud_training.py [--size 100000] [--seed 0] [--epochs 60] [--threads 2]``

Measures ETL wall time, RGCN epoch time (full-batch, scaled to 100k transactions), RGCN test
AUC and the feature-only GBDT baseline's test AUC on the same time split. Targets (issue 3):
``rgcn_test_auc >= baseline_test_auc + 0.05`` and ``epoch_seconds_per_100k <= 2`` on 2 cores.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _round(value):
    return None if value is None else round(value, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=100_000, help="transactions (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--workdir", default=None, help="keep the data here (default: temporary)")
    parser.add_argument(
        "--processed", default=None, help="reuse this ETL output (skips datagen and the ETL)"
    )
    args = parser.parse_args(argv)

    import numpy as np
    from sklearn.metrics import roc_auc_score

    from glue.fraud_etl import EtlConfig, local_spark_session, run
    from vigil.fraud import datagen
    from vigil.fraud.dataset import load_training_data
    from vigil.fraud.training import fit, offline_scores, parse_args, train_baseline

    with tempfile.TemporaryDirectory(prefix="vigil-fraud-bench-") as tmp:
        work = Path(args.workdir or tmp)
        raw, processed = work / "raw", work / "processed"
        etl_seconds = spark_start_seconds = datagen_seconds = None
        edges = None
        if args.processed:
            processed = Path(args.processed)
        else:
            start = time.perf_counter()
            datagen.write(datagen.generate(args.size, args.seed), raw)
            datagen_seconds = time.perf_counter() - start
            start = time.perf_counter()
            spark = local_spark_session(args.spark_master, shuffle_partitions=8)
            spark_start_seconds = time.perf_counter() - start
            start = time.perf_counter()
            report = run(
                spark,
                EtlConfig(
                    transactions=str(raw / "train_transaction.csv"),
                    identity=str(raw / "train_identity.csv"),
                    output=str(processed),
                    shuffle_partitions=8,
                ),
            )
            etl_seconds = time.perf_counter() - start
            edges = int(report["edges"])
            spark.stop()

        data = load_training_data(processed)
        train_args = parse_args(
            [
                "--train",
                str(processed),
                "--n-epochs",
                str(args.epochs),
                "--patience",
                str(args.patience),
                "--seed",
                str(args.seed),
                "--num-threads",
                str(args.threads),
            ]
        )
        start = time.perf_counter()
        model, graph, history = fit(data, train_args, log=lambda line: None)
        train_seconds = time.perf_counter() - start
        probs = offline_scores(model, graph, data)
        start = time.perf_counter()
        baseline = train_baseline(data, train_args)
        baseline_seconds = time.perf_counter() - start
        test = data.mask("test")
        rgcn_auc = float(roc_auc_score(data.labels[test], probs[test]))
        baseline_auc = float(roc_auc_score(data.labels[test], baseline[test]))
        epoch = float(np.median(history["epoch_seconds"]))
        result = {
            "transactions": len(data.transaction_ids),
            "etl_seconds": _round(etl_seconds),
            "spark_start_seconds": _round(spark_start_seconds),
            "datagen_seconds": _round(datagen_seconds),
            "epoch_seconds_per_100k": round(epoch * 100_000 / len(data.transaction_ids), 4),
            "epoch_seconds_median": round(epoch, 4),
            "epochs_run": len(history["loss"]),
            "best_epoch": history["best_epoch"],
            "train_seconds": round(train_seconds, 2),
            "baseline_seconds": round(baseline_seconds, 2),
            "rgcn_test_auc": round(rgcn_auc, 4),
            "baseline_test_auc": round(baseline_auc, 4),
            "auc_gain": round(rgcn_auc - baseline_auc, 4),
            "feature_dim": int(data.features.shape[1]),
            "entities": int(sum(len(k) for k in data.entity_keys.values())),
            "edges": edges
            if edges is not None
            else int(sum(len(t) for t, _ in data.edges.values())),
            "torch_threads": args.threads,
            "targets_met": {
                "auc_gain_ge_0.05": rgcn_auc >= baseline_auc + 0.05,
                "epoch_le_2s_per_100k": epoch * 100_000 / len(data.transaction_ids) <= 2.0,
            },
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
