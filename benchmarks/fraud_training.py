"""Benchmark: generated IEEE-CIS data → Glue ETL (local Spark) → the training job (RGCN and
graph-feature GBDT, selection on validation, calibration, operating threshold) vs a row-only GBDT.

``python benchmarks/fraud_training.py [--size 100000] [--seed 0] [--epochs 60] [--threads 2]
[--processed <ETL output>] [--models rgcn,graph-gbdt] [--threshold-rule max_f1]``

Measures ETL wall time, RGCN epoch time (full-batch, scaled to 100k transactions), both models'
validation and test ROC-AUC, the row-only baseline's, the selected model's test ROC-AUC, the
expected calibration error on the test split before and after calibration, and precision,
recall and F1 on the test split at the threshold the rule chose on validation. Targets:
``selected_test_auc >= max(rgcn_test_auc, graph_gbdt_test_auc) - 0.005``, ``ece_after <= 0.02``,
``f1_at_threshold >= 0.5``, the better graph model ``>= baseline_test_auc + 0.05`` and
``epoch_seconds_per_100k <= 2`` on 2 cores. The last line printed is one JSON object.

``--workers N`` (N > 1) measures multi-worker training instead (``vigil.fraud.distributed``):
the RGCN alone, neighbour-sampled mini-batches of ``--batch-size`` targets per worker, trained
by 1 and by N local processes (DDP, gloo, one torch thread each) for ``--epochs`` epochs without
early stopping; it reports each run's ``epoch_seconds_per_100k`` (median epoch, scaled to 100k
transactions), the speed-up and each run's validation ROC-AUC.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _round(value):
    return None if value is None else round(value, 2)


def _r4(value):
    return None if value is None else round(value, 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=100_000, help="transactions (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--models", default="rgcn,graph-gbdt", help="--model of train.py")
    parser.add_argument("--selection-metric", default="roc_auc")
    parser.add_argument("--threshold-rule", default="max_f1")
    parser.add_argument("--workdir", default=None, help="keep the data here (default: temporary)")
    parser.add_argument(
        "--processed", default=None, help="reuse this ETL output (skips datagen and the ETL)"
    )
    parser.add_argument("--workers", type=int, default=1, help="N > 1: 1 vs N worker RGCN runs")
    parser.add_argument("--batch-size", type=int, default=1024, help="per worker (--workers)")
    args = parser.parse_args(argv)

    import numpy as np

    from glue.fraud_etl import EtlConfig, local_spark_session, run
    from training.fraud.train import INFERENCE_ENTRY
    from vigil.fraud import datagen, training
    from vigil.fraud.dataset import load_training_data

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
        if args.workers > 1:
            print(json.dumps(_scale_out(args, processed, work, len(data.transaction_ids))))
            return 0
        model_dir, output_dir = work / "model", work / "train_output"
        start = time.perf_counter()
        # the training job itself (training/fraud/train.py's main): both models, selection on
        # validation, calibration, threshold rule, the row-only baseline beside them
        code = training.main(
            [
                "--train",
                str(processed),
                "--model-dir",
                str(model_dir),
                "--output-data-dir",
                str(output_dir),
                "--n-epochs",
                str(args.epochs),
                "--patience",
                str(args.patience),
                "--seed",
                str(args.seed),
                "--num-threads",
                str(args.threads),
                "--model",
                args.models,
                "--selection-metric",
                args.selection_metric,
                "--threshold-rule",
                args.threshold_rule,
            ],
            inference_entry=INFERENCE_ENTRY,
        )
        train_seconds = time.perf_counter() - start
        if code:
            raise SystemExit(f"training exited with {code}")
        metrics = json.loads((output_dir / "metrics.json").read_text())
        models = metrics["models"]
        rgcn = models.get("rgcn", {})
        gbdt = models.get("graph-gbdt", {})
        test = metrics["test"]
        baseline_auc = metrics.get("baseline_test", {}).get("roc_auc")
        best_test = max(m["test_roc_auc"] for m in models.values())
        epoch = float(np.median(rgcn["epoch_seconds"])) if rgcn else None
        per_100k = 100_000 / len(data.transaction_ids)
        result = {
            "transactions": len(data.transaction_ids),
            "etl_seconds": _round(etl_seconds),
            "spark_start_seconds": _round(spark_start_seconds),
            "datagen_seconds": _round(datagen_seconds),
            "epoch_seconds_per_100k": round(epoch * per_100k, 4) if epoch else None,
            "epoch_seconds_median": round(epoch, 4) if epoch else None,
            "epochs_run": rgcn.get("epochs_run"),
            "best_epoch": rgcn.get("best_epoch"),
            "graph_gbdt_fit_seconds": gbdt.get("fit_seconds"),
            "graph_gbdt_iterations": gbdt.get("iterations"),
            "train_seconds": round(train_seconds, 2),
            "rgcn_valid_auc": _r4(rgcn.get("valid_roc_auc")),
            "graph_gbdt_valid_auc": _r4(gbdt.get("valid_roc_auc")),
            "rgcn_test_auc": _r4(rgcn.get("test_roc_auc")),
            "graph_gbdt_test_auc": _r4(gbdt.get("test_roc_auc")),
            "rgcn_test_ap": _r4(rgcn.get("test_average_precision")),
            "graph_gbdt_test_ap": _r4(gbdt.get("test_average_precision")),
            "baseline_test_auc": _r4(baseline_auc),
            "selection_metric": metrics["selection_metric"],
            "selected_model": metrics["selected_model"],
            "selected_test_auc": _r4(test["roc_auc"]),
            "ece_before": _r4(test["ece_before"]),
            "ece_after": _r4(test["ece"]),
            "threshold_rule": metrics["threshold_rule"],
            "threshold": _r4(metrics["threshold"]),
            "precision_at_threshold": _r4(test["precision"]),
            "recall_at_threshold": _r4(test["recall"]),
            "f1_at_threshold": _r4(test["f1"]),
            "flagged_share_at_threshold": _r4(
                (test["confusion_matrix"]["tp"] + test["confusion_matrix"]["fp"])
                / max(metrics["test_transactions"], 1)
            ),
            "feature_dim": int(data.features.shape[1]),
            "entities": int(sum(len(k) for k in data.entity_keys.values())),
            "edges": edges
            if edges is not None
            else int(sum(len(t) for t, _ in data.edges.values())),
            "torch_threads": args.threads,
            "targets_met": {
                "selected_auc_ge_best_minus_0.005": test["roc_auc"] >= best_test - 0.005,
                "ece_after_le_0.02": test["ece"] <= 0.02,
                "f1_at_threshold_ge_0.5": test["f1"] >= 0.5,
                "best_graph_model_ge_baseline_plus_0.05": baseline_auc is not None
                and best_test >= baseline_auc + 0.05,
                "epoch_le_2s_per_100k": epoch is not None and epoch * per_100k <= 2.0,
            },
        }
    print(json.dumps(result))
    return 0


def _scale_out(args, processed: Path, work: Path, transactions: int) -> dict:
    """The RGCN trained by 1 and by ``args.workers`` processes on the same mini-batches."""
    import numpy as np

    from training.fraud.train import INFERENCE_ENTRY
    from vigil.fraud import training

    runs = {}
    for workers in (1, args.workers):
        out = work / f"workers-{workers}"
        start = time.perf_counter()
        code = training.main(
            [
                *("--train", str(processed), "--model-dir", str(out / "model")),
                *("--output-data-dir", str(out / "output"), "--model", "rgcn"),
                *("--workers", str(workers), "--batch-size", str(args.batch_size)),
                *("--n-epochs", str(args.epochs), "--patience", str(args.epochs + 1)),
                *("--num-threads", "1", "--seed", str(args.seed), "--baseline-iter", "0"),
            ],
            inference_entry=INFERENCE_ENTRY,
        )
        if code:
            raise SystemExit(f"training with {workers} workers exited with {code}")
        metrics = json.loads((out / "output" / "metrics.json").read_text())
        rgcn = metrics["models"]["rgcn"]
        epoch = float(np.median(rgcn["epoch_seconds"]))
        runs[str(workers)] = {
            "epoch_seconds_per_100k": round(epoch * 100_000 / transactions, 4),
            "epoch_seconds_median": round(epoch, 4),
            "epochs_run": rgcn["epochs_run"],
            "valid_roc_auc": _r4(rgcn["valid_roc_auc"]),
            "test_roc_auc": _r4(rgcn["test_roc_auc"]),
            "train_seconds": round(time.perf_counter() - start, 2),
            "workers": metrics["workers"],
        }
    one, many = runs["1"], runs[str(args.workers)]
    return {
        "transactions": transactions,
        "batch_size_per_worker": args.batch_size,
        "epochs": args.epochs,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "workers": runs,
        "epoch_speedup": round(one["epoch_seconds_median"] / many["epoch_seconds_median"], 3),
        "valid_roc_auc_difference": _r4(many["valid_roc_auc"] - one["valid_roc_auc"]),
    }


if __name__ == "__main__":
    sys.exit(main())
